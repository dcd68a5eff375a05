"""Reading package.json and the project's lockfile into plain entries.

`load_project` asks `pipelines.packagers.detect` which manager the project uses and lets that
manager read its lockfile; npm's package-lock.json (versions 2 and 3) is read here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipelines.audit.model import AuditError

if TYPE_CHECKING:
    from pipelines.packagers.base import Packager

_ROOT_DEP_FIELDS = ("dependencies", "devDependencies", "optionalDependencies")


@dataclass(frozen=True, slots=True)
class LockEntry:
    """One `packages` entry of the lockfile, with the fields the audit reads."""

    path: str
    name: str
    version: str
    dev: bool
    optional: bool
    has_install_script: bool
    os: tuple[str, ...]
    cpu: tuple[str, ...]
    libc: tuple[str, ...]
    dependencies: Mapping[str, str]
    optional_dependencies: Mapping[str, str]
    resolved: str | None
    local: bool  # a file: or workspace package whose source is in the tree
    # Where each dependency name resolves to (entry paths), for layouts Node's walk up
    # node_modules cannot compute from the path alone (pnpm's .pnpm store); empty for npm.
    links: Mapping[str, str] = field(default_factory=dict)
    # False when the lockfile format records no install scripts at all (pnpm v9, yarn), so
    # `has_install_script` is a guess from the dependencies, not a fact.
    scripts_known: bool = True
    # False when the manager is configured never to run this package's install scripts
    # (pnpm onlyBuiltDependencies/neverBuiltDependencies, yarn dependenciesMeta built: false).
    build: bool = True
    # False when os/cpu/libc were read from the package's name (yarn 1 records none); the
    # registry's version document replaces them when the audit reads it.
    platform_known: bool = True

    @property
    def constrained(self) -> bool:
        """True when the entry declares os, cpu or libc: npm skips it on other platforms."""
        return bool(self.os or self.cpu or self.libc)


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
    from pipelines.audit.focus import focus_entries  # noqa: PLC0415 - focus imports us
    from pipelines.packagers.detect import detect  # noqa: PLC0415 - packagers import the audit
    from pipelines.project.workspace import find_workspace  # noqa: PLC0415 - imports packagers

    if not source.is_dir():
        raise AuditError(f"source {source} is not a directory")
    manifest = read_json(source / "package.json", "package.json")
    packager = detect(source, manifest)
    entries = packager.read_lockfile(source, manifest)
    if not workspace:
        return Project(source, manifest, entries, packager)
    focus = find_workspace(source, manifest, packager, workspace).focus
    return Project(source, manifest, focus_entries(source, entries, focus.path), packager,
                   scope=focus.paths)


def read_npm_lockfile(
    source: Path, manifest: Mapping[str, Any], filename: str = "package-lock.json"
) -> dict[str, LockEntry]:
    """package-lock.json (or npm-shrinkwrap.json) versions 2 and 3, checked against package.json."""
    lock_path = source / filename
    lock = read_json(lock_path, filename)
    version = lock.get("lockfileVersion")
    if version == 1 or (version in (2, 3) and not isinstance(lock.get("packages"), dict)):
        raise AuditError(
            f"{lock_path} is lockfile version 1 (npm 6): regenerate it with npm 7 or later "
            "(`npm install --package-lock-only`)")
    if version not in (2, 3):
        raise AuditError(f"{lock_path} has unknown lockfileVersion {version!r}: expected 2 or 3")
    entries = _entries(lock["packages"], lock_path)
    _check_in_sync(manifest, lock["packages"].get(""), lock_path)
    return entries


def read_text(path: Path, what: str) -> str:
    """The text of a manifest or lockfile, or an AuditError saying it is absent or unreadable."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AuditError(f"{path.parent} has no {what}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise AuditError(f"cannot read {path}: {error}") from None


def read_json(path: Path, what: str) -> dict[str, Any]:
    """A JSON object from `path`, or an AuditError naming the file and the line."""
    text = read_text(path, what)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise AuditError(
            f"{path} is not valid JSON (line {error.lineno}: {error.msg}): restore it or "
            "regenerate it with npm") from None
    if not isinstance(data, dict):
        raise AuditError(f"{path} is not a JSON object")
    return data


def _entries(packages: Mapping[str, Any], lock_path: Path) -> dict[str, LockEntry]:
    entries: dict[str, LockEntry] = {}
    for key, raw in packages.items():
        if not isinstance(raw, dict):
            raise AuditError(f"{lock_path}: entry {key!r} is not an object")
        if raw.get("link"):
            continue  # the link target has its own entry under its real path
        entries[key] = _entry(key, raw, lock_path)
    return entries


def _entry(key: str, raw: Mapping[str, Any], lock_path: Path) -> LockEntry:
    version = raw.get("version", "")
    if not isinstance(version, str):
        raise AuditError(f"{lock_path}: entry {key!r} has a non-string version")
    name = raw.get("name") or key.rpartition("node_modules/")[2] or key
    return LockEntry(
        path=key, name=str(name), version=version,
        dev=bool(raw.get("dev")),
        optional=bool(raw.get("optional") or raw.get("devOptional")),
        has_install_script=bool(raw.get("hasInstallScript")),
        os=strings(raw.get("os")), cpu=strings(raw.get("cpu")), libc=strings(raw.get("libc")),
        dependencies=mapping(raw.get("dependencies")),
        optional_dependencies=mapping(raw.get("optionalDependencies")),
        resolved=raw.get("resolved") if isinstance(raw.get("resolved"), str) else None,
        local=key != "" and "node_modules/" not in key,
    )


def strings(value: Any) -> tuple[str, ...]:
    """A string or a list of them as a tuple; anything else as ()."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    return ()


def mapping(value: Any) -> Mapping[str, str]:
    """A JSON/YAML object as str -> str; anything else as {}."""
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def _check_in_sync(manifest: Mapping[str, Any], root: Any, lock_path: Path) -> None:
    """npm ci refuses a lockfile whose root dependencies differ from package.json; so do we."""
    if not isinstance(root, dict):
        raise AuditError(f"{lock_path} has no root entry (\"\"): regenerate it with npm")
    wanted = declared(manifest)
    locked = declared(root)
    for name, spec in wanted.items():
        if name not in locked:
            raise AuditError(
                f"package.json and {lock_path.name} are out of sync: {name} is declared but "
                "not locked; run `npm install` and commit the lockfile")
        if locked[name] != spec:
            raise AuditError(
                f"package.json and {lock_path.name} are out of sync: {name} is {spec!r} in "
                f"package.json but {locked[name]!r} in the lockfile; run `npm install`")
    for name in locked:
        if name not in wanted:
            raise AuditError(
                f"package.json and {lock_path.name} are out of sync: {name} is locked but "
                "no longer declared; run `npm install` and commit the lockfile")


def declared(manifest: Mapping[str, Any]) -> dict[str, str]:
    """Every dependency a manifest declares (prod, dev, optional), name -> spec."""
    found: dict[str, str] = {}
    for fieldname in _ROOT_DEP_FIELDS:
        found |= mapping(manifest.get(fieldname))
    return found
