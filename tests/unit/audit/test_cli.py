"""`python -m pipelines.audit` as a subprocess: exit codes, stdout, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import LOCKFILES, copy_case, run_cli


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """An environment with an empty cache and an unreachable registry (offline runs only)."""
    return {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"),
            "npm_config_registry": "https://registry.invalid/"}


def _error(result: object) -> str:
    stderr: str = result.stderr  # type: ignore[attr-defined]
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("ERROR "), stderr
    return lines[0]


@pytest.mark.parametrize(("case", "words"), [
    ("lockfile-v1", "lockfile version 1"), ("out-of-sync", "out of sync"),
])
def test_bad_sources_exit_2_with_one_sentence(
    case: str, words: str, env: dict[str, str]
) -> None:
    """Unsupported or inconsistent lockfiles: exit 2, one ERROR line, empty stdout."""
    result = run_cli(str(LOCKFILES / case), "--offline", env=env)
    assert result.returncode == 2
    assert words in _error(result)
    assert result.stdout == ""


def test_truncated_lockfile_exits_2(tmp_path: Path, env: dict[str, str]) -> None:
    """A truncated lockfile is a sentence and exit 2."""
    source = copy_case("download", tmp_path)
    lock = source / "package-lock.json"
    lock.write_bytes(lock.read_bytes()[:1000])
    result = run_cli(str(source), "--offline", env=env)
    assert result.returncode == 2 and "not valid JSON" in _error(result)


@pytest.mark.parametrize("args", [["--platform", "linux/sparc"], ["--libc", "bionic"],
                                  ["--format", "xml"], ["--strict=never"], ["--bogus"]])
def test_bad_flags_exit_2(args: list[str], env: dict[str, str]) -> None:
    """Invalid flags are usage errors: exit 2 and one sentence."""
    result = run_cli(str(LOCKFILES / "compile"), "--offline", *args, env=env)
    assert result.returncode == 2
    _error(result)


def test_json_output_is_parseable_and_complete(env: dict[str, str]) -> None:
    """--format json prints only JSON on stdout, with a packages list."""
    result = run_cli(str(LOCKFILES / "platform-packages"), "--offline", "--format", "json",
                     env=env)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    sharp = next(p for p in data["packages"] if p["name"] == "sharp")
    assert sharp["targets"] == {"linux/amd64": "prebuilt", "linux/arm64": "prebuilt"}
    assert {"name", "version", "path", "dev", "optional", "mechanism", "targets",
            "evidence"} <= set(sharp)


def test_strict_fails_on_missing(env: dict[str, str]) -> None:
    """--strict exits 1 when a production package is missing, after printing the report."""
    result = run_cli(str(LOCKFILES / "missing-arm64"), "--offline", "--strict", env=env)
    assert result.returncode == 1
    assert "esbuild" in result.stdout or "sharp" in result.stdout
    assert "linux/arm64" in _error(result)


def test_strict_compile(env: dict[str, str]) -> None:
    """--strict passes a compile-only tree; --strict=compile fails it."""
    source = str(LOCKFILES / "compile")
    assert run_cli(source, "--offline", "--strict", env=env).returncode == 0
    result = run_cli(source, "--offline", "--strict=compile", env=env)
    assert result.returncode == 1
    _error(result)


def test_platform_and_libc_flags(env: dict[str, str]) -> None:
    """--platform limits the targets; --libc musl switches the platform packages."""
    result = run_cli(str(LOCKFILES / "platform-packages"), "--offline", "--platform",
                     "linux/arm64", "--libc", "musl", "--format", "json", env=env)
    both = run_cli(str(LOCKFILES / "compile"), "--offline", "--platform",
                   "linux/arm64,linux/amd64", "--format", "json", env=env)
    assert [t["platform"] for t in json.loads(both.stdout)["targets"]] == [
        "linux/arm64", "linux/amd64"]
    data = json.loads(result.stdout)
    assert data["targets"] == [{"platform": "linux/arm64", "libc": "musl"}]
    sharp = next(p for p in data["packages"] if p["name"] == "sharp")
    assert "linuxmusl" in sharp["reasons"]["linux/arm64"]


def test_defaults_come_from_the_pipeline_settings(env: dict[str, str], tmp_path: Path) -> None:
    """Without SOURCE, --platform or --libc the audit uses the pipeline's source, platforms and
    the libc of its base image (here from NODEPIPE_* variables)."""
    source = copy_case("compile", tmp_path)
    pipeline_env = {**env, "NODEPIPE_SOURCE": str(source), "NODEPIPE_PLATFORMS": "linux/arm64",
                    "NODEPIPE_BASE_IMAGE": "node:22-alpine",
                    "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    result = subprocess.run(
        [sys.executable, "-m", "pipelines.audit", "--offline", "--format", "json"],
        cwd=tmp_path, env=pipeline_env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["targets"] == [{"platform": "linux/arm64", "libc": "musl"}]
    assert "libpq" in {p["name"] for p in data["packages"]}


def test_unreachable_registry_exits_2(env: dict[str, str]) -> None:
    """Online against a registry that does not answer: one sentence suggesting --offline."""
    env = {**env, "npm_config_registry": "https://127.0.0.1:9/"}
    result = run_cli(str(LOCKFILES / "compile"), env=env)
    assert result.returncode == 2
    assert "--offline" in _error(result)
