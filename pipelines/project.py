"""The Node.js project being built: what its package.json and lockfile say, read once."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.errors import InputError

OTHER_LOCKFILES = {"pnpm-lock.yaml": "pnpm", "yarn.lock": "yarn", "bun.lockb": "bun"}


class ProjectError(InputError):
    """A source directory that is not a buildable npm project."""


@dataclass(frozen=True)
class NodeProject:
    """The parts of a Node.js project the plan needs."""

    source: Path
    name: str
    scripts: frozenset[str]

    @property
    def compiles_bindings(self) -> bool:
        """Whether the project builds its own addon with `npm run compile:bindings`."""
        return "compile:bindings" in self.scripts

    @classmethod
    def load(cls, source: Path) -> NodeProject:
        """Read `source`; one sentence when it is not an npm project with a lockfile."""
        if not source.is_dir():
            raise ProjectError(
                f"source directory {source} does not exist: pass the service's root as SOURCE"
            )
        manifest = source / "package.json"
        if not manifest.is_file():
            raise ProjectError(
                f"{source} has no package.json: point --source at the Node.js service's root"
            )
        data = _read_json(manifest)
        if not (source / "package-lock.json").is_file():
            others = [tool for file, tool in OTHER_LOCKFILES.items() if (source / file).exists()]
            hint = f" ({others[0]} lockfiles are not supported yet)" if others else ""
            raise ProjectError(
                f"{source} has no package-lock.json{hint}: run `npm install` there and commit "
                "the lockfile, so every platform installs the same versions"
            )
        scripts = data.get("scripts") or {}
        if "compile" not in scripts:
            raise ProjectError(
                f"{manifest} has no `compile` script: add one that builds dist/ "
                '(for example "compile": "tsc")'
            )
        name = data.get("name")
        return cls(
            source=source,
            name=name if isinstance(name, str) and name else source.resolve().name,
            scripts=frozenset(scripts),
        )


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ProjectError(f"cannot read {path}: {error.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ProjectError(f"{path} is not valid JSON ({error}): fix the file") from None
    if not isinstance(data, dict):
        raise ProjectError(f"{path} does not hold a JSON object: fix the file")
    return data
