"""Preflight: the audit decides toolchain and scripts per target, and stops doomed builds."""

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


def test_musl_base_with_native_addons_is_refused() -> None:
    """Native addons on an alpine (musl) base are refused before any engine work."""
    with pytest.raises(BuildBlockedError, match="uses musl while native addons are present"):
        audit_for_build(settings("bundled-prebuilds", base_image="node:22-alpine"))


def test_musl_base_without_native_addons_is_fine() -> None:
    """A pure-JS service may use alpine."""
    audits = audit_for_build(settings("pure-js", base_image="node:22-alpine"))
    assert all(not a.packages and not a.needs_install_scripts for a in audits.values())


def test_plain_install_scripts_keep_scripts_on() -> None:
    """core-js style postinstall scripts in production keep npm's scripts on."""
    assert audit_for_build(settings("scripts"))[ARM64].needs_install_scripts


def test_compile_verdicts_keep_scripts_on() -> None:
    """A package compiled from source needs npm's scripts (and so the toolchain)."""
    audit = audit_for_build(settings("compile"))[ARM64]
    assert {p.verdict for p in audit.dependencies} == {"compile"}
    assert audit.needs_install_scripts


@pytest.mark.npm_registry
def test_example_is_all_prebuilt_online() -> None:
    """Online, every dependency of the example is prebuilt for both targets; only its own
    addon compiles, so npm's scripts stay off."""
    audits = audit_for_build(Settings(source=EXAMPLE, audit="online"))
    for audit in audits.values():
        assert {p.name: p.verdict for p in audit.dependencies} == {
            "bcrypt": "prebuilt", "better-sqlite3": "prebuilt", "sharp": "prebuilt"}
        assert [p.own for p in audit.packages if p.verdict == "compile"] == [True]
        assert not audit.needs_install_scripts
