"""The targets of a plan: one platform each, with its native packages and where its work runs.

No Dagger here (the plan imports this module and re-exports its names).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from pipelines.packagers import TargetSpec
from pipelines.plan.caches import CacheVolume
from pipelines.platforms import Platform

TOOLCHAIN = ("python3", "make", "g++", "pkg-config")
SKIPPED = "skipped (optional)"  # the audit's verdict for an optional package with no binary
# Debian's cross compilers by target architecture: a glibc target on another engine compiles
# natively on the engine with these, instead of under emulation.
CROSS_TRIPLETS = {"amd64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu",
                  "arm": "arm-linux-gnueabihf"}
# Debian's architecture names, for resolving a foreign target's system packages on the engine.
DEBIAN_ARCHES = {"amd64": "amd64", "arm64": "arm64", "arm": "armhf"}


@dataclass(frozen=True)
class NativePackage:
    """A production package with native code, and how it gets its binary on one target."""

    name: str
    version: str
    verdict: str  # prebuilt | download | compile | missing | skipped (optional) | waived
    path: str = ""  # the lockfile key (node_modules/...); empty for the project's own addon
    own: bool = False  # the project's own addon, built by its `compile:bindings` script
    # Files its install script downloads (globs relative to the app: node_modules/@prisma/
    # engines/schema-engine-*): the script runs on the target, the smoke test checks each.
    executables: tuple[str, ...] = ()
    # An optional dependency: npm, pnpm and yarn go on without it when its install script
    # fails, and so does its compile here.
    optional: bool = False

    @property
    def optional_skipped(self) -> bool:
        """An optional package with no binary here: the smoke test loads it if it can and
        says it is absent otherwise."""
        return self.verdict == SKIPPED


@dataclass(frozen=True)
class TargetAudit:
    """What the audit says about one target: its native packages, and the production packages
    whose install script is not a native build (they run too, on the target)."""

    packages: tuple[NativePackage, ...] = ()
    scripted: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()  # optional packages skipped on the target

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
    engine: str = ""  # the runner host of its own engine; empty: the default engine
    engine_platform: Platform | None = None  # that engine's native platform; None: unknown yet
    # Whether a foreign glibc target's system packages are unpacked on the engine; False only
    # to measure the old way (apt under emulation) against it, as the build benchmark does.
    unpack_on_engine: bool = True

    @property
    def engine_name(self) -> str:
        """The engine this target runs on, as the plan and the report name it."""
        return self.engine or "default"

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

    @property
    def packages_cross(self) -> bool:
        """Whether its system packages are resolved, downloaded and unpacked on the engine's
        platform (Debian multiarch, `dpkg-deb`), leaving only ldconfig and the maintainer
        scripts that have to execute to the target. Not for musl (apk: installed on the
        target) nor for an architecture Debian has no name for here."""
        return self.cross and self.platform.arch in DEBIAN_ARCHES and self.unpack_on_engine

    @property
    def debian_arch(self) -> str:
        """Debian's name of the target's architecture (`arm64`, `armhf`)."""
        return DEBIAN_ARCHES.get(self.platform.arch, self.platform.arch)

    def runs_emulated(self, stage: str) -> bool:
        """Whether `stage` of this target runs on its own (foreign) platform under emulation."""
        return self.stage_runs(stage) == "emulated"

    def stage_runs(self, stage: str) -> str:
        """How `stage` of this target runs: `native`, `cross` (on the engine's platform for
        the target) or `emulated`. The runtime stage is cross when its system packages are
        unpacked on the engine (ldconfig and maintainer scripts still run on the target)."""
        if not self.emulated:
            return "native"
        if stage in ("rebuild", "bindings"):
            return "cross" if self.cross else "emulated"
        if stage == "runtime" and self.packages_cross:
            return "cross"
        if stage in ("scripts", "generate", "runtime", "smoke", "probe", "hygiene"):
            return "emulated"
        return "cross"

    def emulated_work(self, compile_bindings: bool, apt: bool,
                      generate: bool = False) -> tuple[str, ...]:
        """The stages of this target that run under emulation (the checks aside); `generate`:
        code is generated on each target (Prisma's client before Prisma 7)."""
        if not self.emulated:
            return ()
        work = []
        if self.compiled and not self.cross:
            work.append("rebuild")
        if self.scripted:
            work.append("scripts")
        if generate:
            work.append("generate")
        if compile_bindings and not self.cross:
            work.append("bindings")
        if apt and not self.packages_cross:
            work.append("system packages")
        return tuple(work)

    @property
    def spec(self) -> TargetSpec:
        """The target as package managers name it."""
        return TargetSpec(self.platform.os, self.platform.node_arch, self.libc)


def on_platform(target: Target, engine_platform: Platform) -> Target:
    """`target` on an engine native to `engine_platform`: emulated when that is not its own."""
    return replace(target, engine_platform=engine_platform,
                   emulated=target.platform != engine_platform)
