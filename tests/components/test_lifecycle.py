"""The project's own lifecycle scripts, with real npm: they run once in the build stage, where
they see the source, and never in a production install, where they would break it."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from pipelines.plan.prepare import prepare
from pipelines.platforms import Platform
from pipelines.project.files import excluded
from pipelines.settings import Settings
from pipelines.stages.app import _MANAGER_METADATA
from tests.conftest import REPO, require_program

FIXTURE = REPO / "tests" / "fixtures" / "services" / "lifecycle"
AMD64, ARM64 = Platform.parse("linux/amd64"), Platform.parse("linux/arm64")


def run(command: tuple[str, ...], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run one of the plan's commands with real npm; fail with its output if it fails."""
    npm = require_program("npm")
    done = subprocess.run([npm, *command[1:]] if command[0] == "npm" else list(command),
                          cwd=cwd, env={**os.environ, **env}, capture_output=True, text=True,
                          check=False, timeout=300)
    assert done.returncode == 0, f"wanted {' '.join(command)} to pass, got:\n{done.stderr}"
    return done


def copy_manifests(plan_manifests: tuple[str, ...], work: Path) -> None:
    """What the dependency stages see: the manifests only."""
    for name in plan_manifests:
        if (FIXTURE / name).is_file():
            shutil.copy2(FIXTURE / name, work / name)


@pytest.fixture(scope="module")
def plan():
    """The build's own plan for the fixture (offline audit: ms and husky are plain JS)."""
    return prepare(Settings(source=FIXTURE, audit="offline"), AMD64)


def test_build_stage_runs_root_scripts_after_the_source_arrives(plan, tmp_path: Path) -> None:
    """Scripts-off install, then the source, then `prepare` (husky) and `postinstall` (which
    reads schema.txt) succeed; what postinstall generates sits in node_modules/.generated."""
    assert plan.shape.lifecycle_scripts == ("postinstall", "prepare")
    copy_manifests(plan.packager.manifests(), tmp_path)
    for command in plan.install_all.commands:
        run(command, tmp_path)
    assert not (tmp_path / "node_modules" / ".generated").exists()
    for path in FIXTURE.rglob("*"):
        relative = path.relative_to(FIXTURE)
        if path.is_file() and not excluded(str(relative), plan.shape.files.excludes):
            (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, tmp_path / relative)
    for script in plan.shape.lifecycle_scripts:
        run(plan.packager.run_script(script), tmp_path, HUSKY="0")
    generated = tmp_path / "node_modules" / ".generated" / "client.js"
    assert "model User" in generated.read_text()
    dot_dirs = {p.name for p in (tmp_path / "node_modules").iterdir() if p.name.startswith(".")}
    assert dot_dirs - set(_MANAGER_METADATA) == {".generated"}, "only generated output ships"


def test_production_install_for_a_foreign_target_runs_no_root_script(
    plan, tmp_path: Path
) -> None:
    """The arm64 production install passes without husky (a devDependency) and runs neither
    `prepare` nor `postinstall`."""
    (target,) = [t for t in plan.targets if t.platform == ARM64]
    copy_manifests(plan.packager.manifests(), tmp_path)
    for command in plan.install_production(target).commands:
        run(command, tmp_path)
    modules = tmp_path / "node_modules"
    assert (modules / "ms" / "package.json").is_file()
    assert not (modules / "husky").exists()
    assert not (modules / ".generated").exists()
