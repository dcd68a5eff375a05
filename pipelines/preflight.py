"""Before any engine work: audit the lockfile for the plan's targets and stop a build that
cannot succeed (a binary missing for a target, native addons on a musl base)."""

from __future__ import annotations

from pipelines.audit import (
    AuditReport,
    Mechanism,
    MissingBinaryError,
    RegistryUnavailableError,
    audit_source,
)
from pipelines.audit import Target as AuditTarget
from pipelines.errors import InputError
from pipelines.logs import get_logger
from pipelines.plan import NativePackage, TargetAudit
from pipelines.platforms import Platform
from pipelines.settings import Settings


class BuildBlockedError(InputError):
    """The audit shows the build cannot produce a working image; nothing was built."""


def audit_for_build(settings: Settings) -> dict[Platform, TargetAudit]:
    """Audit the source for every target, online unless told otherwise; raise when blocked."""
    report = _audit(settings)
    try:
        report.check()
    except MissingBinaryError as error:
        raise BuildBlockedError(
            f"no binary for a production package: {error} "
            "(see `python -m pipelines.audit` for every package)"
        ) from None
    native = report.native()
    if settings.libc == "musl" and any(not p.own for p in native):
        names = ", ".join(sorted({p.name for p in native if not p.own}))
        raise BuildBlockedError(
            f"base image {settings.base} uses musl while native addons are present ({names}): "
            f"use a glibc base such as node:{settings.node_major}-bookworm-slim"
        )
    return {p: _target_audit(report, str(p)) for p in settings.platforms}


def _audit(settings: Settings) -> AuditReport:
    targets = [AuditTarget.parse(str(p), settings.libc) for p in settings.platforms]
    if settings.audit == "offline":
        return audit_source(settings.source, targets, offline=True)
    try:
        return audit_source(settings.source, targets, offline=False)
    except RegistryUnavailableError as error:
        # The lockfile alone still answers most questions; say that the answer is weaker.
        get_logger().warning("audit_offline", reason=str(error))
        return audit_source(settings.source, targets, offline=True)


def _target_audit(report: AuditReport, platform: str) -> TargetAudit:
    packages = tuple(
        NativePackage(p.name, p.version, str(verdict), path=p.path, own=p.own)
        for p, verdict in report.for_target(platform)
    )
    scripts = any(
        p.mechanism is Mechanism.INSTALL_SCRIPT and p.production for p in report.packages
    )
    return TargetAudit(packages, plain_install_scripts=scripts)
