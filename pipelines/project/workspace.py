"""One package of an npm, pnpm or yarn workspace as the service to build (`--workspace NAME`).

The lockfile stays at the root; the service's package.json is in its folder. The image holds
the root's node_modules and, of the workspace packages, the service and the local packages its
production dependencies reach (each built by its own `build` script first), nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.errors import InputError
from pipelines.packagers.base import Focus, Packager
from pipelines.packagers.lockfiles.graph import workspace_dirs
from pipelines.project.manifest import read_json

# Dependency fields whose local packages ship with the service (devDependencies never do).
_PRODUCTION_FIELDS = ("dependencies", "optionalDependencies", "peerDependencies")


class WorkspaceError(InputError):
    """A --workspace that names no package of the project's workspace."""


@dataclass(frozen=True)
class Member:
    """One workspace package: its name, folder (relative to the root) and package.json."""

    name: str
    path: str
    manifest: Mapping[str, Any]

    @property
    def scripts(self) -> Mapping[str, str]:
        """Its package.json scripts."""
        scripts = self.manifest.get("scripts")
        return {str(k): str(v) for k, v in scripts.items()} if isinstance(scripts, dict) else {}


@dataclass(frozen=True)
class Workspace:
    """The service's workspace package and the local packages it needs in production."""

    service: Member
    # The local packages the service's production dependencies reach, dependencies before
    # their dependents; the service itself is last.
    members: tuple[Member, ...]

    @property
    def focus(self) -> Focus:
        """What the package manager needs to install for this service alone."""
        return Focus(self.service.name, self.service.path, tuple(m.path for m in self.members))


def find_workspace(root: Path, manifest: Mapping[str, Any], packager: Packager,
                   wanted: str) -> Workspace:
    """The workspace package `wanted` (its name or its folder), or one sentence why not."""
    if not packager.workspace_globs(root, manifest):
        where = "pnpm-workspace.yaml" if packager.name == "pnpm" else "package.json"
        raise WorkspaceError(
            f"--workspace {wanted} was given but {root} declares no workspaces (in {where}): "
            "point SOURCE at the workspace root, or drop --workspace")
    members = [read_member(root, path) for path in member_paths(root, manifest, packager)]
    by_name = {m.name: m for m in members}
    key = wanted.strip().removeprefix("./").rstrip("/")
    service = by_name.get(key) or next((m for m in members if m.path == key), None)
    if service is None:
        known = ", ".join(sorted(by_name)) or "none"
        raise WorkspaceError(
            f"--workspace {wanted}: no workspace package of {root} has that name or folder "
            f"(packages: {known})")
    return Workspace(service, tuple(_closure(service, by_name)))


def member_paths(root: Path, manifest: Mapping[str, Any], packager: Packager) -> tuple[str, ...]:
    """The folders (relative to the root) of every workspace package the project declares."""

    globs = packager.workspace_globs(root, manifest)
    return tuple(d.relative_to(root).as_posix() for d in workspace_dirs(root, globs))


def read_member(root: Path, path: str) -> Member:
    """The workspace package in folder `path` (relative to the root)."""
    data = read_json(root / path / "package.json")
    name = data.get("name")
    return Member(name if isinstance(name, str) and name else path, path, data)


def _closure(service: Member, by_name: Mapping[str, Member]) -> list[Member]:
    """The service and the local packages its production dependencies reach, depth first,
    so that every package comes after those it depends on (cycles are cut where met)."""
    order: list[Member] = []
    seen: set[str] = set()

    def visit(member: Member) -> None:
        seen.add(member.name)
        for name in _production_names(member.manifest):
            if name in by_name and name not in seen:
                visit(by_name[name])
        order.append(member)

    visit(service)
    return order


def _production_names(manifest: Mapping[str, Any]) -> list[str]:
    names: dict[str, None] = {}
    for field in _PRODUCTION_FIELDS:
        value = manifest.get(field)
        if isinstance(value, dict):
            names |= dict.fromkeys(str(k) for k in value)
    return sorted(names)
