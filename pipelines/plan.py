"""The build graph as data: targets, stages, cache volumes and the output. No Dagger here.

Every entry point builds this plan and hands it to the same stages (a Dagger module will too),
and `--print` shows it without contacting an engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from pipelines.platforms import Platform
from pipelines.project import NodeProject
from pipelines.settings import Settings

Sharing = Literal["shared", "locked", "private"]

# Where the stages keep npm's cache inside build containers.
NPM_CACHE = "/cache/npm"
APP_DIR = "/app"
TOOLCHAIN = ("python3", "make", "g++", "pkg-config")


@dataclass(frozen=True)
class CacheVolume:
    """A named cache volume and where a stage mounts it."""

    name: str
    path: str
    sharing: Sharing = "shared"


@dataclass(frozen=True)
class NativePackage:
    """A production package with native code, and how it gets its binary on one target."""

    name: str
    version: str
    verdict: str  # prebuilt | download | compile | missing
    path: str = ""  # the lockfile key (node_modules/...); empty for the project's own addon
    own: bool = False  # the project's own addon, built by `npm run compile:bindings`


@dataclass(frozen=True)
class TargetAudit:
    """What the audit says about one target: its native packages, and whether any production
    package runs an install script that is not a native build."""

    packages: tuple[NativePackage, ...] = ()
    plain_install_scripts: bool = False

    @property
    def dependencies(self) -> tuple[NativePackage, ...]:
        """Native packages that come from the lockfile (not the project's own addon)."""
        return tuple(p for p in self.packages if not p.own)

    @property
    def needs_install_scripts(self) -> bool:
        """Whether `npm ci` must run scripts: something compiles, downloads or runs a script.

        When every native dependency ships a prebuilt binary for the target, scripts stay
        off: they would only check the binary, and npm's implicit `node-gyp rebuild` for a
        binding.gyp would need a toolchain for nothing.
        """
        return self.plain_install_scripts or any(
            p.verdict != "prebuilt" for p in self.dependencies
        )


@dataclass(frozen=True)
class Target:
    """One platform the image is built for, with everything its stages need."""

    platform: Platform
    libc: str
    emulated: bool
    toolchain: bool
    install_scripts: bool
    caches: tuple[CacheVolume, ...]
    native_packages: tuple[NativePackage, ...] = ()

    @property
    def deps_on_build_platform(self) -> bool:
        """Whether production dependencies install natively on the engine's platform.

        With scripts off, `npm ci` only unpacks tarballs: told the target's os, cpu and libc it
        picks the same platform packages and bundled prebuilds it would pick on the target, so
        that work need not run emulated. Scripts must run on the target itself.
        """
        return not self.install_scripts

    @property
    def install_command(self) -> tuple[str, ...]:
        """The production install of this target's `deps` stage."""
        base = ("npm", "ci", "--omit=dev")
        if self.install_scripts:
            return base
        return (*base, "--ignore-scripts", f"--os={self.platform.os}",
                f"--cpu={self.platform.node_arch}", f"--libc={self.libc}")


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
    base_image: str
    node_major: int
    engine_platform: Platform
    build_caches: tuple[CacheVolume, ...]
    compile_bindings: bool
    bindings_output: str
    entrypoint: tuple[str, ...]
    port: int
    health_path: str
    node_options: str
    targets: tuple[Target, ...]
    output: Output
    warnings: tuple[str, ...] = field(default=())

    def on_engine(self, engine_platform: Platform) -> Plan:
        """The same plan on an engine whose native platform is `engine_platform`."""
        targets = tuple(replace(t, emulated=t.platform != engine_platform) for t in self.targets)
        return replace(self, engine_platform=engine_platform, targets=targets)

    def describe(self) -> dict[str, Any]:
        """The plan as JSON-safe data: what `--print` shows."""
        return {
            "name": self.name,
            "source": str(self.source),
            "base_image": self.base_image,
            "node_major": self.node_major,
            "engine_platform": str(self.engine_platform),
            "build": {
                "platform": None,  # the engine's own platform: runs once, natively
                "stages": [
                    {"name": "deps", "run": ["npm", "ci", "--ignore-scripts"]},
                    {"name": "compile", "run": ["npm", "run", "compile"], "produces": "dist/"},
                ],
                "cache_volumes": [c.name for c in self.build_caches],
            },
            "targets": [_describe_target(self, t) for t in self.targets],
            "output": _describe_output(self.output),
            "warnings": list(self.warnings),
        }


def _describe_target(plan: Plan, target: Target) -> dict[str, Any]:
    platform = str(target.platform)
    stages: list[dict[str, Any]] = [
        {"name": "deps", "platform": None if target.deps_on_build_platform else platform,
         "toolchain": list(TOOLCHAIN) if target.install_scripts else [],
         "run": list(target.install_command)},
    ]
    if plan.compile_bindings:
        stages.append({"name": "bindings", "platform": platform, "toolchain": list(TOOLCHAIN),
                       "run": ["npm", "run", "compile:bindings"]})
    stages.append({"name": "runtime", "platform": platform, "user": "node",
                   "cmd": list(plan.entrypoint)})
    return {
        "platform": str(target.platform),
        "libc": target.libc,
        "emulated": target.emulated,
        "cache_volumes": [c.name for c in target.caches],
        "stages": stages,
        "native_packages": [
            {"name": p.name, "version": p.version, "verdict": p.verdict, "own": p.own}
            for p in target.native_packages
        ],
    }


def _describe_output(output: Output) -> dict[str, Any]:
    if output.kind == "export":
        return {"kind": "export", "path": str(output.path)}
    return {"kind": "publish", "image": output.image, "tags": list(output.tags)}


def shared_caches(namespace: str) -> tuple[CacheVolume, ...]:
    """Caches whose content is the same on every architecture, so every target may share them.

    npm's `_cacache` holds registry tarballs addressed by their integrity hash. A platform
    package (`@img/sharp-linux-arm64`) is a different tarball from its x64 sibling, so sharing
    the store can never hand one arch the other's binary.
    """
    return (CacheVolume(f"{namespace}-npm-cacache", f"{NPM_CACHE}/_cacache"),)


def target_caches(namespace: str, platform: Platform, libc: str, node_major: int) -> tuple[
    CacheVolume, ...
]:
    """Caches that can hold arch-specific content, keyed by os, arch, variant, libc and Node major.

    The rule: anything that may contain a compiled binary or a package list for one platform
    (prebuild downloads, node-gyp's dev dir, apt's lists and archives) is never shared between
    targets. apt's directories are LOCKED because apt refuses concurrent writers.
    """
    key = f"{platform.slug}-{libc}-node{node_major}"
    return (
        *shared_caches(namespace),
        CacheVolume(f"{namespace}-npm-prebuilds-{key}", f"{NPM_CACHE}/_prebuilds"),
        CacheVolume(f"{namespace}-node-gyp-{key}", "/cache/node-gyp"),
        CacheVolume(f"{namespace}-apt-lists-{key}", "/var/lib/apt/lists", "locked"),
        CacheVolume(f"{namespace}-apt-archives-{key}", "/var/cache/apt/archives", "locked"),
    )


def build_plan(
    settings: Settings,
    project: NodeProject,
    *,
    engine_platform: Platform,
    audit: Mapping[Platform, TargetAudit] | None = None,
) -> Plan:
    """Decide the whole build from settings, the project and (optionally) the audit's verdicts."""
    targets = tuple(
        _target(settings, project, p, engine_platform, None if audit is None else audit.get(p))
        for p in settings.platforms
    )
    if settings.publish:
        output = Output("publish", image=settings.image, tags=settings.tags)
    else:
        output = Output("export", path=settings.export_file(project.name))
    return Plan(
        name=project.name,
        source=settings.source,
        base_image=settings.base,
        node_major=settings.node_major,
        engine_platform=engine_platform,
        build_caches=shared_caches(settings.cache_namespace),
        compile_bindings=project.compiles_bindings,
        bindings_output=settings.bindings_output,
        entrypoint=settings.entrypoint,
        port=settings.port,
        health_path=settings.health_path,
        node_options=settings.node_options,
        targets=targets,
        output=output,
        warnings=platform_warnings(settings),
    )


def _target(
    settings: Settings,
    project: NodeProject,
    platform: Platform,
    engine_platform: Platform,
    audit: TargetAudit | None,
) -> Target:
    # Without an audit nothing is known: scripts run and the toolchain stays. With one, the
    # toolchain goes only where something may compile: the project's own addon, or an install
    # that runs scripts (a download falls back to node-gyp, a binding.gyp builds implicitly).
    scripts = audit is None or audit.needs_install_scripts
    return Target(
        platform=platform,
        libc=settings.libc,
        emulated=platform != engine_platform,
        toolchain=project.compiles_bindings or scripts,
        install_scripts=scripts,
        caches=target_caches(
            settings.cache_namespace, platform, settings.libc, settings.node_major
        ),
        native_packages=audit.packages if audit else (),
    )


def platform_warnings(settings: Settings) -> tuple[str, ...]:
    """What an opted-in platform outside linux/amd64 and linux/arm64 costs."""
    return tuple(
        f"{p} is outside linux/amd64 and linux/arm64: every extra platform lengthens CI "
        "(it usually runs emulated) and adds a full image to registry storage"
        for p in settings.unsupported_platforms
    )
