"""Reading package.json and package-lock.json (versions 2 and 3) into plain entries."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.audit.model import AuditError

OTHER_LOCKFILES = {
    "pnpm-lock.yaml": "pnpm",
    "yarn.lock": "yarn",
    "bun.lockb": "bun",
    "bun.lock": "bun",
}
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

    @property
    def constrained(self) -> bool:
        """True when the entry declares os, cpu or libc: npm skips it on other platforms."""
        return bool(self.os or self.cpu or self.libc)


@dataclass(frozen=True)
class Project:
    """A source tree's manifest and lockfile."""

    root: Path
    manifest: Mapping[str, Any]
    lockfile_version: int
    entries: Mapping[str, LockEntry]  # by lockfile key


def load_project(source: Path) -> Project:
    """Read `source`/package.json and its package-lock.json, or raise AuditError."""
    if not source.is_dir():
        raise AuditError(f"source {source} is not a directory")
    manifest = _read_json(source / "package.json", "package.json")
    lock_path = source / "package-lock.json"
    if not lock_path.is_file():
        _refuse_other_lockfiles(source)
        raise AuditError(
            f"{source} has no package-lock.json: run `npm install --package-lock-only` there "
            "and commit the lockfile")
    lock = _read_json(lock_path, "package-lock.json")
    version = lock.get("lockfileVersion")
    if version == 1 or (version in (2, 3) and not isinstance(lock.get("packages"), dict)):
        raise AuditError(
            f"{lock_path} is lockfile version 1 (npm 6): regenerate it with npm 7 or later "
            "(`npm install --package-lock-only`)")
    if version not in (2, 3):
        raise AuditError(f"{lock_path} has unknown lockfileVersion {version!r}: expected 2 or 3")
    entries = _entries(lock["packages"], lock_path)
    _check_in_sync(manifest, lock["packages"].get(""), lock_path)
    return Project(source, manifest, int(version), entries)


def _refuse_other_lockfiles(source: Path) -> None:
    for filename, tool in OTHER_LOCKFILES.items():
        if (source / filename).exists():
            raise AuditError(
                f"{source} uses {tool} ({filename}), which is not supported yet: the audit "
                "reads npm's package-lock.json only")


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AuditError(f"{path.parent} has no {what}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise AuditError(f"cannot read {path}: {error}") from None
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
        os=_strings(raw.get("os")), cpu=_strings(raw.get("cpu")), libc=_strings(raw.get("libc")),
        dependencies=_mapping(raw.get("dependencies")),
        optional_dependencies=_mapping(raw.get("optionalDependencies")),
        resolved=raw.get("resolved") if isinstance(raw.get("resolved"), str) else None,
        local=key != "" and "node_modules/" not in key,
    )


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    return ()


def _mapping(value: Any) -> Mapping[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def _check_in_sync(manifest: Mapping[str, Any], root: Any, lock_path: Path) -> None:
    """npm ci refuses a lockfile whose root dependencies differ from package.json; so do we."""
    if not isinstance(root, dict):
        raise AuditError(f"{lock_path} has no root entry (\"\"): regenerate it with npm")
    declared = _declared(manifest)
    locked = _declared(root)
    for name, spec in declared.items():
        if name not in locked:
            raise AuditError(
                f"package.json and {lock_path.name} are out of sync: {name} is declared but "
                "not locked; run `npm install` and commit the lockfile")
        if locked[name] != spec:
            raise AuditError(
                f"package.json and {lock_path.name} are out of sync: {name} is {spec!r} in "
                f"package.json but {locked[name]!r} in the lockfile; run `npm install`")
    for name in locked:
        if name not in declared:
            raise AuditError(
                f"package.json and {lock_path.name} are out of sync: {name} is locked but "
                "no longer declared; run `npm install` and commit the lockfile")


def _declared(manifest: Mapping[str, Any]) -> dict[str, str]:
    declared: dict[str, str] = {}
    for fieldname in _ROOT_DEP_FIELDS:
        declared |= _mapping(manifest.get(fieldname))
    return declared
