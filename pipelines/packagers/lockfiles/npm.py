"""npm's package-lock.json (and npm-shrinkwrap.json), versions 2 and 3."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
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
from pipelines.packagers.lockfiles.policy import ALWAYS, npm_policy


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
    policy = npm_policy(source)
    if policy is ALWAYS:
        return entries
    return {k: e if e.local else replace(e, build=(d := policy(e.name)).build,
                                         build_from=d.setting)
            for k, e in entries.items()}


def _entries(packages: Mapping[str, Any], lock_path: Path) -> dict[str, LockEntry]:
    entries: dict[str, LockEntry] = {}
    # A link (node_modules/x -> a workspace or file: folder) is no package of its own: the
    # folder's entry records where it is linked from.
    linked: dict[str, list[str]] = {}
    for key, raw in packages.items():
        if not isinstance(raw, dict):
            raise LockfileError(f"{lock_path}: entry {key!r} is not an object")
        if raw.get("link") and isinstance(raw.get("resolved"), str):
            linked.setdefault(raw["resolved"], []).append(key)
    for key, raw in packages.items():
        if not raw.get("link"):
            entries[key] = _entry(key, raw, lock_path, tuple(linked.get(key, ())))
    return entries


def _entry(key: str, raw: Mapping[str, Any], lock_path: Path,
           link_paths: tuple[str, ...] = ()) -> LockEntry:
    version = raw.get("version", "")
    if not isinstance(version, str):
        raise LockfileError(f"{lock_path}: entry {key!r} has a non-string version")
    # npm leaves out `name` where the path's last part says it: node_modules/<name>, or a
    # folder named like its package.
    installed = key.rpartition("node_modules/")[2] if "node_modules/" in key else ""
    name = raw.get("name") or installed or key.rpartition("/")[2]
    return LockEntry(
        path=key, name=str(name), version=version,
        dev=bool(raw.get("dev")),
        optional=bool(raw.get("optional") or raw.get("devOptional")),
        dev_optional=bool(raw.get("devOptional")),
        has_install_script=bool(raw.get("hasInstallScript")),
        os=strings(raw.get("os")), cpu=strings(raw.get("cpu")), libc=strings(raw.get("libc")),
        dependencies=mapping(raw.get("dependencies")),
        optional_dependencies=mapping(raw.get("optionalDependencies")),
        resolved=raw.get("resolved") if isinstance(raw.get("resolved"), str) else None,
        local=key != "" and "node_modules/" not in key,
        bins=_bins(raw.get("bin"), str(name)),
        link_paths=link_paths,
        integrity=_text(raw.get("integrity")), license=_text(raw.get("license")),
    )


def _bins(value: Any, name: str) -> tuple[str, ...]:
    """npm's `bin` of an entry: an object of command -> file (a string names one command,
    the package's unscoped name)."""
    if isinstance(value, dict):
        return tuple(str(k) for k in value)
    if isinstance(value, str):
        return (name.rpartition("/")[2],)
    return ()


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


