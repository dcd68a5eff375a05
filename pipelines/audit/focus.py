"""One workspace package's view of the lockfile (`--workspace`): only what it installs.

A focused install (npm `--workspace`, pnpm `--filter-prod NAME...`, yarn `workspaces focus`)
installs the package's dependencies and what they reach, nothing of the other workspace
packages or of the root. So the audit keeps the entries the package reaches (its devDependencies
included, as dev), and a package is production when its production dependencies, or those of
the local packages they reach, lead to it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from pipelines.packagers.lockfiles.entry import LockEntry, mapping, read_json, resolve_in

_PRODUCTION = ("dependencies", "optionalDependencies", "peerDependencies")


def focus_entries(root: Path, entries: Mapping[str, LockEntry],
                  service: str) -> dict[str, LockEntry]:
    """The entries the workspace package at `service` (its folder) installs, with dev and
    optional as seen from it."""
    resolver = _Resolver(root, entries)
    production = resolver.reach(service, dev=False, optional=True)
    required = resolver.reach(service, dev=False, optional=False)
    everything = resolver.reach(service, dev=True, optional=True)
    return {
        path: replace(entry, dev=path not in production, optional=path not in required)
        for path, entry in entries.items() if path in everything and path != ""
    }


class _Resolver:
    """Which entry each dependency name of an entry resolves to: the reader's links (pnpm,
    yarn), or Node's walk up node_modules folders (npm), workspace links by name."""

    def __init__(self, root: Path, entries: Mapping[str, LockEntry]) -> None:
        self.root = root
        self.entries = entries
        self.local = {e.name: e.path for e in entries.values() if e.local and e.path}
        self.manifests: dict[str, Mapping[str, Any]] = {}

    def reach(self, start: str, *, dev: bool, optional: bool) -> set[str]:
        seen = {start}
        stack = [(start, True)]
        while stack:
            path, first = stack.pop()
            for target in self._edges(path, dev=dev and first, optional=optional):
                if target not in seen:
                    seen.add(target)
                    stack.append((target, False))
        return seen

    def _edges(self, path: str, *, dev: bool, optional: bool) -> Iterator[str]:
        entry = self.entries.get(path)
        if entry is None:
            return
        for name in self._names(entry, dev=dev, optional=optional):
            target = self._resolve(entry, name)
            if target is not None:
                yield target

    def _names(self, entry: LockEntry, *, dev: bool, optional: bool) -> list[str]:
        if entry.local:  # a workspace package: its package.json says which are production
            manifest = self._manifest(entry.path)
            fields = [*_PRODUCTION, *(["devDependencies"] if dev else [])]
            names = {n for f in fields for n in mapping(manifest.get(f))}
            if not optional:
                names -= set(mapping(manifest.get("optionalDependencies")))
            return sorted(names)
        names = set(entry.dependencies) | set(entry.optional_dependencies)
        if entry.links:
            names |= set(entry.links)
        if not optional:
            names -= set(entry.optional_dependencies)
        return sorted(names)

    def _resolve(self, entry: LockEntry, name: str) -> str | None:
        found = resolve_in(self.entries, entry.path, name)
        # npm's lockfile lists a workspace package's link (node_modules/@s/lib) as no entry
        # of its own: the link goes to the package's folder, found by its name.
        return found.path if found is not None else self.local.get(name)

    def _manifest(self, path: str) -> Mapping[str, Any]:
        if path not in self.manifests:
            file = self.root / path / "package.json"
            self.manifests[path] = read_json(file, "package.json") if file.is_file() else {}
        return self.manifests[path]
