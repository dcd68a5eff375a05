"""The record of one build: JSON for machines, Markdown for CI step summaries.

Filled in while the build runs (durations, check results, sizes) and written at the end, also
when the build failed, so a CI summary shows how far it got.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelines.plan.describe import describe_plan
from pipelines.plan.model import Plan, Target

JSON_NAME = "node-pipelines-report.json"
MARKDOWN_NAME = "node-pipelines-report.md"
STAGES = ("deps", "rebuild", "scripts", "bindings", "runtime", "smoke", "hygiene", "probe")


@dataclass
class Report:
    """What a build did, per platform; never holds a secret (it is built from the plan)."""

    plan: Plan
    output: str = ""  # the archive path or REPO@sha256:...
    staging: str = ""  # the staging reference, when publishing
    step: str = ""  # the publish gate's step under way (for a cancellation's sentence)
    tags_moved: list[str] = field(default_factory=list)  # by the publish gate
    running: set[str] = field(default_factory=set)  # "stage on platform" under way
    error: str = ""  # the sentence of the failure, if the build failed
    durations: dict[str, float] = field(default_factory=dict)  # "stage:platform" -> seconds
    sizes: dict[str, int] = field(default_factory=dict)  # platform -> compressed bytes
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)  # platform -> kind -> data

    def record_check(self, platform: str, kind: str, data: dict[str, Any]) -> None:
        """Keep one check's result (`describe()` of smoke, hygiene or probe)."""
        self.checks.setdefault(platform, {})[kind] = data

    def to_json(self) -> dict[str, Any]:
        """The report as JSON-safe data: the plan, then what happened."""
        return {
            "ok": not self.error,
            "error": self.error,
            "output": self.output,
            "staging": self.staging,
            "plan": describe_plan(self.plan),
            "durations_s": self.durations,
            "sizes_bytes": self.sizes,
            "checks": self.checks,
        }

    def to_markdown(self) -> str:
        """A short summary table, one row per platform, for a CI step summary."""
        status = f"failed: {self.error}" if self.error else "ok"
        lines = [
            f"### node-pipelines: {self.plan.name} ({status})",
            "",
            f"Output: `{self.output or '-'}`" + (f", staged as `{self.staging}`"
                                                   if self.staging else ""),
            "",
            "| platform | ran | toolchain | native packages | size | "
            + " | ".join(STAGES) + " |",
            "|---" * (5 + len(STAGES)) + "|",
        ]
        for target in self.plan.targets:
            platform = str(target.platform)
            packages = ", ".join(f"{p.name} ({p.verdict})" for p in target.native_packages)
            size = self.sizes.get(platform)
            cells = [
                platform,
                _ran(self.plan, target),
                "yes" if target.toolchain else "no",
                packages or "none",
                f"{size / 1e6:.1f} MB" if size else "-",
                *(_seconds(self.durations.get(f"{stage}:{platform}")) for stage in STAGES),
            ]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
        return "\n".join(lines)


def write_report(report: Report, directory: Path) -> tuple[Path, Path]:
    """Write the JSON and Markdown reports into `directory`; return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    as_json, as_markdown = directory / JSON_NAME, directory / MARKDOWN_NAME
    as_json.write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8")
    as_markdown.write_text(report.to_markdown(), encoding="utf-8")
    return as_json, as_markdown


def _ran(plan: Plan, target: Target) -> str:
    work = plan.emulated_work(target)
    where = f" on {target.engine}" if target.engine else ""  # the default engine goes unsaid
    if work:
        return f"emulated ({', '.join(work)}){where}"
    return ("cross" if target.emulated else "native") + where


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"
