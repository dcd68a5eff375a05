"""The audit's values: targets, mechanisms, verdicts, and the report the build reads."""

from __future__ import annotations

import enum
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pipelines.errors import InputError, NodePipelinesError
from pipelines.platforms import Platform, PlatformError

LIBCS = ("glibc", "musl")


class AuditError(InputError):
    """The source tree, its package.json or its lockfile cannot be audited (exit 2)."""


class MissingBinaryError(NodePipelinesError):
    """A production package has no way to get a binary for a target (exit 1)."""


class Mechanism(enum.StrEnum):
    """How a package gets its native binary, if it has one."""

    NONE = "none"
    PLATFORM_PACKAGES = "platform-packages"  # optional deps carrying os/cpu/libc
    BUNDLED_PREBUILDS = "bundled-prebuilds"  # prebuilds/<platform>-<arch>/ in the tarball
    DOWNLOAD = "download"  # prebuild-install, node-pre-gyp ...: fetched at install time
    COMPILE = "compile"  # node-gyp from source, explicit or implicit (binding.gyp)
    INSTALL_SCRIPT = "install-script"  # runs a script that is not a native build
    NO_WORK = "no-work-script"  # a script known to produce nothing on Linux (audit/no_work.py)
    # A script that generates code from the project (@prisma/client's `prisma generate`):
    # node-pipelines runs the generator itself (pipelines/project/generated.py).
    GENERATE = "generates-code"

    @property
    def native(self) -> bool:
        """True when the package ships or builds machine code."""
        return self not in (Mechanism.NONE, Mechanism.INSTALL_SCRIPT, Mechanism.NO_WORK,
                            Mechanism.GENERATE)


class Verdict(enum.StrEnum):
    """How a native package gets its binary on one target."""

    PREBUILT = "prebuilt"  # a binary for the target ships in the npm registry
    DOWNLOAD = "download"  # fetched at install from elsewhere; coverage unknown
    COMPILE = "compile"  # built from source on the target
    MISSING = "missing"  # no way to get a binary
    # An optional dependency with no binary: npm, pnpm and yarn skip a failed optional
    # dependency and the service runs without it (ssh2 loads cpu-features in a try/catch).
    SKIPPED = "skipped (optional)"

    @property
    def needs_toolchain(self) -> bool:
        """True when installing may run a compiler (download falls back to compiling)."""
        return self in (Verdict.COMPILE, Verdict.DOWNLOAD)


@dataclass(frozen=True, slots=True)
class Target:
    """One platform to build for: `linux/arm64` plus the C library of the runtime image."""

    platform: str
    libc: str = "glibc"

    @classmethod
    def parse(cls, platform: str, libc: str = "glibc") -> Target:
        """Validate `platform` (os/arch[/variant], normalised as the build does) and `libc`;
        raise AuditError with one sentence otherwise."""
        try:
            parsed = Platform.parse(platform)
        except PlatformError as error:
            raise AuditError(str(error)) from None
        if libc not in LIBCS:
            raise AuditError(f"libc {libc!r} is not supported: use glibc or musl")
        return cls(str(parsed), libc)

    @property
    def os(self) -> str:
        """The npm `os` name (always linux for container targets)."""
        return self.platform.split("/")[0]

    @property
    def cpu(self) -> str:
        """The npm `cpu` name: x64 for amd64, arm64 for arm64."""
        return _node_arch(self.platform)

    def __str__(self) -> str:
        return f"{self.platform} ({self.libc})"


@functools.cache
def _node_arch(platform: str) -> str:
    """Parsed once per platform: the audit asks for every lockfile package."""
    return Platform.parse(platform).node_arch


DEFAULT_TARGETS = (Target("linux/amd64"), Target("linux/arm64"))


@dataclass(frozen=True, slots=True)
class TargetVerdict:
    """The verdict for one target, and the one sentence of evidence it rests on."""

    verdict: Verdict
    reason: str


@dataclass(frozen=True, slots=True)
class PackageAudit:
    """What the audit concluded about one lockfile package."""

    name: str
    version: str
    path: str  # the lockfile key, e.g. node_modules/sharp
    dev: bool
    optional: bool
    mechanism: Mechanism
    evidence: tuple[str, ...]
    targets: Mapping[str, TargetVerdict] = field(default_factory=dict)
    own: bool = False  # the project's own addon (a binding.gyp in the source tree, no lockfile key)
    # What a download of executables leaves in the package (globs relative to its directory,
    # e.g. `schema-engine-*`): checked on every target, and nothing to compile.
    executables: tuple[str, ...] = ()
    # False when the project's build policy keeps its plain install script from running.
    runs: bool = True

    @property
    def runs_on_target(self) -> bool:
        """A production plain install script that runs on each target (a native build runs
        by its verdict instead; a script that does nothing, or is not allowed, never runs)."""
        return self.production and self.runs and self.mechanism is Mechanism.INSTALL_SCRIPT

    @property
    def production(self) -> bool:
        """True when the package reaches the runtime image (dev-only ones never do)."""
        return not self.dev

    @property
    def spec(self) -> str:
        """`name@version`: what the summary and the plan count."""
        return f"{self.name}@{self.version}"

    def needs_toolchain(self, platform: str) -> bool:
        """True when installing it on `platform` may run a compiler (never for executables)."""
        return not self.executables and self.targets[platform].verdict.needs_toolchain

    def to_json(self) -> dict[str, object]:
        """The JSON shape documented for `--format json`."""
        return {
            "name": self.name, "version": self.version, "path": self.path, "dev": self.dev,
            "optional": self.optional, "native": self.mechanism.native,
            "mechanism": str(self.mechanism),
            "targets": {p: str(v.verdict) for p, v in self.targets.items()},
            "reasons": {p: v.reason for p, v in self.targets.items()},
            "evidence": list(self.evidence), "own": self.own,
            "executables": list(self.executables), "runs": self.runs,
        }


@dataclass(frozen=True)
class AuditReport:
    """Every native or script-running package, with a verdict per target."""

    source: str
    targets: tuple[Target, ...]
    packages: tuple[PackageAudit, ...]
    online: bool
    notes: tuple[str, ...] = ()
    node_major: int | None = None  # the Node the bundled binaries' ABI was checked against

    def native(self, *, production_only: bool = True) -> list[PackageAudit]:
        """Native packages, production ones only unless told otherwise."""
        return [p for p in self.packages
                if p.mechanism.native and (p.production or not production_only)]

    def for_target(
        self, platform: str, *, include_own: bool = True
    ) -> list[tuple[PackageAudit, Verdict]]:
        """Production native packages on `platform` with their verdicts; `include_own=False`
        leaves out the project's own addons (binding.gyp in the source tree)."""
        self._target(platform)
        return [(p, p.targets[platform].verdict) for p in self.native()
                if include_own or not p.own]

    def needs_toolchain(self, platform: str, *, include_own: bool = True) -> bool:
        """True unless every production native package is prebuilt (or missing) there."""
        return any(p.needs_toolchain(platform)
                   for p, _ in self.for_target(platform, include_own=include_own))

    def missing(self, platform: str) -> list[PackageAudit]:
        """Production native packages with no way to get a binary on `platform`."""
        return [p for p, v in self.for_target(platform) if v is Verdict.MISSING]

    def skipped(self, platform: str) -> list[PackageAudit]:
        """Optional production native packages with no binary on `platform`: a warning."""
        return [p for p, v in self.for_target(platform) if v is Verdict.SKIPPED]

    def check(self, *, fail_on: Sequence[Verdict] = (Verdict.MISSING,)) -> None:
        """Raise MissingBinaryError naming the first production package with a verdict in
        `fail_on` (non-optional ones first: an optional package that fails only degrades)."""
        hits = [(p, t) for t in self.targets for p, v in self.for_target(t.platform)
                if v in fail_on]
        if not hits:
            return
        hits.sort(key=lambda hit: hit[0].optional)
        package, target = hits[0]
        reason = package.targets[target.platform].reason
        more = f" (and {len(hits) - 1} more)" if len(hits) > 1 else ""
        raise MissingBinaryError(
            f"{package.name}@{package.version} on {target}: {reason}{more}")

    def _target(self, platform: str) -> Target:
        for target in self.targets:
            if target.platform == platform:
                return target
        audited = ", ".join(t.platform for t in self.targets)
        raise AuditError(f"platform {platform} was not audited (audited: {audited})")
