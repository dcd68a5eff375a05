"""The Dagger module for real: its functions called with the `dagger call` CLI on an engine.

The last tests call the module's Python code directly over an SDK session instead: they prove
the adapter (source export, settings, plan, stages) on a real engine, not the module runtime.

Runs where a Dagger CLI is found (`_EXPERIMENTAL_DAGGER_CLI_BIN`, else `dagger` on PATH) and an
engine session is available (see conftest.py); the CLI finds its engine as usual
(`_EXPERIMENTAL_DAGGER_RUNNER_HOST`, else its own). A Python module also needs the engine's
bundled Python SDK runtime and the images it pulls (python:3.x-slim, uv): an engine built from
source has no builtin SDK content, so loading the module fails there; the `dagger call` tests
then skip, quoting the engine's error, and any other failure to load the module fails them.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from dagger import dag

from tests.components.registry import (
    PASSWORD,
    USER,
    LocalRegistry,
    assert_no_secret,
)
from tests.conftest import EXAMPLE, REPO

pytestmark = pytest.mark.engine

CALL_TIMEOUT_S = 1800  # a cold build of the example with an emulated arm64 leg takes minutes
# What an engine without Dagger's bundled SDK content says when it loads a Python module.
NO_BUILTIN_SDK = "lookup builtin image manifest"


def dagger_cli() -> str:
    """The Dagger CLI these tests run; skips, naming what is missing, when there is none."""
    cli = os.environ.get("_EXPERIMENTAL_DAGGER_CLI_BIN") or shutil.which("dagger")
    if not cli:
        pytest.skip("no Dagger CLI: set _EXPERIMENTAL_DAGGER_CLI_BIN or put `dagger` on PATH")
    return cli


def run(command: list[str]) -> subprocess.CompletedProcess[str]:
    """Run the CLI in the repository, plain progress and no colours in its output."""
    return subprocess.run(command, capture_output=True, text=True, check=False, cwd=REPO,
                          timeout=CALL_TIMEOUT_S, env={**os.environ, "NO_COLOR": "1"})


@pytest.fixture(scope="module")
def functions() -> str:
    """`dagger functions` on the module: loads it once; skips when the engine cannot run it."""
    result = run([dagger_cli(), "--progress=plain", "functions", "-m", str(REPO)])
    if result.returncode != 0 and NO_BUILTIN_SDK in result.stderr:
        error = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
        pytest.skip("this engine has no builtin Python SDK (an engine built from source lacks "
                    f"the SDK content of Dagger's release image): {(error or [''])[-1][-240:]}")
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stdout


def call(*args: str) -> str:
    """`dagger call -m <repo> --source <example> ARGS...`; its stdout, or a failure with stderr."""
    command = [dagger_cli(), "--progress=plain", "call", "-m", str(REPO),
               "--source", str(EXAMPLE), *args]
    result = run(command)
    if result.returncode != 0:
        pytest.fail(f"`dagger call {' '.join(args)}` exited {result.returncode}, wanted 0:\n"
                    + result.stderr[-4000:])
    return result.stdout


def test_the_module_lists_every_function(functions: str) -> None:
    """`dagger functions` on the module lists every function issue 11 asks for."""
    for name in ("build-image", "build-output", "build", "publish", "smoke", "audit", "verify"):
        assert name in functions.split(), f"wanted {name} in:\n{functions}"


def test_build_image_returns_the_runtime_container_of_the_platform(functions: str) -> None:
    """build-image returns a Container callers chain: it runs as node, Node says arm64."""
    out = call("build-image", "--platform", "linux/arm64",
               "with-exec", "--args", "sh,-c,id -un && node -p process.arch", "stdout")
    assert out.split() == ["node", "arm64"]


def test_build_output_is_the_application_directory(functions: str) -> None:
    """build-output holds the compiled app and its package.json, and no node_modules."""
    entries = call("build-output", "entries").split()
    assert {"package.json", "dist/"} <= set(entries), entries
    assert "node_modules/" not in entries


def test_audit_reports_the_native_packages(functions: str) -> None:
    """audit prints the audit JSON, naming the example's native packages."""
    report = json.loads(call("--audit-mode", "offline", "audit"))
    names = {p["name"] for p in report["packages"]}
    assert {"bcrypt", "better-sqlite3", "sharp"} <= names, names


def test_smoke_passes_on_amd64(functions: str) -> None:
    """smoke returns the checks of one platform as JSON, every one passed."""
    checks = json.loads(call("smoke", "--platform", "linux/amd64"))
    assert checks["smoke"]["ok"] and checks["hygiene"]["ok"], checks


def test_build_exports_a_two_platform_archive(functions: str, tmp_path: Path) -> None:
    """build returns the OCI archive as a File; its index lists amd64 and arm64 once each."""
    path = tmp_path / "image.oci.tar"
    call("build", "export", "--path", str(path))
    with tarfile.open(path) as archive:
        index = json.load(archive.extractfile("index.json"))  # type: ignore[arg-type]
        if index["manifests"][0]["mediaType"].endswith("image.index.v1+json"):
            digest = index["manifests"][0]["digest"].split(":")[1]
            index = json.load(archive.extractfile(f"blobs/sha256/{digest}"))  # type: ignore[arg-type]
    platforms = sorted(f"{m['platform']['os']}/{m['platform']['architecture']}"
                       for m in index["manifests"])
    assert platforms == ["linux/amd64", "linux/arm64"]


@pytest.fixture(scope="module")
def module() -> ModuleType:
    """The module's package, imported from .dagger/src as the module runtime does."""
    source = str(REPO / ".dagger" / "src")
    sys.path.insert(0, source)
    try:
        return importlib.import_module("node_pipelines_module")
    finally:
        sys.path.remove(source)


def example(module: ModuleType, **arguments: object) -> Any:
    """The module's object on the example, its source loaded as DefaultPath and Ignore would."""
    ignored = importlib.import_module("node_pipelines_module.arguments").IGNORED
    source = dag.host().directory(str(EXAMPLE), exclude=ignored)
    return module.NodePipelines(source=source, **arguments)


async def test_module_code_builds_the_arm64_runtime_image(engine: None, module: ModuleType) -> None:
    """Over an SDK session, build_image returns the arm64 runtime: user node, Node says arm64."""
    runtime = await example(module).build_image("linux/arm64")
    out = await runtime.with_exec(["sh", "-c", "id -un && node -p process.arch"]).stdout()
    assert out.split() == ["node", "arm64"]


async def test_module_code_returns_the_build_output(engine: None, module: ModuleType) -> None:
    """Over an SDK session, build_output holds dist/ and package.json, no node_modules."""
    entries = await (await example(module).build_output()).entries()
    assert {"package.json", "dist/"} <= set(entries), entries
    assert "node_modules/" not in entries


async def test_module_code_audits_offline(engine: None, module: ModuleType) -> None:
    """Over an SDK session, audit returns the audit JSON with the example's native packages."""
    report = json.loads(await example(module, audit_mode="offline").audit())
    assert {"bcrypt", "better-sqlite3", "sharp"} <= {p["name"] for p in report["packages"]}


@pytest.mark.registry
async def test_module_code_publishes_and_verifies(
    engine: None, module: ModuleType, registry: LocalRegistry, capfd: pytest.CaptureFixture[str]
) -> None:
    """Over an SDK session, publish with a Secret password returns REF@sha256 of a verified
    two-platform index, verify agrees, and the password is in no output."""
    pipelines = example(module)
    password = dag.set_secret("registry-password", PASSWORD)
    pinned = await pipelines.publish(f"{registry.host}/team/native-service", ["t1"],
                                     USER, password)
    assert pinned.startswith(f"{registry.host}/team/native-service@sha256:"), pinned
    report = json.loads(await pipelines.verify(pinned, ["linux/amd64", "linux/arm64"],
                                               USER, password))
    assert report["ok"] and [row["status"] for row in report["platforms"]] == ["ok", "ok"]
    out, err = capfd.readouterr()
    assert_no_secret(out + err)
