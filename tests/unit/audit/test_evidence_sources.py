"""Evidence beyond the lockfile: an installed node_modules, the registry cache, the env."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.audit import Mechanism, RegistryConfig, Verdict, audit_source
from pipelines.audit.registry import NpmRegistry
from pipelines.audit.registry_config import DEFAULT_REGISTRY, SYSTEM_BUNDLE

from .conftest import copy_case


def _install(source: Path, name: str, manifest: dict[str, object], files: list[str]) -> None:
    """Lay out node_modules/<name> the way npm ci --ignore-scripts leaves it."""
    directory = source / "node_modules" / name
    directory.mkdir(parents=True)
    (directory / "package.json").write_text(json.dumps({"name": name, **manifest}))
    for relative in files:
        (directory / relative).parent.mkdir(parents=True, exist_ok=True)
        (directory / relative).write_bytes(b"\x7fELF")


def test_node_modules_prebuilds_decide_the_verdict(
    tmp_path: Path, empty_cache: RegistryConfig
) -> None:
    """An installed bufferutil with only a linux-x64 prebuild: prebuilt on amd64, compile on
    arm64, and the evidence says node_modules."""
    source = copy_case("bundled-prebuilds", tmp_path)
    _install(source, "bufferutil", {"version": "4.1.0", "scripts": {"install": "node-gyp-build"}},
             ["binding.gyp", "prebuilds/linux-x64/bufferutil.node",
              "prebuilds/darwin-arm64/bufferutil.node"])
    report = audit_source(source, offline=True, registry=empty_cache)
    bufferutil = next(p for p in report.packages if p.name == "bufferutil")
    assert bufferutil.targets["linux/amd64"].verdict is Verdict.PREBUILT
    assert bufferutil.targets["linux/arm64"].verdict is Verdict.COMPILE
    assert bufferutil.targets["linux/amd64"].reason.startswith("node_modules:")
    assert any(e.startswith("node_modules:") for e in bufferutil.evidence)


def test_stale_node_modules_is_ignored(tmp_path: Path, empty_cache: RegistryConfig) -> None:
    """An installed copy of another version says nothing about the locked one."""
    source = copy_case("bundled-prebuilds", tmp_path)
    _install(source, "bcrypt", {"version": "5.1.1", "scripts": {"install": "node-pre-gyp"}}, [])
    report = audit_source(source, offline=True, registry=empty_cache)
    bcrypt = next(p for p in report.packages if p.name == "bcrypt")
    assert bcrypt.mechanism is Mechanism.BUNDLED_PREBUILDS
    assert not any("node_modules" in e for e in bcrypt.evidence)


def test_offline_reads_the_registry_cache(tmp_path: Path, empty_cache: RegistryConfig) -> None:
    """Offline, a cached version document and file list are used, and named as the cache."""
    cache = NpmRegistry(empty_cache, offline=True)
    cache._write("manifest", "bcrypt", "6.0.0", {"scripts": {"install": "node-gyp-build"}})
    cache._write("files", "bcrypt", "6.0.0", ["binding.gyp",
                                              "prebuilds/linux-arm64/bcrypt.glibc.node"])
    report = audit_source(copy_case("bundled-prebuilds", tmp_path), offline=True,
                          registry=empty_cache)
    bcrypt = next(p for p in report.packages if p.name == "bcrypt")
    assert bcrypt.targets["linux/arm64"].verdict is Verdict.PREBUILT
    assert bcrypt.targets["linux/amd64"].verdict is Verdict.COMPILE
    assert "registry cache" in bcrypt.targets["linux/arm64"].reason


def test_registry_config_from_env(tmp_path: Path) -> None:
    """npm_config_registry, XDG_CACHE_HOME and the CA bundles come from the environment."""
    bundle = tmp_path / "extra.pem"
    bundle.write_text("")
    config = RegistryConfig.from_env({"npm_config_registry": "https://npm.example.test/x",
                                      "XDG_CACHE_HOME": str(tmp_path),
                                      "NODE_EXTRA_CA_CERTS": str(bundle)})
    assert config.url == "https://npm.example.test/x/"
    assert config.cache_dir == tmp_path / "node-pipelines" / "npm-meta"
    assert config.ca_files[0] == bundle
    assert (SYSTEM_BUNDLE in config.ca_files) == SYSTEM_BUNDLE.is_file()
    assert RegistryConfig.from_env({}).url == DEFAULT_REGISTRY


def test_ssl_context_trusts_the_system_bundle() -> None:
    """The context loads the configured bundles (the proxy CA is in the system one)."""
    if not SYSTEM_BUNDLE.is_file():
        pytest.skip(f"{SYSTEM_BUNDLE} is absent on this machine")
    context = RegistryConfig(ca_files=(SYSTEM_BUNDLE,)).ssl_context()
    assert context.cert_store_stats()["x509_ca"] > 0


def test_own_addon_in_the_source_tree_is_compiled(
    tmp_path: Path, empty_cache: RegistryConfig
) -> None:
    """A binding.gyp of the project itself (native/) is listed as its own addon to compile."""
    source = copy_case("platform-packages", tmp_path)
    (source / "native").mkdir()
    (source / "native" / "binding.gyp").write_text('{"targets": []}')
    (source / "node_modules" / "x").mkdir(parents=True)
    (source / "node_modules" / "x" / "binding.gyp").write_text("{}")  # not the project's own
    report = audit_source(source, offline=True, registry=empty_cache)
    own = [p for p in report.packages if p.own]
    assert [p.path for p in own] == ["native"]
    assert report.needs_toolchain("linux/arm64")
    assert own[0].targets["linux/arm64"].verdict is Verdict.COMPILE
