"""Each manager's production install for linux/arm64, run for real on this amd64 host, then
smoke.js on the result under QEMU with the arm64 Node: the path the pipeline takes when every
native dependency is prebuilt for the target.

The managers come from tests/.tools (tests/host-setup.sh); the install commands, environment
and target selection are the packager's own, with its cache directories moved under
tests/.tools/pm-cache. Corepack (setup()) is left out: the build containers run it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from pipelines.audit import Target, audit_source
from pipelines.audit.project import load_project
from pipelines.checks import SMOKE_FILES, script
from pipelines.packagers import TargetSpec
from tests.components.installs import run_production_install
from tests.conftest import REPO, node_binary

LOCKFILES = REPO / "tests" / "fixtures" / "lockfiles"
ARM64 = TargetSpec("linux", "arm64", "glibc")
BINARIES = {"pnpm9": "pnpm-9/bin", "pnpm10": "pnpm-10/bin", "yarn1": "yarn-1/bin",
            "yarn4": "yarn-4/bin"}
CASES = [(m, c) for m in BINARIES for c in ("platform-packages", "workspace")]


def _install(manager: str, case: str, work: Path) -> Path:
    """Copy the fixture and run its packager's production install for linux/arm64."""
    app = work / case
    shutil.copytree(LOCKFILES / f"{manager}-{case}", app)
    run_production_install(load_project(app).packager, app, ARM64, manager=manager,
                           bindir=BINARIES[manager])
    return app


def _installed_names(app: Path) -> set[str]:
    names = set()
    for folder in (app / "node_modules", app / "node_modules" / ".pnpm" / "node_modules"):
        for manifest in folder.glob("**/package.json") if folder.is_dir() else ():
            if "sharp-" in manifest.parent.name:
                names.add(json.loads(manifest.read_text()).get("name", ""))
    return names


@pytest.mark.qemu
@pytest.mark.npm_registry
@pytest.mark.parametrize(("manager", "case"), CASES)
def test_arm64_install_on_amd64_passes_smoke(manager: str, case: str, tmp_path: Path) -> None:
    """The arm64 platform packages are installed (not the x64 ones) and load under QEMU."""
    node = node_binary("arm64")
    app = _install(manager, case, tmp_path)
    names = _installed_names(app)
    assert "@img/sharp-linux-arm64" in names, f"wanted @img/sharp-linux-arm64, got {names}"
    assert "@img/sharp-linux-x64" not in names, f"x64 binaries were installed: {names}"
    assert json.loads((app / "package.json").read_text()) == json.loads(
        (LOCKFILES / f"{manager}-{case}" / "package.json").read_text()), "package.json changed"
    report = audit_source(app, (Target("linux/arm64"),), offline=True)
    # Platform packages and bundled prebuilds (bcrypt): all load without an install script.
    paths = [p.path for p in report.native()]
    assert paths, "the audit found no native production package to load"
    for name in SMOKE_FILES:  # smoke.js and the scripts it requires
        (tmp_path / name).write_text(script(name))
    smoke = tmp_path / "smoke.js"
    done = subprocess.run([str(node), str(smoke), "--arch", "arm64", "--libc", "glibc",
                           "--app", str(app), "--", *paths],
                          capture_output=True, text=True, timeout=600, check=False)
    result = json.loads(done.stdout)
    failed = [p for p in result["packages"] if not p["ok"]]
    assert done.returncode == 0 and result["ok"], f"wanted every package to load, got {failed}"
    assert result["arch"] == "arm64"
    unloaded = [p["name"] for p in result["packages"] if not p["addons"]]
    assert not unloaded, f"wanted an arm64 addon loaded for each, none for {unloaded}"


@pytest.mark.npm_registry
def test_yarn4_rebuild_compiles_only_the_named_package_and_keeps_the_tree_focused(
    tmp_path: Path,
) -> None:
    """After the production install, the packager's rebuild of a compile package builds its
    addon and brings no devDependency back (`yarn rebuild` would re-run an unfocused install)."""
    app = _install("yarn4", "compile", tmp_path)
    packager = load_project(app).packager
    before = {p.parent.name for p in (app / "node_modules").glob("*/package.json")}
    env = {**os.environ, "PATH": f"{node_binary('x64').parent}:{os.environ['PATH']}",
           "npm_config_nodedir": str(node_binary("x64").parent.parent)}
    done = subprocess.run(packager.rebuild(["cpu-features"]), cwd=app, env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    after = {p.parent.name for p in (app / "node_modules").glob("*/package.json")}
    assert after == before, f"the rebuild changed the tree: {sorted(after ^ before)}"
    assert list((app / "node_modules" / "cpu-features" / "build").rglob("*.node"))
