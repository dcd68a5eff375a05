"""Node majors are one rule: each maps to an official image tag that exists, or both
`pipelines.build` and `pipelines.audit` refuse, naming where the major came from and the flag and
variable that override it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.platforms import NODE_SLIM_RELEASES, node_base_image
from pipelines.project import NodeProject
from pipelines.project.shape import shape_of
from pipelines.settings import load_settings
from tests.conftest import REPO

FIXTURE = REPO / "tests" / "fixtures" / "services" / "start-programs"


def project(tmp_path: Path, files: dict[str, str] | None = None,
            engines: str | None = None) -> Path:
    """The start-programs fixture with `files` (.nvmrc ...) and an engines.node range."""
    source = tmp_path / "svc"
    shutil.copytree(FIXTURE, source)
    for name, text in (files or {}).items():
        (source / name).write_text(text)
    if engines:
        manifest = json.loads((source / "package.json").read_text())
        (source / "package.json").write_text(json.dumps({**manifest, "engines": {
            "node": engines}}))
    return source


def base_image(source: Path, **flags: object) -> str:
    """The plan's base image for `source`; fails when the shape is refused."""
    settings = load_settings({"source": str(source), **flags}, {})
    return shape_of(settings, NodeProject.load(source)).base_image


def refusal(source: Path, **flags: object) -> str:
    """The shape's refusal sentences for `source`."""
    settings = load_settings({"source": str(source), **flags}, {})
    with pytest.raises(ExceptionGroup) as caught:
        shape_of(settings, NodeProject.load(source))
    return " | ".join(str(e) for e in caught.value.exceptions)


def test_bookworm_where_the_major_has_it_else_the_newest_debian() -> None:
    """16 and 18-26 are bookworm; 12, 14, 17 and 19 bullseye; 13 and 15 buster; 10 none."""
    assert node_base_image(22) == "node:22-bookworm-slim"
    assert node_base_image(16) == "node:16-bookworm-slim"
    assert node_base_image(12) == "node:12-bullseye-slim"
    assert node_base_image(15) == "node:15-buster-slim"
    assert node_base_image(10) is None
    assert set(NODE_SLIM_RELEASES.values()) == {"bookworm", "bullseye", "buster"}


@pytest.mark.parametrize(("files", "engines", "flags", "wanted"), [
    ({".nvmrc": "12\n"}, None, {}, "node:12-bullseye-slim"),
    ({}, "^14.17", {}, "node:14-bullseye-slim"),
    ({}, None, {"node_major": 14}, "node:14-bullseye-slim"),
    ({".nvmrc": "10"}, None, {"base_image": "registry.example/node:10"},
     "registry.example/node:10"),
])
def test_old_majors_plan_on_the_image_that_exists(
        tmp_path: Path, files: dict, engines: str | None, flags: dict, wanted: str) -> None:
    """.nvmrc 12, engines ^14 and --node-major 14 plan on their bullseye image; any major
    plans on an image the user names."""
    assert base_image(project(tmp_path, files, engines), **flags) == wanted


@pytest.mark.parametrize(("files", "engines", "flags", "origin"), [
    ({".nvmrc": "v10.24.1"}, None, {}, "from .nvmrc"),
    ({".node-version": "8"}, None, {}, "from .node-version"),
    ({}, "^10.0.0", {}, "from package.json engines.node"),
    ({}, None, {"node_major": 27}, "from the node_major setting"),
])
def test_a_major_without_an_image_is_refused_by_name(
        tmp_path: Path, files: dict, engines: str | None, flags: dict, origin: str) -> None:
    """The sentence names where the major came from, --node-major, NODEPIPE_NODE_MAJOR and
    --base-image."""
    message = refusal(project(tmp_path, files, engines), **flags)
    assert origin in message, message
    for words in ("has no official", "--node-major", "NODEPIPE_NODE_MAJOR", "--base-image"):
        assert words in message, message


def audit(source: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`python -m pipelines.audit SOURCE --offline ARGS` with `env` added."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("NODEPIPE_")}
    return subprocess.run(
        [sys.executable, "-m", "pipelines.audit", str(source), "--offline", *args],
        capture_output=True, text=True, check=False, cwd=REPO, timeout=120,
        env={**base, "npm_config_registry": "https://registry.invalid/", **env})


def test_audit_follows_the_same_rule(tmp_path: Path) -> None:
    """The audit takes .nvmrc 12 and --node 14, and refuses .nvmrc 10 naming .nvmrc and --node
    (a flag of its own), or the setting when NODEPIPE_NODE_MAJOR says 10."""
    old = project(tmp_path, {".nvmrc": "12"})
    assert audit(old).returncode == 0, audit(old).stderr
    assert audit(old, "--node", "14").returncode == 0
    (old / ".nvmrc").write_text("10\n")
    refused = audit(old)
    assert refused.returncode == 2
    assert "Node 10 (from .nvmrc) has no official" in refused.stderr
    assert "pass --node with one of those (NODEPIPE_NODE_MAJOR)" in refused.stderr
    assert "Traceback" not in refused.stderr
    by_setting = audit(project(tmp_path / "b"), NODEPIPE_NODE_MAJOR="10")
    assert "Node 10 (from the node_major setting)" in by_setting.stderr
    assert by_setting.returncode == 2


def test_build_print_refuses_with_exit_2(tmp_path: Path) -> None:
    """`pipelines.build --print` on .nvmrc 10 exits 2 with the sentence."""
    source = project(tmp_path, {".nvmrc": "10"})
    done = subprocess.run([sys.executable, "-m", "pipelines.build", str(source), "--print",
                           "--audit", "offline"], capture_output=True, text=True, check=False,
                          cwd=REPO, timeout=120)
    assert done.returncode == 2
    assert "ERROR Node 10 (from .nvmrc) has no official node:10-*-slim image" in done.stderr
