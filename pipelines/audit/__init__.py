"""Native-dependency audit: which production packages are native, and how each target gets them.

Call `audit_source` (sync; offline by default) or `audit_source_async` (online by default) and
read the `AuditReport`: `for_target(platform)`, `needs_toolchain(platform)`,
`missing(platform)` and `check()`, which raises MissingBinaryError with the sentence to show.

May import `project/`, `packagers/` (lockfiles are read there), `settings` (its command
line) and the floor; never `plan/`, `stages/`, `run/` or Dagger.
"""

from __future__ import annotations

from pipelines.audit.audit import audit_source, audit_source_async
from pipelines.audit.model import (
    DEFAULT_TARGETS,
    AuditError,
    AuditReport,
    Mechanism,
    MissingBinaryError,
    PackageAudit,
    Target,
    TargetVerdict,
    Verdict,
)
from pipelines.audit.registry import RegistryUnavailableError
from pipelines.audit.registry_config import RegistryConfig
from pipelines.audit.render import render_json, render_table, report_json
from pipelines.audit.summary import recommendation, summarize

__all__ = [
    "DEFAULT_TARGETS",
    "AuditError",
    "AuditReport",
    "Mechanism",
    "MissingBinaryError",
    "PackageAudit",
    "RegistryConfig",
    "RegistryUnavailableError",
    "Target",
    "TargetVerdict",
    "Verdict",
    "audit_source",
    "audit_source_async",
    "recommendation",
    "render_json",
    "render_table",
    "report_json",
    "summarize",
]
