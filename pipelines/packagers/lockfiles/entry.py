"""A lockfile's packages as plain entries, and the small readers every lockfile reader shares."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelines.errors import InputError

_ROOT_DEP_FIELDS = ("dependencies", "devDependencies", "optionalDependencies")


class LockfileError(InputError):
    """A manifest or lockfile that is absent, unreadable or out of sync with package.json."""


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
    # The setting that decided `build` (`pnpm: allowBuilds in pnpm-workspace.yaml allows it`);
    # empty when none did (the manager's default of running scripts).
    build_from: str = ""
    # False when os/cpu/libc were read from the package's name (yarn 1 records none); the
    # registry's version document replaces them when the audit reads it.
    platform_known: bool = True
    # The tarball's Subresource Integrity string (sha512-...) and the package's license, where
    # the lockfile records them (npm both, yarn 1 the integrity); empty where it does not.
    integrity: str = ""
    license: str = ""
    # The commands the package puts in node_modules/.bin, where the lockfile records them
    # (npm's `bin`); None where it does not say (pnpm, yarn).
    bins: tuple[str, ...] | None = None
    # The node_modules paths that link to this workspace or file: folder, where the lockfile
    # lists them (npm); for pnpm and yarn they are the importers' `links`.
    link_paths: tuple[str, ...] = ()
    # npm's `devOptional`: reached from the dev tree and through an optional edge. Whether
    # `npm ci --omit=dev` installs it differs between npm versions (npm 11.19 on this host
    # does; the one in a node:24 image left out @swc/core and ts-node), so a check of the
    # image may not require it.
    dev_optional: bool = False

    @property
    def kind(self) -> str:
        """What the entry is: "package" (installed under some node_modules/), "folder" (a
        workspace or file: package's own source, in the tree) or "root"."""
        if not self.path:
            return "root"
        return "package" if installed_path(self.path) else "folder"

    @property
    def constrained(self) -> bool:
        """True when the entry declares os, cpu or libc: npm skips it on other platforms."""
        return bool(self.os or self.cpu or self.libc)


def installed_path(path: str) -> bool:
    """Whether a lockfile path is a place an install puts a package (under some node_modules/),
    rather than a folder of the source."""
    return path.startswith("node_modules/") or "/node_modules/" in path


def installed(entries: Mapping[str, LockEntry]) -> list[tuple[str, LockEntry]]:
    """Every entry at the node_modules paths an install puts it, by what it is: a package at
    its own path; a workspace or file: folder at the links to it (its folder is source, which
    ships as the project's files, never as an installed package); the root nowhere. One reader
    for every manager's entries."""
    found: dict[str, LockEntry] = {}
    for path, entry in entries.items():
        if entry.kind == "package":
            found.setdefault(path, entry)
        for link in entry.link_paths:
            found.setdefault(link, entry)
        for name, target in entry.links.items():
            linked = entries.get(target)
            if linked is not None and linked.kind == "folder":
                found.setdefault(f"{path}/node_modules/{name}" if path else
                                 f"node_modules/{name}", linked)
    return sorted(found.items())


def resolve_in(entries: Mapping[str, LockEntry], from_path: str, name: str) -> LockEntry | None:
    """Find the entry `name` resolves to from `from_path`: the entry's own links (pnpm's
    layout), else the way Node walks node_modules."""
    start = entries.get(from_path)
    if start is not None and name in start.links:
        return entries.get(start.links[name])
    base = from_path
    while True:
        prefix = f"{base}/" if base else ""
        found = entries.get(f"{prefix}node_modules/{name}")
        if found is not None:
            return found
        if not base:
            return None
        head, sep, _ = base.rpartition("/node_modules/")
        base = head if sep else ""


def read_text(path: Path, what: str) -> str:
    """The text of a manifest or lockfile, or a LockfileError saying it is absent or unreadable."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LockfileError(f"{path.parent} has no {what}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise LockfileError(f"cannot read {path}: {error}") from None


def read_json(path: Path, what: str) -> dict[str, Any]:
    """A JSON object from `path`, or a LockfileError naming the file and the line."""
    text = read_text(path, what)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise LockfileError(
            f"{path} is not valid JSON (line {error.lineno}: {error.msg}): restore it or "
            "regenerate it with npm") from None
    if not isinstance(data, dict):
        raise LockfileError(f"{path} is not a JSON object")
    return data


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


def declared(manifest: Mapping[str, Any]) -> dict[str, str]:
    """Every dependency a manifest declares (prod, dev, optional), name -> spec."""
    found: dict[str, str] = {}
    for fieldname in _ROOT_DEP_FIELDS:
        found |= mapping(manifest.get(fieldname))
    return found
