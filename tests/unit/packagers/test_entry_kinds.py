"""Lockfile entries read by what they are, one reader for every manager: a package installed
under some node_modules/, a workspace or file: folder (source, never an installed package), and
a link to such a folder. The `file-dev*` fixtures hold a `file:spec/dependencies/mock-adapter`
devDependency, each lockfile written by its manager."""

from __future__ import annotations

import json

import pytest

from pipelines.packagers import detect
from pipelines.packagers.lockfiles.entry import LockEntry, installed
from pipelines.plan.prepare import prepare
from pipelines.platforms import Platform
from pipelines.settings import load_settings
from tests.conftest import REPO

FIXTURES = REPO / "tests" / "fixtures"


def entries(case: str) -> dict[str, LockEntry]:
    """The entries of a fixture's lockfile, as the project's manager reads them."""
    source = FIXTURES / case
    manifest = json.loads((source / "package.json").read_text())
    return dict(detect(source, manifest).read_lockfile(source, manifest))


def test_npm_file_folder_is_a_folder_linked_from_node_modules() -> None:
    """npm: the folder entry is source (kind folder), named by its folder; the link
    node_modules/mock-adapter is where it is installed."""
    found = entries("lockfiles/file-dev")
    folder = found["spec/dependencies/mock-adapter"]
    assert (folder.kind, folder.name, folder.dev) == ("folder", "mock-adapter", True)
    assert folder.link_paths == ("node_modules/mock-adapter",)
    assert found["node_modules/ms"].kind == "package"
    assert found[""].kind == "root"
    assert dict(installed(found)) == {"node_modules/mock-adapter": folder,
                                      "node_modules/ms": found["node_modules/ms"]}


@pytest.mark.parametrize(("case", "path"), [
    ("lockfiles/file-dev-pnpm10", "node_modules/.pnpm/mock-adapter@file+spec+dependencies+"
                                  "mock-adapter/node_modules/mock-adapter"),
    ("lockfiles/file-dev-yarn1", "node_modules/mock-adapter"),
    ("lockfiles/file-dev-yarn4", "node_modules/mock-adapter"),
])
def test_pnpm_and_yarn_copy_a_file_folder_as_a_package(case: str, path: str) -> None:
    """pnpm and yarn install a file: folder as a copy: a package entry under node_modules."""
    where = dict(installed(entries(case)))
    assert where[path].name == "mock-adapter" and where[path].kind == "package"
    assert where[path].dev
    assert not any(p.startswith("spec/") for p in where)


@pytest.mark.parametrize(("case", "link"), [
    ("services/npm-workspace", "node_modules/@demo/shared"),
    ("services/pnpm-workspace", "packages/api/node_modules/@demo/shared"),
    ("services/yarn4-workspace", "packages/api/node_modules/@demo/shared"),
])
def test_workspace_packages_are_folders_installed_as_links(case: str, link: str) -> None:
    """A workspace package is a folder; what installs it is the link to it."""
    found = entries(case)
    assert found["packages/shared"].kind == "folder"
    assert dict(installed(found))[link] is found["packages/shared"]


@pytest.mark.parametrize("case", ["file-dev", "file-dev-pnpm10", "file-dev-yarn1",
                                  "file-dev-yarn4"])
def test_hygiene_is_told_installed_paths_only(case: str) -> None:
    """The plan's dev list names mock-adapter where it would be installed, never its source
    folder (the `ncies/mock-adapter@1.0.0` false failure)."""
    settings = load_settings({"source": str(FIXTURES / "lockfiles" / case),
                              "start_command": "node,-e,0"}, {})
    plan = prepare(settings, Platform.parse("linux/amd64"), audit={})
    packages = json.loads(plan.dev_lockfile())["packages"]
    assert [v["name"] for v in packages.values()] == ["mock-adapter"]
    assert all("node_modules/" in path for path in packages)
