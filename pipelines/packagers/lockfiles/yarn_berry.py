"""yarn berry's yarn.lock (YAML, yarn 2+) as the audit's entries, and the hoisted layout both
yarns' node-modules linkers share (yarn_classic.py reads yarn 1's format).

Both linkers the audit accepts hoist: a package sits at node_modules/<name> unless another
version of that name took the place, then under its dependent's node_modules. `hoist` computes
that layout the simple way (the version the workspaces depend on, else the most depended on,
wins the top); yarn's own hoister may nest a duplicate elsewhere, and the smoke test falls back
to loading by name.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
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
)
from pipelines.packagers.lockfiles.policy import berry_policy

LOCKFILE = "yarn.lock"
FIELDS = ("dependencies", "optionalDependencies", "devDependencies")


@dataclass
class Package:
    """One resolved package of yarn.lock, before it has a node_modules path."""

    id: str
    name: str
    version: str
    deps: dict[str, str] = field(default_factory=dict)  # name -> id
    specs: dict[str, str] = field(default_factory=dict)  # name -> range, as locked
    optional: set[str] = field(default_factory=set)
    os: tuple[str, ...] = ()
    cpu: tuple[str, ...] = ()
    libc: tuple[str, ...] = ()
    resolved: str | None = None
    workspace: str | None = None  # its directory relative to the root, for workspaces
    dev: dict[str, str] = field(default_factory=dict)  # a workspace's devDependencies -> id
    platform_known: bool = True  # False where os/cpu/libc come from the name (yarn 1)
    # Dependencies yarn added on its own guess (`node-gyp: npm:latest`): installed, so linked,
    # but no evidence of the package's own native build.
    injected: frozenset[str] = frozenset()


def workspace_globs(manifest: Mapping[str, Any]) -> tuple[str, ...]:
    """package.json `workspaces`, as a list or as {packages: [...]}."""
    value = manifest.get("workspaces")
    if isinstance(value, dict):
        value = value.get("packages")
    return strings(value)


# --- yarn berry ------------------------------------------------------------------------------

def read_berry_lockfile(root: Path, manifest: Mapping[str, Any], scripts_enabled: bool,
                        scripts_from: str = "") -> dict[str, LockEntry]:
    """A berry yarn.lock (with the node-modules linker) keyed by node_modules path;
    `scripts_from` names where `scripts_enabled` came from (.yarnrc.yml, yarn's default)."""
    path = root / LOCKFILE
    lock = read_yaml(path, "yarn")
    if not isinstance(lock.get("__metadata"), dict):
        raise LockfileError(f"{path} has no __metadata: it is not a yarn 2+ lockfile; regenerate "
                         "it with `yarn install`")
    by_descriptor: dict[str, str] = {}
    packages: dict[str, Package] = {}
    for key, raw in lock.items():
        if key == "__metadata":
            continue
        if not isinstance(raw, dict) or not isinstance(raw.get("resolution"), str):
            raise LockfileError(f"{path}: entry {key!r} has no resolution: regenerate it with "
                             "`yarn install`")
        package = _berry_package(raw)
        packages[package.id] = package
        for descriptor in str(key).split(", "):
            by_descriptor[descriptor.strip()] = package.id
            # A patch: or file: dependency with a relative path is keyed with the locator of
            # the workspace it is relative to (`...#./x.patch::locator=app%40workspace%3A.`);
            # `resolutions` and the dependents name it without.
            by_descriptor.setdefault(descriptor.strip().split("::", 1)[0], package.id)
    resolutions = _resolutions(manifest)
    for package in packages.values():
        for name, spec in list(package.specs.items()):
            descriptor = f"{name}@{spec}"
            if descriptor not in by_descriptor:  # package.json `resolutions` replaced it
                descriptor = resolutions.get(descriptor) or resolutions.get(
                    f"{package.name}/{name}") or resolutions.get(name) or descriptor
            package.deps[name] = lookup(by_descriptor, descriptor, package.name, path)
    _berry_dev_and_sync(root, manifest, packages, set(by_descriptor) | set(resolutions), path)
    built = berry_policy(manifest, scripts_enabled, scripts_from)
    return to_entries(hoist(packages, scripts_known=False), built)


def _resolutions(manifest: Mapping[str, Any]) -> dict[str, str]:
    """package.json `resolutions` (`name`, `name@range`, `parent/name`) as pattern ->
    the descriptor yarn locked instead, e.g. lodash@npm:4.17.21 -> lodash@npm:^4.18.1."""
    found = {}
    for pattern, spec in mapping(manifest.get("resolutions")).items():
        parts = pattern.split("/")
        cut = -2 if len(parts) >= 2 and parts[-2].startswith("@") else -1
        parent, child = "/".join(parts[:cut]), "/".join(parts[cut:])
        key = f"{parent}/{_npm(child)}" if parent else _npm(child)
        found[key] = f"{package_name(child)}@{spec if ':' in spec else 'npm:' + spec}"
    return found


def _npm(pattern: str) -> str:
    """`lodash@4.17.21` -> `lodash@npm:4.17.21`, as the lockfile spells descriptors."""
    name = package_name(pattern)
    spec = pattern[len(name) + 1:]
    return pattern if not spec or ":" in spec else f"{name}@npm:{spec}"


def _berry_package(raw: Mapping[str, Any]) -> Package:
    resolution = str(raw["resolution"])
    name = package_name(resolution)
    meta = raw.get("dependenciesMeta")
    optional = {n for n, m in (meta.items() if isinstance(meta, dict) else ())
                if isinstance(m, dict) and truthy(m.get("optional"))}
    conditions = _conditions(str(raw.get("conditions") or ""))
    protocol = resolution[len(name) + 1:]
    workspace = protocol[len("workspace:"):] if protocol.startswith("workspace:") else None
    specs = dict(mapping(raw.get("dependencies")))
    # yarn adds node-gyp to whatever it guesses may build (nan and node-addon-api too): yarn's
    # guess, not the package's dependency, so no evidence of a native build; but yarn installs
    # it, so it and its own dependencies ship in production (seen: actual-server's image).
    injected = frozenset({"node-gyp"}) if specs.get("node-gyp") == "npm:latest" else frozenset()
    return Package(
        id=resolution, name=name, version=str(raw.get("version", "")),
        specs=specs, optional=optional, injected=injected,
        os=conditions.get("os", ()), cpu=conditions.get("cpu", ()),
        libc=conditions.get("libc", ()), workspace=workspace)


def _conditions(text: str) -> dict[str, tuple[str, ...]]:
    """`os=linux & cpu=arm64 & libc=glibc` -> {os: (linux,), ...}; `|` alternatives kept."""
    found: dict[str, list[str]] = {}
    for part in re.split(r"[&|()]", text):
        key, sep, value = part.strip().partition("=")
        if sep:
            found.setdefault(key.strip(), []).append(value.strip())
    return {k: tuple(v) for k, v in found.items()}


def lookup(by_descriptor: Mapping[str, str], descriptor: str, needed_by: str,
            path: Path) -> str:
    found = by_descriptor.get(descriptor)
    if found is None:
        raise LockfileError(f"{path} is incomplete: {descriptor} (needed by {needed_by}) has no "
                         "entry; restore it or regenerate it with `yarn install`")
    return found


def _berry_dev_and_sync(root: Path, manifest: Mapping[str, Any],
                        packages: Mapping[str, Package], known: set[str], path: Path) -> None:
    """Berry lists a workspace's dev and prod dependencies together; package.json splits
    them. A declared range the lockfile lacks is what `yarn install --immutable` refuses."""
    for package in packages.values():
        if package.workspace is None:
            continue
        where = package.workspace
        own = manifest if where in ("", ".") else read_json(
            root / where / "package.json", f"{where}/package.json")
        for fieldname in FIELDS:
            for name, spec in mapping(own.get(fieldname)).items():
                descriptor = f"{name}@{spec if ':' in spec else 'npm:' + spec}"
                if descriptor not in known and name not in known:  # `resolutions` may force it
                    label = "package.json" if where in ("", ".") else f"{where}/package.json"
                    raise LockfileError(
                        f"{label} and yarn.lock are out of sync: {name}@{spec} is declared "
                        "but not locked; run `yarn install` and commit the lockfile")
                if fieldname == "devDependencies" and name in package.deps:
                    package.dev[name] = package.deps.pop(name)
                if fieldname == "optionalDependencies":
                    package.optional.add(name)


# --- node_modules layout ---------------------------------------------------------------------

def hoist(packages: Mapping[str, Package], *, scripts_known: bool,
          popular_on_top: bool = False) -> dict[str, Node]:
    """Nodes at the paths `hoisted_paths` gives them."""
    paths = hoisted_paths(packages, popular_on_top=popular_on_top)
    return {paths[p.id]: _node(p, paths, scripts_known) for p in packages.values()
            if p.id in paths}


def hoisted_paths(packages: Mapping[str, Package], *,
                  popular_on_top: bool = False) -> dict[str, str]:
    """Package id -> hoisted node_modules path, placed as yarn and npm place them: each package as
    high up its dependent's chain of node_modules as it can go without another version of
    that name shadowing it; workspace dependencies first, then breadth first. yarn 1 gives
    the top level to the most depended-on version (`popular_on_top`); berry's hoister does
    not, and matched real installs better without it."""
    workspaces = sorted((p for p in packages.values() if p.workspace is not None),
                        key=lambda w: (w.workspace not in ("", "."), w.id))
    paths = {w.id: ("" if w.workspace in ("", ".") else str(w.workspace)) for w in workspaces}
    placed: dict[str, dict[str, str]] = {"": {}}  # directory -> name -> package id
    # The top level goes to what the workspaces name, then to the most wanted version.
    for workspace in workspaces:
        for name, ident in {**workspace.deps, **workspace.dev}.items():
            if packages[ident].workspace is None:
                placed[""].setdefault(name, ident)
    wanted = Counter(i for p in packages.values() for i in p.deps.values())
    for ident, _count in wanted.most_common() if popular_on_top else ():
        if packages[ident].workspace is None:
            placed[""].setdefault(packages[ident].name, ident)
    queue = [w.id for w in workspaces]
    while queue:
        package = packages[queue.pop(0)]
        for name, ident in {**package.deps, **package.dev}.items():
            if packages[ident].workspace is not None:
                continue
            where = _place(placed, paths[package.id], name, ident)
            if where is None and placed[""].get(name) == ident:
                where = f"node_modules/{name}"
            if where is not None and ident not in paths:
                paths[ident] = where
                queue.append(ident)
    return paths


def _place(placed: dict[str, dict[str, str]], directory: str, name: str,
           ident: str) -> str | None:
    """Put `name` (package `ident`) where `directory` resolves it; None if it already does."""
    chain = [directory]
    while chain[-1]:
        head, sep, _ = chain[-1].rpartition("/node_modules/")
        chain.append(head if sep else "")
    best = directory
    for level in chain:  # deepest first, as Node looks
        holder = placed.get(level, {}).get(name)
        if holder == ident:
            return None
        if holder is not None:
            break
        best = level
    placed.setdefault(best, {})[name] = ident
    return f"{best}/node_modules/{name}" if best else f"node_modules/{name}"


def _node(package: Package, paths: Mapping[str, str], scripts_known: bool) -> Node:
    where = paths[package.id]
    return Node(
        path=where, name=package.name, version=package.version,
        dependencies={n: package.specs.get(n, "") for n in package.deps
                      if n not in package.injected},
        optional_dependencies={n: package.specs.get(n, "") for n in package.optional},
        links={n: paths[i] for n, i in package.deps.items()},
        dev_links={n: paths[i] for n, i in package.dev.items()},
        os=package.os, cpu=package.cpu, libc=package.libc,
        scripts_known=scripts_known or package.workspace is not None,
        resolved=package.resolved, local=package.workspace is not None and where != "",
        importer=package.workspace is not None, platform_known=package.platform_known)
