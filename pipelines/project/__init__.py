"""The Node.js project being built: what its package.json, lockfile and dotfiles say, read once.

`NodeProject.load` reads facts; `pipelines.project.shape` turns them and the settings into the
decisions the plan needs (build step, files, start command, Node version).

May import `packagers/`, `settings` and the floor; never the audit, the plan or Dagger.
"""

from __future__ import annotations

import functools
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pipelines.packagers import Packager, detect
from pipelines.packagers.lockfiles.entry import LockEntry
from pipelines.project.manifest import LIFECYCLE, ProjectError, lifecycle, read_json
from pipelines.project.node_version import NodeVersion, node_version
from pipelines.project.workspace import Workspace, find_workspace

__all__ = ["LIFECYCLE", "NodeProject", "ProjectError", "lifecycle", "read_json"]


# node-gyp told its folder: `--directory DIR`, `--directory=DIR`, `-C DIR`, or `cd DIR && node-gyp`.
_GYP_FOLDER = re.compile(
    r"^\s*node-gyp\s+(?:[\w-]+\s+)*?(?:--directory[=\s]|-C\s+)([\w./-]+)(?:\s+[\w-]+)*\s*$"
    r"|^\s*cd\s+([\w./-]+)\s*&&\s*node-gyp\b[^&|;]*$")


@dataclass(frozen=True)
class NodeProject:
    """The parts of a Node.js project the plan needs.

    `name`, `scripts`, `main` and `program` (the one file its `bin` names) are the
    service's: the root's, or with a workspace, those of its package; `manifest` is always the
    root's package.json, which the lockfile belongs to.
    """

    source: Path
    name: str
    scripts: Mapping[str, str]
    main: str | None
    packager: Packager
    node: NodeVersion
    manifest: Mapping[str, Any] = field(default_factory=dict, repr=False)
    workspace: Workspace | None = None
    program: str | None = None

    @functools.cached_property
    def lock_entries(self) -> Mapping[str, LockEntry]:
        """The lockfile's packages, read once (the shape, the generator and the plan read it)."""
        return self.packager.read_lockfile(self.source, self.manifest)

    @property
    def service_path(self) -> str:
        """The service's folder relative to the root: "" unless it is a workspace package."""
        return self.workspace.service.path if self.workspace else ""

    @property
    def service_dir(self) -> Path:
        """The service's folder."""
        return self.source / self.service_path if self.service_path else self.source

    def relative(self, path: str) -> str:
        """A path of the service's folder as a path relative to the root."""
        return f"{self.service_path}/{path}" if self.service_path else path

    @property
    def compiles_bindings(self) -> bool:
        """Whether the project builds its own addon with its `compile:bindings` script."""
        return "compile:bindings" in self.scripts

    @property
    def bindings_folder(self) -> str | None:
        """The folder `compile:bindings` builds in, relative to the service, when it names one
        (`node-gyp rebuild --directory native`, `-C native`, `cd native && node-gyp ...`):
        its sources are what the addon sees. None: the whole source."""
        script = self.scripts.get("compile:bindings", "")
        found = _GYP_FOLDER.search(script)
        if not found:
            return None
        folder = posixpath.normpath(next(g for g in found.groups() if g).strip("/"))
        return None if folder in {".", ""} or folder.startswith("..") else folder

    @property
    def lifecycle_scripts(self) -> tuple[str, ...]:
        """The service's own install-time scripts, in npm's order."""
        return lifecycle(self.scripts)

    @classmethod
    def load(cls, source: Path, workspace: str | None = None) -> NodeProject:
        """Read `source` (for the workspace package `workspace`, if given); one sentence when
        it is not a Node.js project with a lockfile."""
        if not source.is_dir():
            raise ProjectError(
                f"source directory {source} does not exist: pass the service's root as SOURCE"
            )
        manifest_path = source / "package.json"
        if not manifest_path.is_file():
            raise ProjectError(
                f"{source} has no package.json: point SOURCE at the Node.js service's root"
            )
        data = read_json(manifest_path)
        scripts = data.get("scripts") or {}
        if not isinstance(scripts, dict):
            raise ProjectError(f"{manifest_path}: scripts is not an object; fix the file")
        name = data.get("name")
        project = cls(
            source=source,
            name=name if isinstance(name, str) and name else source.resolve().name,
            scripts={str(k): str(v) for k, v in scripts.items()},
            main=own_main(data),
            program=own_program(data),
            packager=detect(source, data),
            node=node_version(source, data),
            manifest=data,
        )
        return project.for_workspace(workspace) if workspace else project

    def for_workspace(self, wanted: str) -> NodeProject:
        """This project seen as its workspace package `wanted`."""
        found = find_workspace(self.source, self.manifest, self.packager, wanted)
        service = found.service
        own = node_version(self.source / service.path, service.manifest)
        return replace(
            self,
            name=service.name,
            scripts=service.scripts,
            main=own_main(service.manifest),
            program=own_program(service.manifest),
            packager=replace(self.packager, focus=found.focus),  # type: ignore[type-var]
            node=own if own.source != "default" else self.node,
            workspace=found,
        )


def own_main(manifest: Mapping[str, Any]) -> str | None:
    """package.json's `main`, when it names a file."""
    main = manifest.get("main")
    return main if isinstance(main, str) and main.strip() else None


def own_program(manifest: Mapping[str, Any]) -> str | None:
    """The file package.json's `bin` names when it names one program: a string, a single
    entry, or the entry named as the package (without its scope); else None."""
    bin_ = manifest.get("bin")
    if isinstance(bin_, str):
        return bin_.strip() or None
    if not isinstance(bin_, dict) or not bin_:
        return None
    name = str(manifest.get("name") or "").rsplit("/", 1)[-1]
    file = next(iter(bin_.values())) if len(bin_) == 1 else bin_.get(name)
    return file.strip() or None if isinstance(file, str) else None
