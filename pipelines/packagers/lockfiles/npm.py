"""npm's package-lock.json (and npm-shrinkwrap.json), versions 2 and 3."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipelines.packagers.lockfiles.entry import (
    LockEntry,
    LockfileError,
    declared,
    mapping,
    read_json,
    strings,
)


def read_npm_lockfile(
    source: Path, manifest: Mapping[str, Any], filename: str = "package-lock.json"
) -> dict[str, LockEntry]:
    """package-lock.json (or npm-shrinkwrap.json) versions 2 and 3, checked against package.json."""
    lock_path = source / filename
    lock = read_json(lock_path, filename)
    version = lock.get("lockfileVersion")
    if version == 1 or (version in (2, 3) and not isinstance(lock.get("packages"), dict)):
        raise LockfileError(
            f"{lock_path} is lockfile version 1 (npm 6): regenerate it with npm 7 or later "
            "(`npm install --package-lock-only`)")
    if version not in (2, 3):
        raise LockfileError(f"{lock_path} has unknown lockfileVersion {version!r}: expected 2 or 3")
    entries = _entries(lock["packages"], lock_path)
    _check_in_sync(manifest, lock["packages"].get(""), lock_path)
    return entries


def _entries(packages: Mapping[str, Any], lock_path: Path) -> dict[str, LockEntry]:
    entries: dict[str, LockEntry] = {}
    for key, raw in packages.items():
        if not isinstance(raw, dict):
            raise LockfileError(f"{lock_path}: entry {key!r} is not an object")
        if raw.get("link"):
            continue  # the link target has its own entry under its real path
        entries[key] = _entry(key, raw, lock_path)
    return entries


def _entry(key: str, raw: Mapping[str, Any], lock_path: Path) -> LockEntry:
    version = raw.get("version", "")
    if not isinstance(version, str):
        raise LockfileError(f"{lock_path}: entry {key!r} has a non-string version")
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
        integrity=_text(raw.get("integrity")), license=_text(raw.get("license")),
    )


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _check_in_sync(manifest: Mapping[str, Any], root: Any, lock_path: Path) -> None:
    """npm ci refuses a lockfile whose root dependencies differ from package.json; so do we."""
    if not isinstance(root, dict):
        raise LockfileError(f"{lock_path} has no root entry (\"\"): regenerate it with npm")
    wanted = declared(manifest)
    locked = declared(root)
    for name, spec in wanted.items():
        if name not in locked:
            raise LockfileError(
                f"package.json and {lock_path.name} are out of sync: {name} is declared but "
                "not locked; run `npm install` and commit the lockfile")
        if locked[name] != spec:
            raise LockfileError(
                f"package.json and {lock_path.name} are out of sync: {name} is {spec!r} in "
                f"package.json but {locked[name]!r} in the lockfile; run `npm install`")
    for name in locked:
        if name not in wanted:
            raise LockfileError(
                f"package.json and {lock_path.name} are out of sync: {name} is locked but "
                "no longer declared; run `npm install` and commit the lockfile")


