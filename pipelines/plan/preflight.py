"""Before any engine work: audit the lockfile for the plan's targets and stop a build that
cannot succeed (a production package with no binary for a target)."""

from __future__ import annotations

from pipelines.audit import (
    AuditReport,
    RegistryUnavailableError,
    Verdict,
    audit_source,
)
from pipelines.audit import Target as AuditTarget
from pipelines.errors import InputError
from pipelines.logs import get_logger
from pipelines.plan.model import NativePackage, TargetAudit
from pipelines.platforms import Platform, node_base_image
from pipelines.settings import Settings


class BuildBlockedError(InputError):
    """The audit shows the build cannot produce a working image; nothing was built."""


def audit_for_build(
    settings: Settings, libc: str = "glibc", node_major: int = 22
) -> dict[Platform, TargetAudit]:
    """Audit the source for every target, online unless told otherwise; raise when blocked.

    A musl base (Alpine) is fine where every production native package has a musl binary or
    compiles with Alpine's toolchain; the audit's verdicts for the musl targets say which.
    """
    report = _audit(settings, libc, node_major)
    waived = set(settings.allow_missing)
    blockers = []
    for target in report.targets:
        # --strict: an optional package with no binary blocks as a required one does.
        skipped = report.skipped(target.platform) if settings.strict else []
        for package in [*report.missing(target.platform), *skipped]:
            if package.name in waived:
                continue
            reason = package.targets[target.platform].reason
            hint = f"; a glibc base such as {node_base_image(node_major)} may have one" if (
                libc == "musl") else ""
            lift = "drop --strict" if package in skipped else (
                "if the service runs without it there, pass --allow-missing "
                f"{package.name}")
            blockers.append(BuildBlockedError(
                f"no binary for {package.name}@{package.version} on {target}: {reason}{hint} "
                f"({lift})"))
    if blockers:
        raise ExceptionGroup("production packages without a binary", blockers)
    return {p: _target_audit(report, str(p), waived) for p in settings.platforms}


def _audit(settings: Settings, libc: str, node_major: int) -> AuditReport:
    targets = [AuditTarget.parse(str(p), libc) for p in settings.platforms]
    workspace = settings.workspace
    if settings.audit == "offline":
        return audit_source(settings.source, targets, offline=True, workspace=workspace,
                            node_major=node_major)
    try:
        return audit_source(settings.source, targets, offline=False, workspace=workspace,
                            node_major=node_major)
    except RegistryUnavailableError as error:
        # The lockfile alone still answers most questions; say that the answer is weaker.
        get_logger().warning("audit_offline", reason=str(error))
        return audit_source(settings.source, targets, offline=True, workspace=workspace,
                            node_major=node_major)


def _target_audit(report: AuditReport, platform: str, waived: set[str]) -> TargetAudit:
    packages = tuple(
        NativePackage(p.name, p.version,
                      "waived" if verdict is Verdict.MISSING and p.name in waived
                      else str(verdict), path=p.path, own=p.own,
                      executables=tuple(f"{p.path}/{glob}" for glob in p.executables),
                      optional=p.optional)
        for p, verdict in report.for_target(platform)
    )
    # A download of executables fetches for the machine it runs on: it runs on the target too.
    fetching = [p.name for p in packages if p.executables and p.verdict == "download"]
    scripted = tuple(dict.fromkeys([
        *(p.name for p in report.packages if p.runs_on_target),
        *fetching]))
    # The audit's notes (packages it could not classify offline, say) are the plan's too.
    warnings = (*(
        f"{p.name}@{p.version} on {platform}: skipped (optional), no binary "
        f"({p.targets[platform].reason})" for p in report.skipped(platform)), *report.notes)
    return TargetAudit(packages, scripted=scripted, warnings=warnings)
