"""`--workspace @demo/api` of each manager's monorepo fixture: the packager's focused production
install for linux/arm64, run for real on this amd64 host, installs the service's production
closure and nothing else, leaves package.json as it was, and smoke.js loads bcrypt's arm64
binary under QEMU. The engine test builds the same fixtures into images.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from pipelines.audit import Target, audit_source
from pipelines.checks import SMOKE_FILES, script
from pipelines.packagers import TargetSpec
from pipelines.project import NodeProject
from tests.components.installs import run_production_install
from tests.conftest import REPO, node_binary

SERVICES = REPO / "tests" / "fixtures" / "services"
ARM64 = TargetSpec("linux", "arm64", "glibc")
BINARIES = {"npm": None, "pnpm": "pnpm-10/bin", "yarn4": "yarn-4/bin", "yarn1": "yarn-1/bin"}
CLOSURE = {"bcrypt", "ms", "left-pad", "node-addon-api", "node-gyp-build"}
OUTSIDE = {"lodash", "is-number", "is-odd"}  # packages/web's, the root's and the service's dev


def _focused_install(manager: str, work: Path) -> Path:
    app = work / manager
    shutil.copytree(SERVICES / f"{manager}-workspace", app)
    packager = NodeProject.load(app, "@demo/api").packager
    assert packager.focus is not None
    run_production_install(packager, app, ARM64, manager=manager, bindir=BINARIES[manager])
    return app


def _installed(app: Path) -> set[str]:
    """Names of the packages in every node_modules folder (pnpm's store included)."""
    names = set()
    for manifest in app.glob("**/node_modules/**/package.json"):
        inside = manifest.relative_to(app).parts
        if inside.count("node_modules") and manifest.parent.parent.name in (
                "node_modules", *(p for p in inside if p.startswith("@"))):
            data = json.loads(manifest.read_text())
            if isinstance(data.get("name"), str) and data.get("version"):
                names.add(data["name"])
    return names - {"@demo/api", "@demo/shared", "@demo/web"}


@pytest.mark.qemu
@pytest.mark.npm_registry
@pytest.mark.parametrize("manager", list(BINARIES))
def test_focused_arm64_install_holds_the_closure_and_loads(manager: str, tmp_path: Path) -> None:
    """Only @demo/api's production closure is installed (no lodash from packages/web, no
    devDependency of the root or the service), and bcrypt's arm64 binary loads."""
    app = _focused_install(manager, tmp_path)
    names = _installed(app)
    assert names >= CLOSURE, f"wanted the closure {sorted(CLOSURE)}, missing {CLOSURE - names}"
    assert not names & OUTSIDE, f"wanted nothing outside the closure, got {names & OUTSIDE}"
    if manager != "yarn4":  # yarn berry also installs the node-gyp it adds to bcrypt
        assert names == CLOSURE, f"wanted exactly the closure, got {sorted(names)}"
    assert (app / "package.json").read_text() == (
        SERVICES / f"{manager}-workspace" / "package.json").read_text(), "package.json changed"
    report = audit_source(app, (Target("linux/arm64"),), offline=True, workspace="@demo/api")
    paths = [p.path for p in report.native()]
    assert [p.name for p in report.native()] == ["bcrypt"]
    for name in SMOKE_FILES:  # smoke.js and the scripts it requires
        (tmp_path / name).write_text(script(name))
    smoke = tmp_path / "smoke.js"
    done = subprocess.run([str(node_binary("arm64")), str(smoke), "--arch", "arm64",
                           "--libc", "glibc", "--app", str(app), "--", *paths],
                          capture_output=True, text=True, timeout=600, check=False)
    result = json.loads(done.stdout)
    assert done.returncode == 0 and result["ok"], f"wanted bcrypt to load, got {result}"
