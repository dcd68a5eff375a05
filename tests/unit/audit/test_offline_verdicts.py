"""Offline verdicts from real npm lockfiles: the lockfile alone decides what it can."""

from __future__ import annotations

import pytest

from pipelines.audit import (
    Mechanism,
    RegistryConfig,
    Target,
    Verdict,
    audit_source_async,
    recommendation,
)
from pipelines.audit.detect import Facts, classify
from pipelines.packagers.lockfiles.entry import LockEntry

from .conftest import LOCKFILES, offline

AMD64, ARM64 = "linux/amd64", "linux/arm64"

# case -> package -> (mechanism, verdict on amd64, verdict on arm64), from the lockfile alone.
EXPECTED = {
    "platform-packages": {
        "sharp": (Mechanism.PLATFORM_PACKAGES, Verdict.PREBUILT, Verdict.PREBUILT),
        "@node-rs/argon2": (Mechanism.PLATFORM_PACKAGES, Verdict.PREBUILT, Verdict.PREBUILT),
        "lightningcss": (Mechanism.PLATFORM_PACKAGES, Verdict.PREBUILT, Verdict.PREBUILT),
        "msgpackr-extract": (Mechanism.PLATFORM_PACKAGES, Verdict.PREBUILT, Verdict.PREBUILT),
        "esbuild": (Mechanism.PLATFORM_PACKAGES, Verdict.PREBUILT, Verdict.PREBUILT),
    },
    # Offline, the tarball's prebuilds/ is unknown: node-gyp-build's compile fallback counts.
    "bundled-prebuilds": {
        "bcrypt": (Mechanism.BUNDLED_PREBUILDS, Verdict.COMPILE, Verdict.COMPILE),
        "argon2": (Mechanism.BUNDLED_PREBUILDS, Verdict.COMPILE, Verdict.COMPILE),
        "bufferutil": (Mechanism.BUNDLED_PREBUILDS, Verdict.COMPILE, Verdict.COMPILE),
        "better-sqlite3": (Mechanism.COMPILE, Verdict.COMPILE, Verdict.COMPILE),
    },
    "download": {
        "better-sqlite3": (Mechanism.DOWNLOAD, Verdict.DOWNLOAD, Verdict.DOWNLOAD),
        "sqlite3": (Mechanism.DOWNLOAD, Verdict.DOWNLOAD, Verdict.DOWNLOAD),
        "argon2": (Mechanism.DOWNLOAD, Verdict.DOWNLOAD, Verdict.DOWNLOAD),
        "re2": (Mechanism.DOWNLOAD, Verdict.DOWNLOAD, Verdict.DOWNLOAD),
    },
    "compile": {
        "libpq": (Mechanism.COMPILE, Verdict.COMPILE, Verdict.COMPILE),
        "cpu-features": (Mechanism.COMPILE, Verdict.COMPILE, Verdict.COMPILE),
    },
    "local-addon": {
        "hello-addon": (Mechanism.COMPILE, Verdict.COMPILE, Verdict.COMPILE),
    },
    "missing-arm64": {
        "esbuild": (Mechanism.PLATFORM_PACKAGES, Verdict.PREBUILT, Verdict.MISSING),
        "@node-rs/argon2": (Mechanism.PLATFORM_PACKAGES, Verdict.PREBUILT, Verdict.MISSING),
        "sharp": (Mechanism.PLATFORM_PACKAGES, Verdict.PREBUILT, Verdict.MISSING),
    },
}


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_offline_verdicts_per_fixture(case: str, empty_cache: RegistryConfig) -> None:
    """Each native package gets the mechanism and per-target verdicts its lockfile implies."""
    report = offline(case, empty_cache)
    found = {p.name: (p.mechanism, p.targets[AMD64].verdict, p.targets[ARM64].verdict)
             for p in report.packages if p.mechanism.native}
    assert found == EXPECTED[case], f"wanted {EXPECTED[case]}, got {found}"


def test_platform_package_children_are_not_listed(empty_cache: RegistryConfig) -> None:
    """@img/sharp-linux-arm64 and friends are evidence for sharp, not packages of their own."""
    names = {p.name for p in offline("platform-packages", empty_cache).packages}
    assert not any(n.startswith(("@img/", "@esbuild/", "@node-rs/argon2-")) for n in names)


def test_non_native_install_scripts_are_listed_without_verdicts(
    empty_cache: RegistryConfig,
) -> None:
    """core-js and es5-ext postinstall scripts only print: listed as no-work scripts (never
    run on a target), not native, no target verdicts; @prisma/client's generates code, which the
    build does itself (`prisma generate`), so it never runs as a script on a target."""
    report = offline("scripts", empty_cache)
    scripts = {p.name: p for p in report.packages}
    assert set(scripts) == {"core-js", "es5-ext"}
    assert all(p.mechanism is Mechanism.NO_WORK and not p.targets and not p.runs_on_target
               for p in scripts.values())
    assert report.native() == []
    client = offline("executable-download", empty_cache).packages[0]
    assert client.name == "@prisma/client" and client.mechanism is Mechanism.GENERATE
    assert not client.runs_on_target and not client.targets
    assert any("prisma generate" in line for line in client.evidence), client.evidence


def test_pure_js_has_no_package_and_recommends_one_arch(empty_cache: RegistryConfig) -> None:
    """express + lodash: nothing native, so a single architecture is enough."""
    report = offline("pure-js", empty_cache)
    assert report.packages == ()
    assert "single architecture is enough unless your users run on ARM" in recommendation(report)


def test_dev_and_optional_flags(empty_cache: RegistryConfig) -> None:
    """esbuild is dev-only; bufferutil is an optional production dependency."""
    esbuild = next(p for p in offline("platform-packages", empty_cache).packages
                   if p.name == "esbuild")
    bufferutil = next(p for p in offline("bundled-prebuilds", empty_cache).packages
                      if p.name == "bufferutil")
    assert esbuild.dev and not esbuild.production
    assert bufferutil.optional and bufferutil.production


def test_missing_sentence_names_the_package_and_the_fix(empty_cache: RegistryConfig) -> None:
    """The missing verdict says which platform package is absent and how to regenerate."""
    report = offline("missing-arm64", empty_cache)
    esbuild = next(p for p in report.packages if p.name == "esbuild")
    reason = esbuild.targets[ARM64].reason
    assert "@esbuild/linux-arm64" in reason
    assert "npm install --package-lock-only --os=linux --cpu=arm64 --libc=glibc" in reason


def test_musl_target_picks_musl_platform_packages(empty_cache: RegistryConfig) -> None:
    """With --libc musl, sharp's evidence is the linuxmusl package, not the glibc one."""
    targets = (Target.parse("linux/arm64", "musl"),)
    sharp = next(p for p in offline("platform-packages", empty_cache, targets).packages
                 if p.name == "sharp")
    verdict = sharp.targets[ARM64]
    assert verdict.verdict is Verdict.PREBUILT
    assert "linuxmusl-arm64" in verdict.reason and "sharp-linux-arm64" not in verdict.reason


def test_evidence_names_its_source(empty_cache: RegistryConfig) -> None:
    """Every native package's evidence and reasons say lockfile, source tree or assumption."""
    for case in EXPECTED:
        for package in offline(case, empty_cache).native(production_only=False):
            assert package.evidence, f"{package.name} has no evidence"
            assert all(item.split(":")[0] in {"lockfile", "source tree", "assumed"}
                       for item in package.evidence), package.evidence


def test_npm8_lockfile_without_libc_uses_the_name(empty_cache: RegistryConfig) -> None:
    """npm 8 wrote no `libc`: the glibc target's evidence is -gnu, not -musl."""
    report = offline("missing-arm64", empty_cache)
    argon2 = next(p for p in report.packages if p.name == "@node-rs/argon2")
    reason = argon2.targets[AMD64].reason
    assert "argon2-linux-x64-gnu" in reason and "musl" not in reason


async def test_async_api_offline_matches_sync(empty_cache: RegistryConfig) -> None:
    """audit_source_async(offline=True) gives the same report as audit_source."""
    report = await audit_source_async(LOCKFILES / "compile", offline=True, registry=empty_cache)
    assert report == offline("compile", empty_cache)


@pytest.mark.parametrize(("script", "dependencies", "mechanism"), [
    ("node-gyp-build", {"node-gyp-build": "^4"}, Mechanism.BUNDLED_PREBUILDS),
    ("prebuild-install -r napi || node-gyp rebuild", {}, Mechanism.DOWNLOAD),
    ("node-pre-gyp install --fallback-to-build", {}, Mechanism.DOWNLOAD),
    ("cmake-js compile", {}, Mechanism.COMPILE),
    ("node scripts/make.js", {}, Mechanism.INSTALL_SCRIPT),
    ("node scripts/build.js", {"nan": "^2"}, Mechanism.COMPILE),
    ("", {}, Mechanism.NONE),
])
def test_install_script_text_decides(
    script: str, dependencies: dict[str, str], mechanism: Mechanism
) -> None:
    """Known install commands map to their mechanism; other scripts are not native builds."""
    entry = LockEntry("node_modules/x", "x", "1.0.0", dev=False, optional=False,
                      has_install_script=bool(script), os=(), cpu=(), libc=(),
                      dependencies=dependencies, optional_dependencies={}, resolved=None,
                      local=False)
    facts = Facts(install_scripts=script, scripts_from="registry", files=())
    assert classify(entry, facts)[0] is mechanism
