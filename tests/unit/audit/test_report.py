"""The report API the build uses: per-target lists, toolchain, missing, check, JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.audit import (
    AuditError,
    MissingBinaryError,
    RegistryConfig,
    Target,
    Verdict,
    audit_source,
    render_json,
    render_table,
    summarize,
)

from .conftest import LOCKFILES, copy_case, offline, run_cli


def test_all_prebuilt_target_needs_no_toolchain(empty_cache: RegistryConfig) -> None:
    """Platform packages only: no target needs a compiler, nothing is missing."""
    report = offline("platform-packages", empty_cache)
    for target in report.targets:
        pairs = report.for_target(target.platform)
        assert pairs and all(v is Verdict.PREBUILT for _, v in pairs)
        assert not report.needs_toolchain(target.platform)
        assert report.missing(target.platform) == []
    report.check(fail_on=(Verdict.MISSING, Verdict.COMPILE))


def test_for_target_leaves_out_dev_packages(empty_cache: RegistryConfig) -> None:
    """esbuild is a devDependency, so it is not among the target's packages."""
    report = offline("platform-packages", empty_cache)
    assert "esbuild" not in {p.name for p, _ in report.for_target("linux/arm64")}
    assert "esbuild" in {p.name for p in report.native(production_only=False)}


def test_compile_and_download_need_the_toolchain(empty_cache: RegistryConfig) -> None:
    """compile and download (which falls back to compiling) both need the toolchain."""
    for case in ("compile", "download"):
        assert offline(case, empty_cache).needs_toolchain("linux/arm64"), case


def test_missing_and_check(empty_cache: RegistryConfig) -> None:
    """missing() lists the packages; check() raises one sentence naming the first."""
    report = offline("missing-arm64", empty_cache)
    assert {p.name for p in report.missing("linux/arm64")} == {
        "esbuild", "@node-rs/argon2", "sharp"}
    assert report.missing("linux/amd64") == []
    with pytest.raises(MissingBinaryError) as caught:
        report.check()
    message = str(caught.value)
    assert "on linux/arm64 (glibc)" in message and "(and 2 more)" in message
    assert caught.value.exit_code == 1


def test_check_compile_is_stricter(empty_cache: RegistryConfig) -> None:
    """check() passes a compile-only report unless compile is asked to fail too."""
    report = offline("compile", empty_cache)
    report.check()
    with pytest.raises(MissingBinaryError, match=r"cpu-features|libpq"):
        report.check(fail_on=(Verdict.MISSING, Verdict.COMPILE))


def test_unknown_platform_is_an_input_error(empty_cache: RegistryConfig) -> None:
    """Asking about a platform that was not audited is an AuditError, not a KeyError."""
    report = offline("compile", empty_cache, (Target("linux/amd64"),))
    with pytest.raises(AuditError, match="linux/arm64 was not audited"):
        report.for_target("linux/arm64")


@pytest.mark.parametrize(("platform", "libc"), [("linux/mips", "glibc"), ("windows/amd64",
                                                 "glibc"), ("linux/arm64", "uclibc"), ("x", "")])
def test_bad_targets_are_refused(platform: str, libc: str) -> None:
    """Only linux platforms npm knows and glibc/musl are accepted."""
    with pytest.raises(AuditError):
        Target.parse(platform, libc)


def test_target_names() -> None:
    """A target maps Docker's arch to npm's cpu name."""
    target = Target.parse("linux/amd64")
    assert (target.os, target.cpu, target.libc) == ("linux", "x64", "glibc")
    assert Target.parse("LINUX/ARM64", "musl").cpu == "arm64"


def test_json_shape(empty_cache: RegistryConfig) -> None:
    """JSON has packages with name, version, path, dev, optional, mechanism, targets, evidence."""
    data = json.loads(render_json(offline("bundled-prebuilds", empty_cache)))
    package = next(p for p in data["packages"] if p["name"] == "bufferutil")
    assert package["path"] == "node_modules/bufferutil"
    assert package["optional"] is True and package["dev"] is False
    assert package["mechanism"] == "bundled-prebuilds"
    assert set(package["targets"]) == {"linux/amd64", "linux/arm64"}
    assert all(v in {"prebuilt", "download", "compile", "missing"}
               for v in package["targets"].values())
    assert package["evidence"]
    assert data["summary"]["targets"]["linux/arm64"]["needs_toolchain"] is True


def test_system_libraries_for_libpq(empty_cache: RegistryConfig) -> None:
    """Compiling libpq needs libpq-dev to build and libpq5 at runtime."""
    summary = summarize(offline("compile", empty_cache))[1]
    assert summary.build_libraries == ("libpq-dev",)
    assert summary.runtime_libraries == ("libpq5",)


def test_table_mentions_every_package_and_the_recommendation(
    empty_cache: RegistryConfig,
) -> None:
    """The console table lists each package with its verdicts and ends with advice."""
    report = offline("missing-arm64", empty_cache)
    table = render_table(report)
    for package in report.packages:
        assert package.name in table
    assert "missing" in table and "evidence:" in table
    assert table.rstrip().endswith(").")


def test_own_addons_can_be_left_out(tmp_path: Path, empty_cache: RegistryConfig) -> None:
    """include_own=False answers for dependencies only (the build may build its addon apart)."""
    source = copy_case("platform-packages", tmp_path)
    (source / "binding.gyp").write_text('{"targets": []}')
    report = audit_source(source, offline=True, registry=empty_cache)
    assert report.needs_toolchain("linux/arm64")
    assert not report.needs_toolchain("linux/arm64", include_own=False)
    assert all(not p.own for p, _ in report.for_target("linux/amd64", include_own=False))


def test_an_optional_native_package_without_a_binary_is_skipped(
    empty_cache: RegistryConfig,
) -> None:
    """Optional (reached only through ssh2's optionalDependencies) and not allowed to build:
    `skipped (optional)`, a warning in the summary, never `missing`."""
    report = offline("pnpm10-optional-native", empty_cache)
    (package,) = report.native()
    assert package.name == "cpu-features" and package.optional
    for target in report.targets:
        assert package.targets[target.platform].verdict is Verdict.SKIPPED
        assert report.missing(target.platform) == []
        assert report.skipped(target.platform) == [package]
    report.check()  # no blocker without --strict
    with pytest.raises(MissingBinaryError):
        report.check(fail_on=(Verdict.MISSING, Verdict.SKIPPED))
    assert "optional, skipped (the service runs without them): cpu-features@0.0.10" in (
        render_table(report))


def test_the_cli_exits_0_on_a_skipped_optional_package_and_1_with_strict() -> None:
    """`--strict` still fails on an optional package with no binary, for those who want that."""
    case = str(LOCKFILES / "pnpm10-optional-native")
    assert run_cli(case, "--offline").returncode == 0
    strict = run_cli(case, "--offline", "--strict")
    assert strict.returncode == 1
    assert strict.stderr.startswith("ERROR cpu-features@0.0.10 on linux/")
