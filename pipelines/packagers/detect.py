"""Which package manager a project uses: its lockfile and its `packageManager` field."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from pipelines.errors import InputError
from pipelines.packagers.base import Packager
from pipelines.packagers.npm import Npm
from pipelines.packagers.pnpm import Pnpm
from pipelines.packagers.yarn import YarnBerry, YarnClassic

LOCKFILES = {"npm-shrinkwrap.json": "npm", "package-lock.json": "npm", "pnpm-lock.yaml": "pnpm",
             "yarn.lock": "yarn", "bun.lock": "bun", "bun.lockb": "bun"}
SUPPORTED = ("npm", "pnpm", "yarn")
# corepack's form: name@version, optionally +sha512.<hex> (or another algorithm).
_PACKAGE_MANAGER = re.compile(r"^(?P<name>[a-z]+)@(?P<version>[0-9][^+\s]*)(?P<hash>\+\S+)?$")
# Versions that read each lockfile format when package.json pins none (verified here).
PNPM_FOR_LOCKFILE = {"9": "9.15.9", "6": "8.15.9"}
PNPM_10 = "10.34.9"
YARN_CLASSIC = "1.22.22"
YARN_BERRY = {4: "2.4.3", 6: "3.8.7"}  # __metadata.version; 8 and later: yarn 4
YARN_4 = "4.18.1"


class PackagerError(InputError):
    """No usable lockfile, two of them, or one that disagrees with `packageManager`."""


def detect(root: Path, manifest: Mapping[str, Any]) -> Packager:
    """The project's package manager, from the lockfile in `root` and `packageManager`."""
    pinned = _package_manager(manifest)
    present = [file for file in LOCKFILES if (root / file).is_file()]
    tools = list(dict.fromkeys(LOCKFILES[file] for file in present))
    if "bun" in tools:
        raise PackagerError(f"{root} uses bun ({present[tools.index('bun')]}), which is not "
                            "supported: use npm, pnpm or yarn and commit its lockfile")
    if len(tools) > 1:
        files = " and ".join(present)
        raise PackagerError(f"{root} has lockfiles of two package managers ({files}): delete "
                            "the one the project does not use, so every platform installs alike")
    if not tools:
        tool = pinned[0] if pinned else "npm"
        raise PackagerError(
            f"{root} has no lockfile: run `{tool} install` there and commit the lockfile, so "
            "every platform installs the same versions")
    tool, lockfile = tools[0], present[0]
    if pinned and pinned[0] != tool:
        raise PackagerError(
            f"package.json's packageManager is {pinned[0]}@{pinned[1]} but the lockfile is "
            f"{lockfile} ({tool}): make them agree (`{pinned[0]} install` and commit its "
            "lockfile, or fix packageManager)")
    version, integrity = (pinned[1], pinned[2]) if pinned else ("", "")
    if tool == "npm":
        return Npm(version=version, lockfile=lockfile,
                   workspaces=bool(manifest.get("workspaces")))
    if tool == "pnpm":
        return Pnpm(version=version or _pnpm_version(root), integrity=integrity)
    return _yarn(root, version, integrity)


def _package_manager(manifest: Mapping[str, Any]) -> tuple[str, str, str] | None:
    value = manifest.get("packageManager")
    if value is None:
        return None
    match = _PACKAGE_MANAGER.match(value) if isinstance(value, str) else None
    if match is None:
        raise PackagerError(f"package.json's packageManager {value!r} is not name@version "
                            "(for example pnpm@9.15.9): fix it as corepack expects")
    if match["name"] not in SUPPORTED:
        raise PackagerError(f"package.json's packageManager names {match['name']}, which is "
                            "not supported: use npm, pnpm or yarn")
    return match["name"], match["version"], match["hash"] or ""


def _head(path: Path) -> str:
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            return handle.read(4096)
    except OSError as error:
        raise PackagerError(f"cannot read {path}: {error.strerror}") from None


def _pnpm_version(root: Path) -> str:
    """pnpm 8 for lockfile 6.0; pnpm 9 for 9.0, or 10 when pnpm-workspace.yaml carries the
    settings only pnpm 10 reads there (onlyBuiltDependencies after `pnpm approve-builds`)."""
    found = re.search(r"^lockfileVersion: '?(\d+)", _head(root / "pnpm-lock.yaml"), re.M)
    if found is None or found[1] not in PNPM_FOR_LOCKFILE:
        what = f"lockfileVersion {found[1]}" if found else "no lockfileVersion"
        raise PackagerError(f"{root / 'pnpm-lock.yaml'} has {what}: regenerate it with pnpm 8 "
                            "or later, or pin the version in package.json's packageManager")
    workspace = root / "pnpm-workspace.yaml"
    if found[1] == "9" and workspace.is_file() and re.search(
            r"^(onlyBuiltDependencies|allowBuilds|ignoredBuiltDependencies):",
            _head(workspace), re.M):
        return PNPM_10
    return PNPM_FOR_LOCKFILE[found[1]]


def _yarn(root: Path, version: str, integrity: str) -> Packager:
    head = _head(root / "yarn.lock")
    metadata = re.search(r"^__metadata:\s*\n\s+version: (\d+)", head, re.M)
    if metadata is None and "# yarn lockfile v1" not in head:
        raise PackagerError(f"{root / 'yarn.lock'} is neither a yarn 1 nor a yarn 2+ lockfile: "
                            "restore it or regenerate it with `yarn install`")
    berry = metadata is not None
    if version and (version.split(".", maxsplit=1)[0] != "1") != berry:
        kind = "yarn 2+" if berry else "yarn 1"
        raise PackagerError(f"package.json's packageManager is yarn@{version} but yarn.lock is "
                            f"a {kind} lockfile: run `yarn install` with yarn {version} and "
                            "commit the lockfile")
    if not berry:
        return YarnClassic(version=version or YARN_CLASSIC, integrity=integrity)
    assert metadata is not None
    rc = _yarnrc(root)
    linker = rc.get("nodeLinker", "pnp")
    if linker != "node-modules":
        raise PackagerError(
            f"{root} uses yarn's {linker} linker (nodeLinker in .yarnrc.yml), which builds no "
            "node_modules for the image: set `nodeLinker: node-modules` there and run "
            "`yarn install`")
    scripts = rc.get("enableScripts")
    return YarnBerry(version=version or YARN_BERRY.get(int(metadata[1]), YARN_4),
                     integrity=integrity,
                     enable_scripts=scripts if isinstance(scripts, bool) else None)


def _yarnrc(root: Path) -> dict[str, Any]:
    path = root / ".yarnrc.yml"
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        raise PackagerError(f"{path} is not valid YAML: fix it") from None
    return data if isinstance(data, dict) else {}
