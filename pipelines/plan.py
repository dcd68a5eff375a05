"""The build graph as data: targets, stages, cache volumes and the output. No Dagger here.

Every entry point builds this plan and hands it to the same stages (the Dagger module too),
and `--print` shows it without contacting an engine.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from pipelines.caches import CacheVolume, build_caches, target_caches
from pipelines.packagers import Install, Packager, TargetSpec
from pipelines.platforms import Platform
from pipelines.project import NodeProject
from pipelines.project.shape import Shape
from pipelines.settings import Settings

APP_DIR = "/app"
TOOLCHAIN = ("python3", "make", "g++", "pkg-config")
# Debian's cross compilers by target architecture: a glibc target on another engine compiles
# natively on the engine with these, instead of under emulation.
CROSS_TRIPLETS = {"amd64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu",
                  "arm": "arm-linux-gnueabihf"}


@dataclass(frozen=True)
class NativePackage:
    """A production package with native code, and how it gets its binary on one target."""

    name: str
    version: str
    verdict: str  # prebuilt | download | compile | missing
    path: str = ""  # the lockfile key (node_modules/...); empty for the project's own addon
    own: bool = False  # the project's own addon, built by its `compile:bindings` script
    # Files its install script downloads (globs relative to the app: node_modules/@prisma/
    # engines/schema-engine-*): the script runs on the target, the smoke test checks each.
    executables: tuple[str, ...] = ()


@dataclass(frozen=True)
class TargetAudit:
    """What the audit says about one target: its native packages, and the production packages
    whose install script is not a native build (they run too, on the target)."""

    packages: tuple[NativePackage, ...] = ()
    scripted: tuple[str, ...] = ()

    @property
    def dependencies(self) -> tuple[NativePackage, ...]:
        """Native packages that come from the lockfile (not the project's own addon)."""
        return tuple(p for p in self.packages if not p.own)

    @property
    def compiled(self) -> tuple[str, ...]:
        """Packages that compile or download an addon for the target: cross-built by name.

        A download of executables is not among them: it fetches for the machine it runs on, so
        it runs on the target (in `scripted`).
        """
        names = [p.name for p in self.dependencies
                 if p.verdict in ("compile", "download") and not p.executables]
        return tuple(dict.fromkeys(names))

    @property
    def rebuild(self) -> tuple[str, ...]:
        """Packages whose install scripts must run for the target, by name, once each.

        A prebuilt binary needs no script; a compile or a download does, and so does a plain
        install script the audit cannot see through.
        """
        return tuple(dict.fromkeys([*self.compiled, *self.scripted]))

    @property
    def compiles(self) -> bool:
        """Whether a rebuild may compile (a download of an addon falls back to node-gyp)."""
        return bool(self.compiled)


@dataclass(frozen=True)
class Target:
    """One platform the image is built for, with everything its stages need."""

    platform: Platform
    libc: str
    emulated: bool
    toolchain: bool
    compiled: tuple[str, ...]  # compile or download: built on the engine when cross-buildable
    scripted: tuple[str, ...]  # plain install scripts: run on the target itself
    caches: tuple[CacheVolume, ...]
    native_packages: tuple[NativePackage, ...] = ()
    reasons: tuple[str, ...] = ()  # why this target needs a toolchain or work on the target

    @property
    def rebuild(self) -> tuple[str, ...]:
        """Every package whose install script runs for this target."""
        return (*self.compiled, *self.scripted)

    @property
    def cross(self) -> bool:
        """Whether compiles for this target run on the engine with a cross compiler.

        Debian ships cross compilers for glibc targets; musl (Alpine) targets build on the
        target itself. A target of the engine's own platform is no cross build.
        """
        return self.emulated and self.libc == "glibc" and self.platform.arch in CROSS_TRIPLETS

    @property
    def triplet(self) -> str:
        """The GNU triplet of the target's cross compiler (`aarch64-linux-gnu`)."""
        return CROSS_TRIPLETS.get(self.platform.arch, "")

    @property
    def compiles_on_engine(self) -> bool:
        """Whether the target's compiles run on the engine's platform (natively or cross)."""
        return not self.emulated or self.cross

    def runs_emulated(self, stage: str) -> bool:
        """Whether `stage` of this target runs on its own (foreign) platform under emulation."""
        if not self.emulated:
            return False
        if stage in ("rebuild", "bindings"):
            return not self.cross
        return stage in ("scripts", "runtime", "smoke", "probe", "hygiene")

    def emulated_work(self, compile_bindings: bool, apt: bool) -> tuple[str, ...]:
        """The stages of this target that run under emulation (the checks aside)."""
        if not self.emulated:
            return ()
        work = []
        if self.compiled and not self.cross:
            work.append("rebuild")
        if self.scripted:
            work.append("scripts")
        if compile_bindings and not self.cross:
            work.append("bindings")
        if apt:
            work.append("system packages")
        return tuple(work)

    @property
    def spec(self) -> TargetSpec:
        """The target as package managers name it."""
        return TargetSpec(self.platform.os, self.platform.node_arch, self.libc)


@dataclass(frozen=True)
class Output:
    """Where the finished multi-platform image goes."""

    kind: Literal["export", "publish"]
    path: Path | None = None
    image: str = ""
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plan:
    """Everything the stages and the executor need, decided before any engine work."""

    name: str
    source: Path
    packager: Packager
    shape: Shape
    engine_platform: Platform
    build_caches: tuple[CacheVolume, ...]
    compile_bindings: bool
    bindings_output: str
    port: int
    node_options: str
    targets: tuple[Target, ...]
    output: Output
    cache_namespace: str = "nodepipe"
    # Dev-only packages of the lockfile as (node_modules path, version): none may ship.
    dev_packages: tuple[tuple[str, str], ...] = ()
    # Environment of every build container (never the runtime image): registry settings,
    # COREPACK_INTEGRITY_KEYS where a mirror serves no signatures.
    build_env: Mapping[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = field(default=())

    def dev_lockfile(self) -> str:
        """The dev-only packages as an npm-shaped lockfile, the form the hygiene check reads."""
        packages = {path: {"version": version, "dev": True} for path, version in self.dev_packages}
        return json.dumps({"lockfileVersion": 3, "packages": packages})

    @property
    def workdir(self) -> str:
        """The service's folder in the containers: the app dir, or its workspace package."""
        return f"{APP_DIR}/{self.shape.workdir}" if self.shape.workdir else APP_DIR

    @property
    def base_image(self) -> str:
        """The base of every build and runtime container."""
        return self.shape.base_image

    @property
    def node_major(self) -> int:
        """The Node.js major the image runs."""
        return self.shape.node_major

    @property
    def install_all(self) -> Install:
        """The build stage's install: every dependency, scripts off."""
        return self.packager.install_all()

    def install_production(self, target: Target) -> Install:
        """A target's production install, natively on the engine, told the target platform."""
        return self.packager.install_production(target.spec)

    def on_engine(self, engine_platform: Platform) -> Plan:
        """The same plan on an engine whose native platform is `engine_platform`."""
        targets = tuple(replace(t, emulated=t.platform != engine_platform) for t in self.targets)
        caches = build_caches(self.cache_namespace, self.packager, engine_platform,
                              self.shape.libc, self.node_major)
        return replace(self, engine_platform=engine_platform, targets=targets,
                       build_caches=caches)

    def describe(self) -> dict[str, Any]:
        """The plan as JSON-safe data: what `--print` shows."""
        from pipelines.describe import describe_plan  # noqa: PLC0415 - describe imports plan

        return describe_plan(self)


def build_plan(
    settings: Settings,
    project: NodeProject,
    shape: Shape,
    *,
    engine_platform: Platform,
    audit: Mapping[Platform, TargetAudit] | None = None,
    dev_packages: tuple[tuple[str, str], ...] = (),
) -> Plan:
    """Decide the whole build from settings, the project, its shape and the audit's verdicts."""
    targets = tuple(
        _target(settings, project, shape, p, engine_platform,
                None if audit is None else audit.get(p))
        for p in settings.platforms
    )
    if settings.publish:
        output = Output("publish", image=settings.image, tags=settings.tags)
    else:
        output = Output("export", path=settings.export_file(project.name))
    return Plan(
        name=project.name,
        source=settings.source,
        packager=project.packager,
        shape=shape,
        engine_platform=engine_platform,
        build_caches=build_caches(settings.cache_namespace, project.packager, engine_platform,
                                  shape.libc, shape.node_major),
        compile_bindings=project.compiles_bindings,
        bindings_output=project.relative(settings.bindings_output.strip("/")),
        port=settings.port,
        node_options=settings.node_options,
        targets=targets,
        output=output,
        cache_namespace=settings.cache_namespace,
        dev_packages=dev_packages,
        build_env=settings.build_environment,
        warnings=(*platform_warnings(settings), *shape.warnings),
    )


def _target(  # noqa: PLR0917 - the plan values one target is made of, explicitly
    settings: Settings,
    project: NodeProject,
    shape: Shape,
    platform: Platform,
    engine_platform: Platform,
    audit: TargetAudit | None,
) -> Target:
    # Without an audit nothing is known: every production package's scripts are unknown, so
    # none is rebuilt and the toolchain stays for the project's own addon only.
    audit = audit or TargetAudit()
    reasons = [f"{p.name}: {p.verdict} on this target" for p in audit.dependencies
               if p.verdict in ("compile", "download") and not p.executables]
    fetching = {p.name: p.executables for p in audit.dependencies
                if p.executables and p.verdict == "download"}
    reasons += [f"{name}: its install script downloads "
                f"{', '.join(g.rpartition('/')[2] for g in globs)} on the target"
                for name, globs in fetching.items()]
    reasons += [f"{name}: install script runs on the target" for name in audit.scripted
                if name not in fetching]
    if shape.apt_packages:
        reasons.append(f"system packages {', '.join(shape.apt_packages)}: installed on the "
                       "target")
    if project.compiles_bindings:
        reasons.append(f"{project.name}: own addon (compile:bindings)")
    return Target(
        platform=platform,
        libc=shape.libc,
        emulated=platform != engine_platform,
        toolchain=project.compiles_bindings or audit.compiles,
        compiled=audit.compiled,
        scripted=audit.scripted,
        caches=target_caches(settings.cache_namespace, project.packager, platform, shape.libc,
                             shape.node_major),
        native_packages=audit.packages,
        reasons=tuple(reasons),
    )


def platform_warnings(settings: Settings) -> tuple[str, ...]:
    """What an opted-in platform outside linux/amd64 and linux/arm64 costs."""
    return tuple(
        f"{p} is outside linux/amd64 and linux/arm64: every extra platform lengthens CI "
        "(it usually runs emulated) and adds a full image to registry storage"
        for p in settings.unsupported_platforms
    )
