"""The build report: JSON and a Markdown step summary, written on success and on failure."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import jsonschema
import pytest

from pipelines import build
from pipelines.errors import PipelineError
from pipelines.run import execute
from pipelines.run import graph as run
from pipelines.run.report import JSON_NAME, MARKDOWN_NAME, Report, write_report
from tests.graph.conftest import EXAMPLE_AUDIT
from tests.unit.test_plan import ARM64, plan_for


def filled_report() -> Report:
    native = {p: EXAMPLE_AUDIT for p in (ARM64, plan_for().targets[0].platform)}
    report = Report(plan_for(native=native), output="build/native-service.oci.tar")
    report.durations.update({"bindings:linux/arm64": 61.25, "smoke:linux/arm64": 4.0})
    report.sizes["linux/arm64"] = 81_500_000
    report.record_check("linux/arm64", "smoke", {"ok": True, "packages": []})
    return report


def test_json_has_plan_durations_sizes_and_checks(tmp_path: Path) -> None:
    """report.json carries the plan, per-stage durations, sizes and check results."""
    as_json, _ = write_report(filled_report(), tmp_path)
    data = json.loads(as_json.read_text())
    assert data["ok"] is True and data["output"] == "build/native-service.oci.tar"
    assert data["durations_s"]["bindings:linux/arm64"] == 61.25
    assert data["sizes_bytes"] == {"linux/arm64": 81_500_000}
    assert data["checks"]["linux/arm64"]["smoke"]["ok"] is True
    assert [t["platform"] for t in data["plan"]["targets"]] == ["linux/amd64", "linux/arm64"]


def test_markdown_has_one_row_per_platform(tmp_path: Path) -> None:
    """The Markdown summary has a row per platform: how it ran, verdicts, size, durations."""
    _, as_markdown = write_report(filled_report(), tmp_path)
    rows = [line for line in as_markdown.read_text().splitlines() if line.startswith("| linux")]
    assert len(rows) == 2
    arm = rows[1]
    assert "| cross |" in arm and "sharp (prebuilt)" in arm  # the addon is cross-compiled
    assert "81.5 MB" in arm and "61.2 s" in arm and "4.0 s" in arm


def test_failed_build_still_writes_its_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failing build writes the report with the failure sentence, then exits 1.

    The engine and the execution are test doubles: this checks the reporting boundary.
    """

    @contextlib.asynccontextmanager
    async def no_engine(version: str):
        yield

    async def failing(settings: object, report: Report, environ: object) -> str:
        report.durations["deps:linux/arm64"] = 1.0
        raise PipelineError("bcrypt failed to load", stage="smoke", platform="linux/arm64")

    monkeypatch.setattr(run, "engine", no_engine)
    monkeypatch.setattr(execute, "execute", failing)
    code = build.main(["--audit", "offline", "--report-dir", str(tmp_path)])
    assert code == 1
    data = json.loads((tmp_path / JSON_NAME).read_text())
    assert data["ok"] is False
    assert data["error"] == "stage smoke on linux/arm64 failed: bcrypt failed to load"
    assert "failed: stage smoke" in (tmp_path / MARKDOWN_NAME).read_text()


SCHEMA = Path(__file__).resolve().parents[2] / "pipelines" / "run" / "report.schema.json"
SAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "report" / "sample.md"


def test_json_reports_of_a_good_and_a_failed_run_follow_the_documented_schema(
    tmp_path: Path,
) -> None:
    """report.json of a finished and of a failed build both validate against the schema the
    README documents; a report missing a key does not."""
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))
    good = filled_report()
    failed = filled_report()
    failed.output, failed.error = "", "stage smoke on linux/arm64 failed: sharp failed to load"
    for report in (good, failed):
        as_json, _ = write_report(report, tmp_path / str(id(report)))
        validator.validate(json.loads(as_json.read_text()))
    broken = good.to_json()
    del broken["checks"]
    assert not validator.is_valid(broken)


def test_markdown_matches_the_committed_sample(tmp_path: Path) -> None:
    """The step summary of a known report is exactly tests/fixtures/report/sample.md."""
    _, as_markdown = write_report(filled_report(), tmp_path)
    assert as_markdown.read_text() == SAMPLE.read_text()


def test_system_packages_make_a_foreign_target_cross_not_emulated_in_the_summary(
    tmp_path: Path,
) -> None:
    """With runtime apt packages, arm64's row says `cross` (they are unpacked on the engine),
    and report.json still validates against its schema with the runtime stage's `runs`; on
    Alpine (no musl cross compiler either) they are emulated work again."""
    report = Report(plan_for({"apt_packages": "jq"}), output="x.tar")
    markdown = report.to_markdown()
    assert "| linux/arm64 | cross |" in markdown and "| linux/amd64 | native |" in markdown
    as_json, _ = write_report(report, tmp_path)
    data = json.loads(as_json.read_text())
    assert data["plan"]["targets"][1]["stages"][-1]["runs"] == "cross"
    alpine = Report(plan_for({"apt_packages": "jq", "base_image": "node:22-alpine"}))
    assert "| linux/arm64 | emulated (bindings, system packages) |" in alpine.to_markdown()
