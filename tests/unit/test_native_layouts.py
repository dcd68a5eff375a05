"""Native layouts beyond platform packages and prebuildify, from the lockfile alone: a download
of executables (@prisma/engines) through audit, preflight, plan and --print; the Node ABI of
bundled binaries; counts that agree between the audit's summary, its table and the plan."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from pipelines.audit import (
    AuditReport,
    Mechanism,
    RegistryConfig,
    Target,
    Verdict,
    audit_source,
    recommendation,
    render_table,
    report_json,
)
from pipelines.audit.coverage import prebuild_verdicts
from pipelines.audit.detect import Facts, classify, executables
from pipelines.packagers.lockfiles.entry import LockEntry
from pipelines.plan.describe import describe_plan
from pipelines.plan.preflight import audit_for_build
from pipelines.plan.prepare import prepare
from pipelines.platforms import Platform
from pipelines.settings import Settings, load_settings
from tests.unit.audit.conftest import LOCKFILES
from tests.unit.audit.test_prebuilds import IAST_164

AMD64, ARM64 = Platform.parse("linux/amd64"), Platform.parse("linux/arm64")
TARGETS = (Target("linux/amd64"), Target("linux/arm64"))
PRISMA = "node_modules/@prisma/engines"


def offline(case: str, cache: Path) -> AuditReport:
    """Audit a committed fixture offline, with an empty registry cache."""
    config = RegistryConfig(url="https://registry.invalid/", cache_dir=cache / "npm-meta")
    return audit_source(LOCKFILES / case, TARGETS, offline=True, registry=config)


def entry(version: str) -> LockEntry:
    """An @prisma/engines lockfile entry at `version`."""
    return LockEntry(path=PRISMA, name="@prisma/engines", version=version, dev=False,
                     optional=False, has_install_script=True, os=(), cpu=(), libc=(),
                     dependencies={}, optional_dependencies={}, resolved=None, local=False)


def test_prisma_engines_is_a_download_of_executables(tmp_path: Path) -> None:
    """@prisma/engines 6: mechanism download, with the two files its postinstall writes;
    nothing compiles, so no toolchain, and the advice says what happens on the target."""
    report = offline("executable-download", tmp_path)
    (engines,) = report.native()
    assert (engines.name, engines.mechanism) == ("@prisma/engines", Mechanism.DOWNLOAD)
    assert engines.executables == ("schema-engine-*", "libquery_engine-*.so.node")
    assert {v.verdict for v in engines.targets.values()} == {Verdict.DOWNLOAD}
    assert "the smoke test checks each file is there and built for arm64" in (
        engines.targets["linux/arm64"].reason)
    assert not report.needs_toolchain("linux/arm64")
    assert "@prisma/engines@6.19.3 downloads executables on the target" in recommendation(
        report)
    listed = next(p for p in report_json(report)["packages"]  # type: ignore[attr-defined]
                  if p["name"] == "@prisma/engines")
    assert listed["executables"] == ["schema-engine-*", "libquery_engine-*.so.node"]
    # prisma's preinstall stays a plain install script; @prisma/client's generates code.
    others = {p.name: p.mechanism for p in report.packages if p is not engines}
    assert others == {"prisma": Mechanism.INSTALL_SCRIPT,
                      "@prisma/client": Mechanism.GENERATE}


def test_executables_run_on_the_target_and_show_in_the_plan() -> None:
    """The preflight puts the download among the scripts run on the target (never the
    cross-built compiles), with the globs the smoke test checks; --print says why."""
    audits = audit_for_build(Settings(source=LOCKFILES / "executable-download",
                                      audit="offline"))
    arm = audits[ARM64]
    (engines,) = [p for p in arm.dependencies if p.name == "@prisma/engines"]
    assert engines.executables == (f"{PRISMA}/schema-engine-*",
                                   f"{PRISMA}/libquery_engine-*.so.node")
    assert arm.compiled == () and not arm.compiles
    assert "@prisma/engines" in arm.scripted
    # The example's own addon brings a toolchain; the download adds none and no compile.
    plan = prepare(load_settings({}, {}), AMD64, audit=audits)
    target = plan.targets[1]
    assert target.scripted == arm.scripted and target.compiled == ()
    assert "@prisma/engines: download on this target" not in target.reasons
    assert ("@prisma/engines: its install script downloads schema-engine-*, "
            "libquery_engine-*.so.node on the target") in target.reasons
    assert "@prisma/engines: install script runs on the target" not in target.reasons
    printed = json.loads(json.dumps(describe_plan(plan)))
    listed = next(p for p in printed["targets"][1]["native_packages"]
                  if p["name"] == "@prisma/engines")
    assert listed["executables"] == list(engines.executables)


def test_prisma_7_downloads_only_the_schema_engine() -> None:
    """From Prisma 7 the query engine is no download: only schema-engine-* is expected; before
    Prisma 5 the schema engine was the migration engine."""
    assert executables(entry("7.10.1")) == ("schema-engine-*",)
    assert executables(entry("4.16.2")) == ("migration-engine-*", "libquery_engine-*.so.node")


def test_wrong_node_abi_is_missing_or_compiled_with_the_reason() -> None:
    """Binaries for ABI 72-120 are none for Node 22 (127): missing without a build script,
    compile with one; for Node 20 the ABI 115 binary is prebuilt."""
    facts = Facts(install_scripts="exit 0", files=tuple(IAST_164), files_from="registry tarball")
    (missing,) = prebuild_verdicts(facts, TARGETS[:1], fallback=False, node_major=22).values()
    assert missing.verdict is Verdict.MISSING
    assert missing.reason == (
        "registry tarball: 10 binaries for the platform, for Node ABI 72 (Node 12) to ABI 120 "
        "(Node 21) only (e.g. prebuilds/linux-x64/node-120.node), none for ABI 127 (Node 22), the "
        "target's Node; no install script compiles one")
    (compiled,) = prebuild_verdicts(facts, TARGETS[:1], fallback=True, node_major=22).values()
    assert compiled.verdict is Verdict.COMPILE
    (node20,) = prebuild_verdicts(facts, TARGETS[:1], fallback=False, node_major=20).values()
    assert (node20.verdict, node20.reason) == (
        Verdict.PREBUILT, "registry tarball: prebuilds/linux-x64/node-115.node")


def test_counts_agree_between_summary_table_and_plan(tmp_path: Path) -> None:
    """esbuild at two versions (0.25 and vite's 0.21) and rollup: three packages, two names,
    counted three times everywhere."""
    report = offline("two-versions", tmp_path)
    table = render_table(report)
    rows = [line for line in table.splitlines() if line.startswith(("esbuild ", "rollup "))]
    assert len(rows) == 3
    arm = report_json(report)["summary"]["targets"]["linux/arm64"]  # type: ignore[index]
    assert arm["count"] == 3
    assert set(arm["packages"]) == {"esbuild@0.25.12", "esbuild@0.21.5", "rollup@4.68.8"}
    assert "linux/arm64 (glibc): 3 production native packages (2 names; 3 prebuilt)" in table
    audits = audit_for_build(Settings(source=LOCKFILES / "two-versions", audit="offline"))
    assert [len(a.dependencies) for a in audits.values()] == [3, 3]


def test_another_packages_platform_package_is_no_platform_set(tmp_path: Path) -> None:
    """trpc-to-openapi 2.1.5 lists @rollup/rollup-linux-x64-gnu as its only optional
    dependency (documenso ships it): that makes it neither native nor missing on arm64."""
    report = offline("foreign-optional", tmp_path)
    named = {p.name for p in report.packages}
    assert "trpc-to-openapi" not in named and "@rollup/rollup-linux-x64-gnu" not in named
    assert "typescript" in named  # typescript 7's own platform packages still count


def test_an_install_script_that_does_nothing_leaves_the_files_to_decide() -> None:
    """`install: exit 0` (@datadog/pprof 3.2, native-metrics 3.1) only stops npm's implicit
    node-gyp build: with prebuilds it is bundled, without them nothing, never a compile."""
    pprof = dataclasses.replace(entry("3.2.0"), name="@datadog/pprof",
                                path="node_modules/@datadog/pprof",
                                dependencies={"node-gyp-build": "<4.0"})
    facts = Facts(install_scripts="exit 0", scripts_from="registry",
                  files=("binding.gyp", *IAST_164), files_from="registry tarball")
    assert classify(pprof, facts)[0] is Mechanism.BUNDLED_PREBUILDS
    bare = dataclasses.replace(facts, files=("binding.gyp", "index.js"))
    assert classify(pprof, bare)[0] is Mechanism.NONE


def test_vscode_ripgrep_is_a_download_of_rg_run_on_each_target(tmp_path: Path) -> None:
    """@vscode/ripgrep's postinstall fetches bin/rg for the machine it runs on: a download of
    executables, no toolchain, run on each target, and bin/rg checked there by the smoke test."""
    report = offline("ripgrep-download", tmp_path)
    (rg,) = report.native()
    assert (rg.name, rg.mechanism, rg.executables) == ("@vscode/ripgrep", Mechanism.DOWNLOAD,
                                                       ("bin/rg",))
    assert not report.needs_toolchain("linux/arm64")
    settings = Settings(source=LOCKFILES / "ripgrep-download", audit="offline")
    audits = audit_for_build(settings)
    (package,) = audits[ARM64].dependencies
    assert package.executables == ("node_modules/@vscode/ripgrep/bin/rg",)
    assert audits[ARM64].scripted == ("@vscode/ripgrep",) and audits[ARM64].compiled == ()
