"""The audit's view of a source tree: its manifest, package manager and lockfile entries."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.audit.focus import focus_entries
from pipelines.audit.model import AuditError
from pipelines.packagers import Packager, detect
from pipelines.packagers.lockfiles.entry import LockEntry, LockfileError, read_json
from pipelines.project.workspace import find_workspace


@dataclass(frozen=True)
class Project:
    """A source tree's manifest, its package manager and its lockfile's entries."""

    root: Path
    manifest: Mapping[str, Any]
    entries: Mapping[str, LockEntry]  # by node_modules path ("" is the project itself)
    packager: Packager
    # With --workspace: the folders of the workspace packages that are installed (the
    # service's and the local packages it reaches); the project's own addons are there.
    scope: tuple[str, ...] = ()


def load_project(source: Path, workspace: str | None = None) -> Project:
    """Read `source`/package.json, detect its package manager and read its lockfile (as the
    workspace package `workspace` installs it, if given); raise AuditError or PackagerError
    (both exit 2) with one sentence otherwise."""
    if not source.is_dir():
        raise AuditError(f"source {source} is not a directory")
    try:
        return _load(source, workspace)
    except LockfileError as error:
        raise AuditError(str(error)) from None


def _load(source: Path, workspace: str | None) -> Project:
    manifest = read_json(source / "package.json", "package.json")
    packager = detect(source, manifest)
    entries = packager.read_lockfile(source, manifest)
    if not workspace:
        return Project(source, manifest, entries, packager)
    focus = find_workspace(source, manifest, packager, workspace).focus
    return Project(source, manifest, focus_entries(source, entries, focus.path), packager,
                   scope=focus.paths)
