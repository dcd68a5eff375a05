"""The audit as text: a table, the evidence behind each verdict, the summary."""

from __future__ import annotations

import json

from pipelines.audit.model import AuditReport, PackageAudit
from pipelines.audit.summary import recommendation, summarize, summary_json


def report_json(report: AuditReport) -> dict[str, object]:
    """The whole report as JSON-ready data: `packages` (native and script-running ones),
    `targets`, `summary` and `notes`."""
    return {
        "source": report.source, "online": report.online,
        "targets": [{"platform": t.platform, "libc": t.libc} for t in report.targets],
        "packages": [p.to_json() for p in report.packages],
        "summary": summary_json(report), "notes": list(report.notes),
    }


def render_json(report: AuditReport) -> str:
    """The report as indented JSON."""
    return json.dumps(report_json(report), indent=2)


def render_table(report: AuditReport) -> str:
    """The report as a console table followed by evidence and the summary."""
    how = "lockfile, node_modules and the npm registry" if report.online else (
        "lockfile, node_modules and the registry cache (offline)")
    lines = [f"native dependency audit of {report.source} (evidence: {how})", ""]
    platforms = [t.platform for t in report.targets]
    rows = [["PACKAGE", "VERSION", "MECHANISM", "USE", *platforms]]
    rows += [[p.name, p.version, str(p.mechanism), _use(p),
              *(str(p.targets[t].verdict) if t in p.targets else "-" for t in platforms)]
             for p in report.packages]
    if len(rows) == 1:
        lines.append("no package is native or runs an install script")
    else:
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
                  for row in rows]
        lines += ["", "evidence:"]
        for package in report.packages:
            lines += _evidence_lines(package)
    lines += ["", "summary:"]
    lines += [f"  {s.sentence()}" for s in summarize(report)]
    lines += [f"  note: {n}" for n in report.notes]
    lines += ["", recommendation(report)]
    return "\n".join(lines)


def _use(package: PackageAudit) -> str:
    flags = ["dev" if package.dev else "prod"]
    if package.optional:
        flags.append("optional")
    return ",".join(flags)


def _evidence_lines(package: PackageAudit) -> list[str]:
    lines = [f"  {package.path}"]
    lines += [f"      {item}" for item in package.evidence]
    for platform, verdict in package.targets.items():
        lines.append(f"      {platform}: {verdict.verdict}: {verdict.reason}")
    if package.dev:
        lines.append("      dev-only: never reaches the runtime image")
    elif package.optional and package.mechanism.native:
        lines.append("      optional: if it fails to install, the service only degrades")
    return lines
