"""Preflight: the audit decides what runs on each target, and stops doomed builds."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from pipelines.plan.describe import describe_plan
from pipelines.plan.emulation import report_emulation
from pipelines.plan.preflight import BuildBlockedError, audit_for_build
from pipelines.plan.prepare import prepare
from pipelines.platforms import Platform
from pipelines.settings import Settings
from tests.conftest import EXAMPLE, REPO

LOCKFILES = REPO / "tests" / "fixtures" / "lockfiles"
ARM64 = Platform.parse("linux/arm64")


def settings(case: str, **values: object) -> Settings:
    return Settings(source=LOCKFILES / case, audit="offline", **values)


def blockers(group: pytest.ExceptionInfo[ExceptionGroup]) -> list[str]:
    """The sentences of every blocker, each one a BuildBlockedError with exit code 2."""
    assert all(isinstance(e, BuildBlockedError) and e.exit_code == 2
               for e in group.value.exceptions)
    return [str(e) for e in group.value.exceptions]


def test_missing_platform_packages_block_the_build_all_named_at_once() -> None:
    """A lockfile without the arm64 platform packages stops the build, naming every package
    without a binary (not only the first), each with the fix and the waiver."""
    with pytest.raises(ExceptionGroup) as caught:
        audit_for_build(settings("missing-arm64"))
    sentences = blockers(caught)
    assert len(sentences) == 3
    assert all("linux/arm64" in s and "npm install" in s for s in sentences)
    named = {re.match(r"no binary for (@?[^@]+)@", s).group(1) for s in sentences}  # type: ignore[union-attr]
    assert named == {"esbuild", "@node-rs/argon2", "sharp"}
    assert "--allow-missing sharp" in " ".join(sentences)


def test_allow_missing_waives_exactly_the_named_packages() -> None:
    """Waived packages show as `waived` on the target; the others still block."""
    with pytest.raises(ExceptionGroup) as caught:
        audit_for_build(settings("missing-arm64", allow_missing=("sharp",)))
    assert len(blockers(caught)) == 2
    every = settings("missing-arm64", allow_missing=("sharp", "esbuild", "@node-rs/argon2"))
    audits = audit_for_build(every)
    arm = {p.name: p.verdict for p in audits[ARM64].dependencies}
    assert arm["sharp"] == "waived" and "missing" not in arm.values()
    amd = {p.name: p.verdict for p in audits[Platform.parse("linux/amd64")].dependencies}
    assert "waived" not in amd.values(), "only a target without a binary is waived"


def test_musl_base_is_refused_only_where_a_binary_is_missing() -> None:
    """On musl, a platform package with no musl build for a target blocks, naming glibc."""
    with pytest.raises(ExceptionGroup) as caught:
        audit_for_build(settings("missing-arm64"), "musl")
    assert all("glibc base such as node:22-bookworm-slim" in s for s in blockers(caught))


def test_musl_base_with_compiled_addons_is_accepted() -> None:
    """Packages that compile from source build on Alpine too: musl is no blocker for them."""
    audit = audit_for_build(settings("compile", base_image="node:22-alpine"), "musl")[ARM64]
    assert {p.verdict for p in audit.dependencies} == {"compile"}
    assert audit.compiles


def test_musl_base_without_native_addons_is_fine() -> None:
    """A pure-JS service may use alpine."""
    audits = audit_for_build(settings("pure-js", base_image="node:22-alpine"), "musl")
    assert all(not a.packages and not a.rebuild for a in audits.values())


def test_plain_install_scripts_are_rebuilt_by_name() -> None:
    """Plain production install scripts run on the target, for exactly those packages; scripts
    that only print (core-js, es5-ext) run nowhere, nor does @prisma/client's, whose
    `prisma generate` the build runs itself."""
    assert set(audit_for_build(settings("executable-download"))[ARM64].scripted) == {
        "prisma", "@prisma/engines"}
    assert audit_for_build(settings("scripts"))[ARM64].rebuild == ()


def test_a_plain_script_the_policy_forbids_does_not_run(tmp_path: Path) -> None:
    """ignore-scripts=true in .npmrc: @prisma/client's postinstall runs nowhere, and its
    evidence says which setting decided."""
    source = Path(shutil.copytree(LOCKFILES / "executable-download", tmp_path / "case"))
    (source / ".npmrc").write_text("ignore-scripts=true\n")
    with pytest.raises(ExceptionGroup) as caught:  # the engines' download is kept off too
        audit_for_build(Settings(source=source, audit="offline"))
    assert all("(npm: ignore-scripts=true in .npmrc)" in s for s in blockers(caught))
    waived = Settings(source=source, audit="offline", allow_missing=("@prisma/engines",))
    assert audit_for_build(waived)[ARM64].scripted == ()


def test_compile_verdicts_rebuild_with_a_toolchain() -> None:
    """A package compiled from source is rebuilt on the target, with the toolchain."""
    audit = audit_for_build(settings("compile"))[ARM64]
    assert {p.verdict for p in audit.dependencies} == {"compile"}
    assert set(audit.rebuild) == {p.name for p in audit.dependencies}
    assert audit.compiles


@pytest.mark.npm_registry
def test_example_is_all_prebuilt_online() -> None:
    """Online, every dependency of the example is prebuilt for both targets; only its own
    addon compiles, so no dependency's script runs."""
    audits = audit_for_build(Settings(source=EXAMPLE, audit="online"))
    for audit in audits.values():
        assert {p.name: p.verdict for p in audit.dependencies} == {
            "bcrypt": "prebuilt", "better-sqlite3": "prebuilt", "sharp": "prebuilt"}
        assert [p.own for p in audit.packages if p.verdict == "compile"] == [True]
        assert not audit.rebuild


OPTIONAL_CASE = "pnpm10-optional-native"  # ssh2's optional cpu-features, not allowed to build


@pytest.fixture
def empty_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty registry cache, so the offline audit knows what the lockfile says only."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.mark.usefixtures("empty_cache")
def test_an_optional_native_package_without_a_binary_is_a_warning_not_a_blocker() -> None:
    """cpu-features (optional for ssh2) cannot build: `skipped (optional)` on each target, a
    warning in the plan, never a blocker."""
    audits = audit_for_build(settings(OPTIONAL_CASE))
    for audit in audits.values():
        (package,) = audit.dependencies
        assert (package.name, package.verdict) == ("cpu-features", "skipped (optional)")
        assert package.optional_skipped and not audit.compiled
        warning, note = audit.warnings  # the skip, and the audit's note on unknown scripts
        assert warning.startswith("cpu-features@0.0.10 on linux/")
        assert "could not be classified" in note
        assert "skipped (optional)" in warning


@pytest.mark.usefixtures("empty_cache")
def test_strict_blocks_on_an_optional_package_without_a_binary() -> None:
    """--strict turns each skipped optional package into a blocker, saying how to lift it."""
    with pytest.raises(ExceptionGroup) as caught:
        audit_for_build(settings(OPTIONAL_CASE, strict=True))
    sentences = blockers(caught)
    assert len(sentences) == 2
    assert all(s.startswith("no binary for cpu-features@0.0.10 on linux/") and
               s.endswith("(drop --strict)") for s in sentences)


@pytest.mark.usefixtures("empty_cache")
def test_the_plan_warns_of_each_skipped_optional_package() -> None:
    """The plan's warnings (--print, plan_warning lines, the report) name each skipped one."""
    plan = prepare(settings(OPTIONAL_CASE, start_command=("node", "-e", "1")),
                   Platform.parse("linux/amd64"))
    skipped = [w for w in plan.warnings if "skipped (optional)" in w]
    assert [w.split(":")[0] for w in skipped] == [
        "cpu-features@0.0.10 on linux/amd64", "cpu-features@0.0.10 on linux/arm64"]
    # Offline with an empty cache, the packages the audit could not classify show, once.
    unknown = [w for w in plan.warnings if "could not be classified" in w]
    assert len(unknown) == 1 and unknown[0].startswith("8 production packages")
    shown = describe_plan(plan)["targets"][0]["native_packages"]  # type: ignore[index]
    assert [p["verdict"] for p in shown] == ["skipped (optional)"]


def test_print_only_scripts_are_no_emulated_work_under_emulation_fail() -> None:
    """core-js and es5-ext only print: arm64 on an amd64 engine has no emulated work, so
    `--emulation fail` accepts the build (it refused it while they ran on the target)."""
    plan = prepare(settings("scripts", start_command=("node", "-e", "1"), emulation="fail"),
                   Platform.parse("linux/amd64"))
    arm = next(t for t in plan.targets if t.platform == ARM64)
    assert arm.emulated and arm.scripted == () and arm.emulated_work(False, False) == ()
    report_emulation(plan, "fail")  # raises when emulated build work remains
