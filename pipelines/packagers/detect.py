"""Which package manager a project uses: its lockfile and its `packageManager` field."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipelines.errors import InputError
from pipelines.packagers.base import Packager
from pipelines.packagers.npm import Npm

NPM_LOCKFILES = ("package-lock.json", "npm-shrinkwrap.json")
UNSUPPORTED = {"pnpm-lock.yaml": "pnpm", "yarn.lock": "yarn", "bun.lockb": "bun",
               "bun.lock": "bun"}


class PackagerError(InputError):
    """No usable lockfile, two of them, or one that disagrees with `packageManager`."""


def detect(root: Path, manifest: Mapping[str, Any]) -> Packager:
    """The project's package manager, from the lockfile in `root` and `packageManager`."""
    npm = [name for name in NPM_LOCKFILES if (root / name).is_file()]
    if npm:
        return Npm(lockfile=npm[-1])  # npm itself prefers npm-shrinkwrap.json
    others = [tool for file, tool in UNSUPPORTED.items() if (root / file).exists()]
    hint = f" ({others[0]} lockfiles are not supported yet)" if others else ""
    raise PackagerError(
        f"{root} has no package-lock.json{hint}: run `npm install` there and commit the "
        "lockfile, so every platform installs the same versions"
    )
