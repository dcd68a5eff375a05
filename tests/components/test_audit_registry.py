"""The audit against the real npm registry: version documents, tarball listings, the cache."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from pipelines.audit import (
    Mechanism,
    RegistryConfig,
    Target,
    Verdict,
    audit_source,
    audit_source_async,
)
from pipelines.audit.registry import NpmRegistry
from tests.conftest import require, require_program

pytestmark = pytest.mark.npm_registry

REPO = Path(__file__).resolve().parents[2]
LOCKFILES = REPO / "tests" / "fixtures" / "lockfiles"
P, D, C, M = Verdict.PREBUILT, Verdict.DOWNLOAD, Verdict.COMPILE, Verdict.MISSING

# What the registry's version documents and tarballs decide (amd64, arm64; glibc).
ONLINE = {
    "bundled-prebuilds": {
        "bcrypt": (Mechanism.BUNDLED_PREBUILDS, P, P),
        "argon2": (Mechanism.BUNDLED_PREBUILDS, P, P),
        "better-sqlite3": (Mechanism.BUNDLED_PREBUILDS, P, P),  # prebuilds/, no script
        "bufferutil": (Mechanism.BUNDLED_PREBUILDS, P, C),  # 4.1.0 has no linux-arm64 prebuild
    },
    "download": {
        "better-sqlite3": (Mechanism.DOWNLOAD, D, D), "sqlite3": (Mechanism.DOWNLOAD, D, D),
        "argon2": (Mechanism.DOWNLOAD, D, D), "re2": (Mechanism.DOWNLOAD, D, D),
    },
    "compile": {"libpq": (Mechanism.COMPILE, C, C), "cpu-features": (Mechanism.COMPILE, C, C)},
    # prebuild-install in its install script, and prebuilds/linux-{x64,arm64} in its tarball,
    # which it loads at runtime: the bundled binaries decide (dockge ships this package).
    "download-with-prebuilds": {
        "@homebridge/node-pty-prebuilt-multiarch": (Mechanism.BUNDLED_PREBUILDS, P, P)},
    "missing-arm64": {
        "esbuild": (Mechanism.PLATFORM_PACKAGES, P, M),
        "@node-rs/argon2": (Mechanism.PLATFORM_PACKAGES, P, M),
        "sharp": (Mechanism.PLATFORM_PACKAGES, P, M),
    },
    # msgpackr-extract 3.0.7's linux-arm64 package ships glibc binaries too: prebuilt there.
    "platform-packages": {
        name: (Mechanism.PLATFORM_PACKAGES, P, P)
        for name in ("sharp", "@node-rs/argon2", "lightningcss", "msgpackr-extract", "esbuild")
    },
    # 3.0.3's linux-arm64 package ships musl binaries only; its node-gyp-build-optional-packages
    # install script then compiles from source (binding.gyp and src/ are in its tarball).
    "msgpackr-extract-musl": {"msgpackr-extract": (Mechanism.PLATFORM_PACKAGES, P, C)},
    # dd-trace 6.21's optional natives: node-gyp-build 3's prebuilds/linuxglibc-<arch>/.
    "node-gyp-build3": {
        "@datadog/native-appsec": (Mechanism.BUNDLED_PREBUILDS, P, P),
        "@datadog/native-metrics": (Mechanism.BUNDLED_PREBUILDS, P, P),
        "@datadog/native-iast-taint-tracking": (Mechanism.BUNDLED_PREBUILDS, P, P),
        "@datadog/pprof": (Mechanism.BUNDLED_PREBUILDS, P, P),
        "oxc-parser": (Mechanism.PLATFORM_PACKAGES, P, P),
    },
    # oracledb's build/Release/oracledb-<v>-linux-<arch>.node, aws-crt's
    # dist/bin/linux-<arch>-glibc/.
    "bundled-elsewhere": {
        "oracledb": (Mechanism.BUNDLED_PREBUILDS, P, P),
        "aws-crt": (Mechanism.BUNDLED_PREBUILDS, P, P),
    },
    "executable-download": {"@prisma/engines": (Mechanism.DOWNLOAD, D, D)},
    # yarn berry records no install scripts: only their names get oracledb and aws-crt read.
    "yarn4-bundled-elsewhere": {
        "oracledb": (Mechanism.BUNDLED_PREBUILDS, P, P),
        "aws-crt": (Mechanism.BUNDLED_PREBUILDS, P, P),
    },
    # lightningcss 1.28.0 names linux-arm64-gnu 1.28.0, which was never published.
    "unpublished-platform-package": {"lightningcss": (Mechanism.PLATFORM_PACKAGES, P, M)},
}


@pytest.fixture(scope="module")
def reachable() -> RegistryConfig:
    """The configured registry, or skip (fail in CI) naming it."""
    config = RegistryConfig.from_env()
    try:
        answer = httpx.get(f"{config.url}bcrypt/6.0.0", verify=config.ssl_context(), timeout=20)
        ok = answer.status_code == 200
    except httpx.HTTPError:
        ok = False
    require(f"the npm registry at {config.url}", ok)
    return config


@pytest.fixture
def config(reachable: RegistryConfig, tmp_path: Path) -> RegistryConfig:
    """The real registry with a cold, private disk cache."""
    return dataclasses.replace(reachable, cache_dir=tmp_path / "npm-meta")


def _verdicts(report: object) -> dict[str, tuple[Mechanism, Verdict, Verdict]]:
    return {p.name: (p.mechanism, p.targets["linux/amd64"].verdict,
                     p.targets["linux/arm64"].verdict)
            for p in report.native(production_only=False)}  # type: ignore[attr-defined]


@pytest.mark.parametrize("case", sorted(ONLINE))
async def test_online_verdicts(case: str, config: RegistryConfig) -> None:
    """Each fixture's native packages get the verdicts the registry's data supports."""
    report = await audit_source_async(LOCKFILES / case, registry=config)
    assert report.online
    assert _verdicts(report) == ONLINE[case]


async def test_online_evidence_names_registry_and_tarball(config: RegistryConfig) -> None:
    """bcrypt's arm64 verdict rests on the tarball's file; libpq's compile on its binding.gyp."""
    bundled = await audit_source_async(LOCKFILES / "bundled-prebuilds", registry=config)
    bcrypt = next(p for p in bundled.packages if p.name == "bcrypt")
    assert bcrypt.targets["linux/arm64"].reason == (
        "registry tarball: prebuilds/linux-arm64/bcrypt.glibc.node")
    compiled = await audit_source_async(LOCKFILES / "compile", registry=config)
    libpq = next(p for p in compiled.packages if p.name == "libpq")
    assert any("registry tarball: binding.gyp and no install script" in e for e in libpq.evidence)


async def test_musl_only_platform_package_is_no_glibc_binary(config: RegistryConfig) -> None:
    """msgpackr-extract 3.0.3: the arm64 tarball's musl-only files decide, offline does not."""
    report = await audit_source_async(LOCKFILES / "msgpackr-extract-musl", registry=config)
    (audit,) = report.packages
    assert audit.targets["linux/amd64"].reason == (
        "lockfile: node_modules/@msgpackr-extract/msgpackr-extract-linux-x64")
    assert audit.targets["linux/arm64"].reason == (
        "registry tarball: node_modules/@msgpackr-extract/msgpackr-extract-linux-arm64 ships "
        "only musl binaries (node.abi115.musl.node, node.napi.musl.node), none for linux/arm64 "
        "(glibc); its install script builds from source instead")
    musl = Target("linux/arm64", "musl")
    on_musl = await audit_source_async(LOCKFILES / "msgpackr-extract-musl", (musl,),
                                       registry=config)
    assert on_musl.packages[0].targets["linux/arm64"].verdict is P
    offline = audit_source(LOCKFILES / "msgpackr-extract-musl", offline=True, registry=config)
    assert offline.packages[0].targets["linux/arm64"].verdict is P  # no file lists offline


async def test_scripts_are_read_and_found_not_native(config: RegistryConfig) -> None:
    """core-js's postinstall is read from the registry: the text audit/no_work.py records,
    which only prints, so it is not native and runs nowhere."""
    report = await audit_source_async(LOCKFILES / "scripts", registry=config)
    core_js = next(p for p in report.packages if p.name == "core-js")
    assert core_js.mechanism is Mechanism.NO_WORK
    assert core_js.evidence == (
        "known: this install script only prints a funding banner; not run on the target",)
    assert report.native() == [] and report.notes == ()


async def test_cache_answers_the_second_time(config: RegistryConfig) -> None:
    """The second request for a version document is served from disk, offline too."""
    async with NpmRegistry(config, offline=False) as client:
        first = await client.manifest("bcrypt", "6.0.0")
        again = await client.manifest("bcrypt", "6.0.0")
        assert client.fetched == 1
    assert first == again and first is not None and first["version"] == "6.0.0"
    online = await audit_source_async(LOCKFILES / "bundled-prebuilds", registry=config)
    offline = audit_source(LOCKFILES / "bundled-prebuilds", offline=True, registry=config)
    assert _verdicts(offline) == _verdicts(online)


async def test_unknown_package_is_no_evidence(config: RegistryConfig) -> None:
    """A name the registry does not have yields None, not an error."""
    async with NpmRegistry(config, offline=False) as client:
        assert await client.manifest("node-pipelines-no-such-package-x9", "1.0.0") is None


def test_regenerating_the_lockfile_fixes_missing(config: RegistryConfig, tmp_path: Path) -> None:
    """Running the command the missing verdict suggests adds the arm64 platform packages."""
    npm = require_program("npm")
    source = tmp_path / "missing-arm64"
    shutil.copytree(LOCKFILES / "missing-arm64", source)
    before = audit_source(source, offline=True, registry=config)
    reason = before.missing("linux/arm64")[0].targets["linux/arm64"].reason
    command = reason.rpartition("regenerate it with `")[2].rstrip("`").split()
    assert command[:3] == ["npm", "install", "--package-lock-only"]
    subprocess.run([npm, *command[1:], "--ignore-scripts"], cwd=source, check=True,
                   capture_output=True, timeout=300)
    after = audit_source(source, offline=True, registry=config)
    assert after.missing("linux/arm64") == []
    assert all(v is Verdict.PREBUILT for _, v in after.for_target("linux/arm64"))


def test_installed_node_modules_is_evidence(config: RegistryConfig, tmp_path: Path) -> None:
    """After a real `npm ci --ignore-scripts`, the offline audit reads node_modules."""
    npm = require_program("npm")
    source = tmp_path / "compile"
    shutil.copytree(LOCKFILES / "compile", source)
    subprocess.run([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=source,
                   check=True, capture_output=True, timeout=300)
    report = audit_source(source, offline=True, registry=config)
    libpq = next(p for p in report.packages if p.name == "libpq")
    features = next(p for p in report.packages if p.name == "cpu-features")
    assert "node_modules: binding.gyp and no install script, so npm runs node-gyp rebuild" in (
        libpq.evidence)
    assert features.evidence[0].startswith("node_modules: install script")
    assert "node-gyp rebuild" in features.evidence[0]


def test_cli_online_json(config: RegistryConfig) -> None:
    """The CLI online prints JSON whose bufferutil is prebuilt on amd64, compiled on arm64."""
    env = {**os.environ, "XDG_CACHE_HOME": str(config.cache_dir.parent.parent / "xdg"),
           "npm_config_registry": config.url}
    result = subprocess.run(
        [sys.executable, "-m", "pipelines.audit", str(LOCKFILES / "bundled-prebuilds"),
         "--format", "json", "--strict"], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    data = json.loads(result.stdout)
    bufferutil = next(p for p in data["packages"] if p["name"] == "bufferutil")
    assert bufferutil["targets"] == {"linux/amd64": "prebuilt", "linux/arm64": "compile"}
    assert data["online"] is True


def _on(report: object, name: str, platform: str) -> tuple[Verdict, str]:
    package = next(p for p in report.packages if p.name == name)  # type: ignore[attr-defined]
    return package.targets[platform].verdict, package.targets[platform].reason


@pytest.mark.parametrize("libc", ["glibc", "musl"])
async def test_node_gyp_build3_prebuilds_per_libc(config: RegistryConfig, libc: str) -> None:
    """dd-trace's natives ship linuxglibc- and linuxmusl- directories: each target gets the
    binary of its own C library, on Node 22."""
    targets = (Target("linux/amd64", libc), Target("linux/arm64", libc))
    report = await audit_source_async(LOCKFILES / "node-gyp-build3", targets, registry=config,
                                      node_major=22)
    tag = "linuxglibc" if libc == "glibc" else "linuxmusl"
    assert _on(report, "@datadog/native-appsec", "linux/arm64") == (
        P, f"registry tarball: prebuilds/{tag}-arm64/node-napi.node")
    assert _on(report, "@datadog/native-iast-taint-tracking", "linux/amd64") == (
        P, f"registry tarball: prebuilds/{tag}-x64/node-127.node")
    assert report.missing("linux/amd64") == report.missing("linux/arm64") == []


async def test_binaries_outside_prebuilds_per_libc(config: RegistryConfig) -> None:
    """aws-crt ships musl builds too; oracledb's untagged ones are glibc only: on musl it has
    none, and the evidence names the files it does ship."""
    musl = (Target("linux/amd64", "musl"), Target("linux/arm64", "musl"))
    report = await audit_source_async(LOCKFILES / "bundled-elsewhere", musl, registry=config)
    assert _on(report, "aws-crt", "linux/arm64") == (
        P, "registry tarball: dist/bin/linux-arm64-musl/aws-crt-nodejs.node")
    verdict, reason = _on(report, "oracledb", "linux/arm64")
    assert (verdict, reason) == (M, "registry tarball: no prebuild for linux/arm64 (musl); no "
                                    "install script compiles one")
    oracledb = next(p for p in report.packages if p.name == "oracledb")
    assert any("build/Release/oracledb-26.0.0-linux-arm64.node" in e for e in oracledb.evidence)


async def test_a_binary_for_another_node_abi_is_no_coverage(config: RegistryConfig) -> None:
    """@datadog/native-iast-taint-tracking 1.6.4 and @datadog/pprof 3.2 stop at ABI 120/115:
    missing on Node 22 with the ABIs named, prebuilt on Node 20; arm64 musl has none at all."""
    case = LOCKFILES / "wrong-abi"
    node22 = await audit_source_async(case, registry=config, node_major=22)
    verdict, reason = _on(node22, "@datadog/pprof", "linux/arm64")
    assert verdict is M
    assert "for Node ABI 72 (Node 12) to ABI 115 (Node 20) only" in reason
    assert "none for ABI 127 (Node 22), the target's Node" in reason
    node20 = await audit_source_async(case, registry=config, node_major=20)
    assert _verdicts(node20) == {
        "@datadog/native-iast-taint-tracking": (Mechanism.BUNDLED_PREBUILDS, P, P),
        "@datadog/pprof": (Mechanism.BUNDLED_PREBUILDS, P, P)}
    musl = await audit_source_async(case, (Target("linux/arm64", "musl"),), registry=config,
                                    node_major=20)
    assert _on(musl, "@datadog/pprof", "linux/arm64")[0] is M


async def test_never_published_platform_package_is_named(config: RegistryConfig) -> None:
    """lightningcss-linux-arm64-gnu@1.28.0 does not exist (404): the sentence says so and
    names the versions that do, instead of suggesting to regenerate the lockfile."""
    report = await audit_source_async(LOCKFILES / "unpublished-platform-package",
                                      registry=config)
    verdict, reason = _on(report, "lightningcss", "linux/arm64")
    assert verdict is M
    assert reason.startswith(
        "lightningcss-linux-arm64-gnu@1.28.0, the platform package lightningcss@1.28.0 names "
        "for linux/arm64 (glibc), was never published (the registry has no such version; "
        "newest published lightningcss-linux-arm64-gnu: 1.27.0 (latest ")
    assert "npm install" not in reason
    async with NpmRegistry(config, offline=False) as client:
        assert await client.manifest("lightningcss-linux-arm64-gnu", "1.28.0") is None
        published = await client.published("lightningcss-linux-arm64-gnu")
    assert published is not None and "1.27.0" in published[0] and "1.28.0" not in published[0]


def test_installed_binaries_outside_prebuilds_are_evidence(
    config: RegistryConfig, tmp_path: Path
) -> None:
    """After a real `npm ci --ignore-scripts`, the offline audit finds oracledb's and aws-crt's
    binaries in node_modules, as the online audit finds them in the tarballs."""
    npm = require_program("npm")
    source = tmp_path / "bundled-elsewhere"
    shutil.copytree(LOCKFILES / "bundled-elsewhere", source)
    subprocess.run([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=source,
                   check=True, capture_output=True, timeout=300)
    report = audit_source(source, offline=True, registry=config)
    assert _verdicts(report) == ONLINE["bundled-elsewhere"]
    assert _on(report, "oracledb", "linux/arm64")[1] == (
        "node_modules: build/Release/oracledb-26.0.0-linux-arm64.node")
