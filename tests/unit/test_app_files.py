"""The application's files are the project's files: only the node_modules folders the package
manager creates (and the host's installs) are the engine's; --include beats every default
exclude; the start-file check runs with or without a build step."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from pipelines.project import NodeProject
from pipelines.project.files import app_files, build_output, excluded
from pipelines.project.shape import Shape, shape_of
from pipelines.settings import load_settings
from tests.conftest import REPO

FIXTURE = REPO / "tests" / "fixtures" / "services" / "start-programs"
APP = "packages/node_modules/app/index.js"


def project(tmp_path: Path, files: dict[str, str], **scripts: str) -> Path:
    """The start-programs fixture (npm's lockfile) with `files` and the root's `scripts`."""
    source = tmp_path / "svc"
    shutil.copytree(FIXTURE, source)
    manifest = json.loads((source / "package.json").read_text())
    manifest["scripts"] = scripts
    (source / "package.json").write_text(json.dumps(manifest))
    for name, text in files.items():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_text(text)
    return source


def git_commit(source: Path) -> None:
    """Make `source` a git checkout with every file but its .gitignore'd ones tracked."""
    for args in (["init", "-q"], ["add", "-A"],
                 ["-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "x"]):
        subprocess.run(["git", "-C", str(source), *args], check=True, capture_output=True)


def shape(source: Path, **flags: object) -> Shape:
    """The shape of `source` with `flags`."""
    settings = load_settings({"source": str(source), **flags}, {})
    return shape_of(settings, NodeProject.load(source))


def refusal(source: Path, **flags: object) -> str:
    """The shape's refusal sentences."""
    with pytest.raises(ExceptionGroup) as caught:
        shape(source, **flags)
    return " | ".join(str(e) for e in caught.value.exceptions)


def test_tracked_node_modules_code_ships_and_installs_do_not(tmp_path: Path) -> None:
    """Without .dockerignore: the app's code under packages/node_modules ships; the root's
    node_modules and a folder the host installed into (it holds npm's metadata) do not."""
    source = project(tmp_path, {
        APP: "", "node_modules/ms/index.js": "",
        "tools/node_modules/.package-lock.json": "{}", "tools/node_modules/x/index.js": "",
    }, start=f"node {APP}")
    files = shape(source).files
    assert files.ships(source, APP)
    assert not files.ships(source, "node_modules/ms/index.js")
    assert not files.ships(source, "tools/node_modules/x/index.js")
    assert files.installs == ("node_modules", "tools/node_modules")
    assert files.tracked_modules == ("packages/node_modules",)


def test_dockerignore_drop_of_tracked_code_is_refused_even_with_a_build_step(
        tmp_path: Path) -> None:
    """`**/node_modules` in .dockerignore drops the app's tracked code: refused although a
    build step exists (it cannot recreate excluded source); the suggested --include works."""
    source = project(tmp_path, {APP: "", ".dockerignore": "**/node_modules\n"},
                     start=f"node {APP}", build="node -e 0")
    git_commit(source)
    message = refusal(source)
    assert "is excluded from the image by .dockerignore: add it with --include " \
           "packages/node_modules" in message, message
    assert shape(source, include="packages/node_modules").files.ships(source, APP)


def test_excluded_build_output_is_left_to_the_build(tmp_path: Path) -> None:
    """dist/main.js excluded by .dockerignore but git-ignored (a build output) plans: the build
    step makes it; without a build step it is refused."""
    files = {"dist/main.js": "", ".dockerignore": "dist\n", ".gitignore": "dist/\n"}
    source = project(tmp_path, files, start="node dist/main.js", build="node -e 0")
    git_commit(source)
    assert build_output(source, "dist/main.js")
    assert shape(source).start.file == "dist/main.js"
    assert "--include dist" in refusal(source, build_script="none")


def test_start_file_in_the_managers_node_modules_is_named(tmp_path: Path) -> None:
    """A start file inside the root's node_modules, which the install replaces, is refused
    with that reason (no --include can bring it back)."""
    source = project(tmp_path, {"node_modules/app/index.js": ""},
                     start="node node_modules/app/index.js")
    assert "a node_modules folder the package manager creates" in refusal(source)


def test_include_overrides_every_default_exclude(tmp_path: Path) -> None:
    """--include re-includes what the defaults drop (test/, .env.production, .git) but never
    the manager's node_modules."""
    files = app_files(tmp_path, include=["test/fixtures", ".env.production", ".git/HEAD",
                                         "node_modules"])
    for path in ("test/fixtures/a.json", ".env.production", ".git/HEAD"):
        assert not excluded(path, files.excludes), path
    assert excluded("test/unit.js", files.excludes)
    assert excluded("node_modules/x/index.js", files.excludes)
