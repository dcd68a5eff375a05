"""Preflight: the audit decides what runs on each target, and stops doomed builds."""

from __future__ import annotations

import pytest

from pipelines.platforms import Platform
from pipelines.preflight import BuildBlockedError, audit_for_build
from pipelines.settings import Settings
from tests.conftest import EXAMPLE, REPO

LOCKFILES = REPO / "tests" / "fixtures" / "lockfiles"
ARM64 = Platform.parse("linux/arm64")


def settings(case: str, **values: object) -> Settings:
    return Settings(source=LOCKFILES / case, audit="offline", **values)


def test_missing_platform_package_blocks_the_build() -> None:
    """A lockfile without the arm64 platform packages stops the build with exit 2."""
    with pytest.raises(BuildBlockedError) as caught:
        audit_for_build(settings("missing-arm64"))
    assert caught.value.exit_code == 2
    assert "linux/arm64" in str(caught.value)
    assert "npm install" in str(caught.value)


def test_musl_base_is_refused_only_where_a_binary_is_missing() -> None:
    """On musl, a platform package with no musl build for a target blocks, naming glibc."""
    with pytest.raises(BuildBlockedError, match="glibc base such as node:22-bookworm-slim"):
        audit_for_build(settings("missing-arm64"), "musl")


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
    """core-js style postinstall scripts in production run, for exactly those packages."""
    assert set(audit_for_build(settings("scripts"))[ARM64].rebuild) == {"core-js", "es5-ext"}


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
