"""The project's own addons: binding.gyp files in the source tree outside node_modules."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from pipelines.audit.coverage import simple_verdicts
from pipelines.audit.model import Mechanism, PackageAudit, Target
from pipelines.audit.project import Project

_SKIP = {"node_modules", ".git", "dist", "build", ".tools", "coverage"}
_MAX_DEPTH = 3  # addons live at the root or in a native/ or packages/x/ directory


def own_addons(project: Project, targets: tuple[Target, ...]) -> list[PackageAudit]:
    """One COMPILE entry per binding.gyp the project builds itself, e.g. native/binding.gyp.

    Local packages the lockfile already lists (file: dependencies, workspaces) are audited as
    packages and left out here.
    """
    local = {path for path, entry in project.entries.items() if entry.local}
    name = str(project.manifest.get("name") or project.root.name)
    version = str(project.manifest.get("version") or "")
    addons = []
    for directory in _gyp_directories(project.root):
        relative = directory.relative_to(project.root).as_posix()
        if relative in local or not _in_scope(relative, project.scope):
            continue
        key = "." if relative == "." else relative
        evidence = (f"source tree: {key}/binding.gyp is the project's own addon; it is built "
                    "from source for each target",)
        addons.append(PackageAudit(
            f"{name} ({key})", version, key, dev=False, optional=False,
            mechanism=Mechanism.COMPILE, evidence=evidence,
            targets=simple_verdicts(Mechanism.COMPILE, targets), own=True))
    return addons


def _in_scope(relative: str, scope: tuple[str, ...]) -> bool:
    """Everything is in scope without a workspace; with one, its installed packages' folders."""
    return not scope or any(relative == p or relative.startswith(f"{p}/") for p in scope)


def _gyp_directories(root: Path) -> Iterator[Path]:
    for current, directories, files in os.walk(root):
        here = Path(current)
        depth = len(here.relative_to(root).parts)
        directories[:] = [] if depth >= _MAX_DEPTH else sorted(
            d for d in directories if d not in _SKIP and not d.startswith("."))
        if "binding.gyp" in files:
            yield here
