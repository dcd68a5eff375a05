"""pnpm-lock.yaml (lockfile versions 6 and 9) as the audit's entries, at pnpm's own paths.

pnpm installs every package once under node_modules/.pnpm/<dir>/node_modules/<name>, where
<dir> is the package's dependency path made into a file name (pnpm's `depPathToFilename`);
the project's node_modules holds symlinks into it. That real directory is the entry's path,
so the smoke test loads exactly the copy the lockfile names.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import posixpath
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipelines.packagers.lockfiles.entry import (
    LockEntry,
    LockfileError,
    mapping,
    read_json,
    strings,
)
from pipelines.packagers.lockfiles.graph import (
    Node,
    package_name,
    read_yaml,
    to_entries,
    truthy,
    workspace_dirs,
)
from pipelines.packagers.lockfiles.policy import pnpm_policy
from pipelines.packagers.lockfiles.yarn_berry import Package, hoisted_paths

LOCKFILE = "pnpm-lock.yaml"
_DEP_FIELDS = ("dependencies", "optionalDependencies", "devDependencies")
_MAX_DIR_LENGTH = 120  # pnpm's virtual-store-dir-max-length default on Linux
# One-line fields of `packages` entries the audit never reads: a third of a lockfile, and
# parsing without them is about 2.5x faster (tests/benchmarks/bench_audit.py).
_UNREAD = re.compile(
    r"^ +(?:resolution: \{integrity: [^}\n]*\}|engines: \{[^}\n]*\}|hasBin: true)\n", re.M)


def store_dir(dep_path: str, major: int) -> str:
    """pnpm's directory name under node_modules/.pnpm for a dependency path (depPathToFilename).

    pnpm 10 also escapes `#` and hashes long or upper-case names with sha256 where pnpm 8
    and 9 used base32 md5.
    """
    if dep_path.startswith("file:"):
        dep_path = dep_path.replace(":", "+", 1)
    elif dep_path.startswith("/"):
        dep_path = dep_path[1:]
    unsafe = r'[\\/:*?"<>|#]' if major >= 10 else r'[\\/:*?"<>|]'
    name = re.sub(unsafe, "+", dep_path)
    if "(" in name:
        name = re.sub(r"\)\(|\(|\)", "_", re.sub(r"\)$", "", name, count=1))
    if len(name) > _MAX_DIR_LENGTH or (name != name.lower() and not name.startswith("file+")):
        if major >= 10:
            digest = hashlib.sha256(name.encode()).hexdigest()[:32]
            return f"{name[:_MAX_DIR_LENGTH - 33]}_{digest}"
        md5 = hashlib.md5(name.encode()).digest()  # noqa: S324 - pnpm's name, not security
        digest = base64.b32encode(md5).decode().rstrip("=").lower()
        return f"{name[:_MAX_DIR_LENGTH - 27]}_{digest}"
    return name


def read_pnpm_lockfile(root: Path, manifest: Mapping[str, Any], major: int) -> dict[str, LockEntry]:
    """The lockfile's packages keyed by their real path; raise LockfileError when it is corrupt,
    too old, or out of sync with a package.json."""
    path = root / LOCKFILE
    lock = read_yaml(path, "pnpm", drop=_UNREAD)
    version = str(lock.get("lockfileVersion", ""))
    if version.startswith("5"):
        raise LockfileError(f"{path} is lockfile version {version} (pnpm 7): regenerate it with "
                         "pnpm 8 or later (`pnpm install --lockfile-only`)")
    if not version.startswith(("6", "9")):
        raise LockfileError(f"{path} has unknown lockfileVersion {version!r}: expected 6.0 or 9.0")
    v9 = version.startswith("9")
    importers = lock.get("importers")
    if importers is None:  # v6 without workspaces: the root's fields at the top level
        importers = {".": {f: lock[f] for f in _DEP_FIELDS if f in lock}}
    reader = _Reader(root, path, lock, v9=v9, major=major)
    nodes = reader.packages()
    for importer, data in _mapping_of(importers, path, "importers").items():
        nodes[reader.importer_path(importer)] = reader.importer(
            importer, _mapping_of(data, path, importer), manifest)
    if _hoisted_linker(root):
        nodes = _rehoist(nodes)
    return to_entries(nodes, pnpm_policy(root, manifest, workspace_settings(root), major))


def _hoisted_linker(root: Path) -> bool:
    """`node-linker=hoisted` in .npmrc, or `nodeLinker: hoisted` in pnpm-workspace.yaml."""
    npmrc = root / ".npmrc"
    text = npmrc.read_text(encoding="utf-8", errors="replace") if npmrc.is_file() else ""
    if re.search(r"^\s*node-linker\s*=\s*hoisted\s*$", text, re.M):
        return True
    return str(workspace_settings(root).get("nodeLinker", "")) == "hoisted"


def _rehoist(nodes: Mapping[str, Node]) -> dict[str, Node]:
    """The same graph at the paths pnpm's hoisted linker uses: npm's flat layout."""
    packages = {path: Package(id=path, name=n.name, version=n.version, deps=dict(n.links),
                              dev=dict(n.dev_links), workspace=path if n.importer else None)
                for path, n in nodes.items()}
    moved = hoisted_paths(packages)
    return {moved[path]: dataclasses.replace(
                n, path=moved[path],
                links={k: moved[v] for k, v in n.links.items() if v in moved},
                dev_links={k: moved[v] for k, v in n.dev_links.items() if v in moved})
            for path, n in nodes.items() if path in moved}


class _Reader:
    """Turns lockfile keys and references into Nodes at their .pnpm paths."""

    def __init__(self, root: Path, path: Path, lock: Mapping[str, Any], *, v9: bool,
                 major: int) -> None:
        self.root, self.path, self.v9, self.major = root, path, v9, major
        self.meta = _mapping_of(lock.get("packages") or {}, path, "packages")
        # v9 keeps dependencies in `snapshots` (one per peer set) and metadata in `packages`.
        self.snapshots = (_mapping_of(lock.get("snapshots") or {}, path, "snapshots")
                          if v9 else self.meta)
        self.paths = {key: self._node_path(key) for key in self.snapshots}
        self.overrides = overridden(lock.get("overrides"))

    def _node_path(self, key: str) -> str:
        meta = self._meta(key)
        name = meta.get("name") or package_name(key.lstrip("/"))
        return f"node_modules/.pnpm/{store_dir(key, self.major)}/node_modules/{name}"

    def _meta(self, key: str) -> Mapping[str, Any]:
        base = key.split("(", 1)[0] if self.v9 else key
        found = self.meta.get(base) or {}  # an entry of dropped fields only is empty
        if not isinstance(found, dict):
            raise LockfileError(f"{self.path}: package {base!r} is not a mapping: regenerate it "
                             "with `pnpm install`")
        return found

    def key(self, name: str, ref: str) -> str:
        """The snapshot key a dependency reference points at (aliases name their package)."""
        if self.v9:
            return ref if "@" in ref.split("(", 1)[0][1:] else f"{name}@{ref}"
        return ref if ref.startswith("/") else f"/{name}@{ref}"

    def importer_path(self, importer: str) -> str:
        return "" if importer in (".", "") else importer

    def link(self, name: str, ref: str, base: str) -> str | None:
        """The path `name` at `ref` resolves to from `base`; None for links outside the tree."""
        if ref.startswith("link:"):
            target = posixpath.normpath(posixpath.join(base or ".", ref[5:]))
            return None if target.startswith("..") else self.importer_path(target)
        found = self.paths.get(self.key(name, ref))
        if found is None:
            raise LockfileError(
                f"{self.path} is incomplete: {name}@{ref} (needed by {base or 'the root'}) has "
                "no entry; restore it or regenerate it with `pnpm install --lockfile-only`")
        return found

    def packages(self) -> dict[str, Node]:
        """Every snapshot as a Node at its .pnpm path."""
        nodes = {}
        for key, raw in self.snapshots.items():
            snap = _mapping_of(raw, self.path, key) if raw is not None else {}
            node = self._package(key, snap, self._meta(key))
            nodes[node.path] = node
        return nodes

    def _package(self, key: str, snap: Mapping[str, Any], meta: Mapping[str, Any]) -> Node:
        stem = key.lstrip("/").split("(", 1)[0]
        deps = dict(mapping(snap.get("dependencies")))
        optional = dict(mapping(snap.get("optionalDependencies")))
        links = {n: p for n, r in {**deps, **optional}.items()
                 if (p := self.link(n, r, stem)) is not None}
        peers = meta.get("peerDependenciesMeta")
        optional_peers = frozenset(
            n for n, m in (peers.items() if isinstance(peers, dict) else ())
            if isinstance(m, dict) and truthy(m.get("optional")))
        resolution = meta.get("resolution")
        tarball = resolution.get("tarball") if isinstance(resolution, dict) else None
        return Node(
            path=self.paths[key], name=str(meta.get("name") or package_name(stem)),
            version=str(meta.get("version") or stem[len(package_name(stem)) + 1:]),
            dependencies=deps, optional_dependencies=optional, links=links,
            optional_peers=optional_peers, os=strings(meta.get("os")),
            cpu=strings(meta.get("cpu")), libc=strings(meta.get("libc")),
            has_install_script=truthy(meta.get("requiresBuild")), scripts_known=not self.v9,
            resolved=tarball if isinstance(tarball, str) else None)

    def importer(self, importer: str, data: Mapping[str, Any],
                 root_manifest: Mapping[str, Any]) -> Node:
        path = self.importer_path(importer)
        manifest = root_manifest if not path else read_json(
            self.root / path / "package.json", f"{path}/package.json")
        node = Node(path=path, name=str(manifest.get("name") or path), importer=True,
                    version=str(manifest.get("version") or ""), local=bool(path),
                    scripts_known=True)
        for fieldname in _DEP_FIELDS:
            locked = _mapping_of(data.get(fieldname) or {}, self.path, importer)
            declared = mapping(manifest.get(fieldname))
            # pnpm installs a workspace package's peers and locks them as its dependencies.
            peers = mapping(manifest.get("peerDependencies")) if fieldname == "dependencies" \
                else {}
            _check_in_sync(declared, locked, path or ".", fieldname, self.path, peers=peers,
                           overrides=self.overrides)
            for name, value in locked.items():
                ref = str(value.get("version", "")) if isinstance(value, dict) else str(value)
                target = self.link(name, ref, path)
                if fieldname != "devDependencies":
                    node.dependencies[name] = ref
                if fieldname == "optionalDependencies":
                    node.optional_dependencies[name] = ref
                if target is not None:
                    links = node.dev_links if fieldname == "devDependencies" else node.links
                    links[name] = target
        return node


def overridden(overrides: Any) -> dict[str, set[str]]:
    """pnpm's `overrides` as the lockfile records them, package name -> the specifiers they
    put in place (`vite@<=6.4.2: ^6.4.3`, `a>b: 1.0.0`, `x: workspace:*`)."""
    found: dict[str, set[str]] = {}
    for selector, value in (overrides.items() if isinstance(overrides, dict) else ()):
        name = package_name(str(selector).rpartition(">")[2])
        found.setdefault(name, set()).add(str(value))
    return found


def _check_in_sync(declared: Mapping[str, str], locked: Mapping[str, Any], importer: str,
                   fieldname: str, lock_path: Path, *, peers: Mapping[str, str],
                   overrides: Mapping[str, set[str]]) -> None:
    """pnpm install --frozen-lockfile refuses specifiers that differ from package.json, but
    writes an override's specifier in place of the declared one."""
    where = "package.json" if importer == "." else f"{importer}/package.json"
    for name, spec in declared.items():
        entry = locked.get(name)
        if entry is None:
            raise LockfileError(
                f"{where} and {lock_path.name} are out of sync: {name} ({fieldname}) is "
                "declared but not locked; run `pnpm install` and commit the lockfile")
        specifier = entry.get("specifier") if isinstance(entry, dict) else None
        if specifier is not None and str(specifier) != spec and (
                str(specifier) not in overrides.get(name, ())):
            raise LockfileError(
                f"{where} and {lock_path.name} are out of sync: {name} is {spec!r} in "
                f"{where} but {specifier!r} in the lockfile; run `pnpm install`")
    for name in locked:
        if name not in declared and name not in peers:
            raise LockfileError(
                f"{where} and {lock_path.name} are out of sync: {name} ({fieldname}) is locked "
                "but no longer declared; run `pnpm install` and commit the lockfile")


def workspace_settings(root: Path) -> Mapping[str, Any]:
    """pnpm-workspace.yaml (packages and, from pnpm 10, settings), or {} without one."""
    path = root / "pnpm-workspace.yaml"
    return read_yaml(path, "pnpm") if path.is_file() else {}


def workspace_packages(root: Path) -> list[Path]:
    """The directories pnpm-workspace.yaml's `packages` globs name."""
    return workspace_dirs(root, strings(workspace_settings(root).get("packages")))


def _mapping_of(value: Any, path: Path, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise LockfileError(f"{path}: {what!r} is not a mapping: regenerate it with "
                         "`pnpm install --lockfile-only`")
    return value
