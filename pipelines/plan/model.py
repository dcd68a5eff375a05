"""The build graph as data: targets, stages, cache volumes and the output. No Dagger here.

Every entry point builds this plan and hands it to the same stages (the Dagger module too),
and `--print` shows it without contacting an engine.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from pipelines.packagers import Install, Packager
from pipelines.packagers.lockfiles.entry import LockEntry
from pipelines.plan.caches import CacheVolume, build_caches, target_caches
from pipelines.plan.targets import (
    CROSS_TRIPLETS,
    TOOLCHAIN,
    NativePackage,
    Target,
    TargetAudit,
    on_platform,
)
from pipelines.platforms import Platform
from pipelines.project import NodeProject
from pipelines.project.shape import Shape
from pipelines.settings import Settings

__all__ = ["APP_DIR", "CROSS_TRIPLETS", "TOOLCHAIN", "NativePackage", "Output", "Plan", "Probe",
           "Target", "TargetAudit", "build_plan", "on_platform", "platform_warnings"]

APP_DIR = "/app"
@dataclass(frozen=True)
class Output:
    """Where the finished multi-platform image goes."""

    kind: Literal["export", "publish"]
    path: Path | None = None
    image: str = ""
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Probe:
    """What the health probe's run of the service gets and the image never does: environment,
    the names of secrets (values from the CI's environment, as Dagger secrets) and backing
    services, each started from its image and reached by its name."""

    env: Mapping[str, str] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()
    services: tuple[tuple[str, str, Mapping[str, str]], ...] = ()  # (name, image, env)


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
    probe: Probe = field(default_factory=Probe)
    # Dev-only packages of the lockfile as (node_modules path, version, name): none may ship.
    dev_packages: tuple[tuple[str, str, str], ...] = ()
    # The folder `compile:bindings` builds in (relative to the root): all of the source the
    # addon's build sees besides the manifests, so a change elsewhere does not rebuild it.
    # None: it sees the whole source.
    bindings_sources: str | None = None
    # Environment of every build container (never the runtime image): registry settings,
    # COREPACK_INTEGRITY_KEYS where a mirror serves no signatures.
    build_env: Mapping[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = field(default=())
    # org.opencontainers.image.* and the settings' labels: on each image config, as manifest
    # annotations, and on the index (pipelines/plan/labels.py).
    labels: Mapping[str, str] = field(default_factory=dict)
    # The lockfile's production packages (what the installs may put in an image), for the
    # SBOM: each target's own are those whose os/cpu/libc allow it.
    production: tuple[LockEntry, ...] = field(default=(), repr=False)
    # The service's own lockfile entry (the root's, or its workspace package's): its
    # dependencies are the image's direct ones, the top of the SBOM's dependency graph.
    importer: LockEntry | None = field(default=None, repr=False)

    def dev_lockfile(self) -> str:
        """The dev-only packages as an npm-shaped lockfile, the form the hygiene check reads."""
        packages = {path: {"name": name, "version": version, "dev": True}
                    for path, version, name in self.dev_packages}
        return json.dumps({"lockfileVersion": 3, "packages": packages})

    @property
    def generates_per_target(self) -> bool:
        """Whether code is generated on each target (Prisma's client before Prisma 7)."""
        return self.shape.generate is not None and self.shape.generate.per_target

    def emulated_work(self, target: Target) -> tuple[str, ...]:
        """The stages of `target` that run under emulation (the checks aside)."""
        return target.emulated_work(self.compile_bindings, bool(self.shape.apt_packages),
                                    generate=self.generates_per_target)

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

    def on_engine(
        self, engine_platform: Platform, mapped: Mapping[str, Platform] | None = None
    ) -> Plan:
        """The same plan once the engines are known: the default engine runs natively on
        `engine_platform`, each runner host in `mapped` on the platform it reported (a host
        not in `mapped` is taken to be native to the platform it was given for)."""
        mapped = mapped or {}
        targets = tuple(
            on_platform(t, mapped.get(t.engine, t.platform) if t.engine else engine_platform)
            for t in self.targets
        )
        caches = build_caches(self.cache_namespace, self.packager, engine_platform,
                              self.shape.libc, self.node_major)
        return replace(self, engine_platform=engine_platform, targets=targets,
                       build_caches=caches)

    @property
    def engines(self) -> tuple[str, ...]:
        """The runner hosts the targets run on, in plan order; empty for the default engine."""
        return tuple(dict.fromkeys(t.engine for t in self.targets))

    def for_engine(self, engine: str) -> Plan:
        """The part of the plan one engine runs: its targets, and the platform-independent
        build on that engine's own platform (each engine builds the JavaScript half itself,
        natively, so no engine waits for another's output)."""
        targets = tuple(t for t in self.targets if t.engine == engine)
        platform = next((t.engine_platform for t in targets if t.engine_platform),
                        self.engine_platform)
        caches = build_caches(self.cache_namespace, self.packager, platform, self.shape.libc,
                              self.node_major)
        return replace(self, engine_platform=platform, targets=targets, build_caches=caches)



def build_plan(
    settings: Settings,
    project: NodeProject,
    shape: Shape,
    *,
    engine_platform: Platform,
    audit: Mapping[Platform, TargetAudit] | None = None,
    dev_packages: tuple[tuple[str, str, str], ...] = (),
    labels: Mapping[str, str] | None = None,
    production: tuple[LockEntry, ...] = (),
    importer: LockEntry | None = None,
) -> Plan:
    """Decide the whole build from settings, the project, its shape and the audit's verdicts."""
    hosts = settings.engine_hosts
    # A platform with an engine of its own is taken to be native there until that engine says.
    targets = tuple(
        replace(on_platform(_target(settings, project, shape, p, engine_platform,
                                    None if audit is None else audit.get(p)),
                            p if p in hosts else engine_platform),
                engine=hosts.get(p, ""))
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
        bindings_sources=(project.relative(project.bindings_folder)
                          if project.bindings_folder else None),
        port=settings.port,
        node_options=settings.node_options,
        targets=targets,
        output=output,
        cache_namespace=settings.cache_namespace,
        probe=Probe(settings.probe_environment, settings.probe_secrets,
                    tuple(settings.probe_service_specs)),
        dev_packages=dev_packages,
        build_env=settings.build_environment,
        warnings=(*platform_warnings(settings), *shape.warnings, *dict.fromkeys(
            w for a in (audit or {}).values() for w in a.warnings)),
        labels=labels if labels is not None else {"org.opencontainers.image.title": project.name},
        production=production,
        importer=importer,
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
        reasons.append(f"system packages {', '.join(shape.apt_packages)}: ldconfig and their "
                       "maintainer scripts run on the target")
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
