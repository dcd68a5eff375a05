"""From a package manager's dependency graph to the audit's entries: dev and optional flags.

pnpm and yarn lockfiles say which package depends on which, but (unlike npm's) not which are
dev-only or optional-only; both follow from the graph: a package is production when a
production dependency of any workspace package (the root included) reaches it, and optional
when only optional edges reach it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pipelines.packagers.lockfiles.entry import LockEntry, LockfileError, read_text
from pipelines.packagers.lockfiles.policy import BuildDecision, BuildPolicy


@dataclass
class Node:
    """One package as a lockfile reader sees it, before dev/optional are known."""

    path: str  # where it sits in node_modules ("" for the root, packages/api for a workspace)
    name: str
    version: str
    dependencies: dict[str, str] = field(default_factory=dict)  # name -> locked spec
    optional_dependencies: dict[str, str] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)  # name -> path, prod and optional deps
    dev_links: dict[str, str] = field(default_factory=dict)  # workspace devDependencies
    # Optional peers pnpm resolved (to a devDependency, say): `pnpm install --prod` still
    # installs them (seen: sharp 0.35's @types/node), so they ship, but are never required.
    optional_peers: frozenset[str] = frozenset()
    os: tuple[str, ...] = ()
    cpu: tuple[str, ...] = ()
    libc: tuple[str, ...] = ()
    has_install_script: bool = False
    scripts_known: bool = False
    resolved: str | None = None
    local: bool = False
    importer: bool = False  # the root or a workspace package: where the walks start
    platform_known: bool = True  # False for os/cpu/libc guessed from the name (yarn 1)


def to_entries(nodes: Mapping[str, Node], build: BuildPolicy) -> dict[str, LockEntry]:
    """LockEntry values keyed by path; `build(name)` says whether the manager runs its scripts,
    and which setting decided."""
    importers = [n.path for n in nodes.values() if n.importer]
    production = _reach(nodes, importers, lambda n: list(n.links.values()))
    required = _reach(nodes, importers, lambda n: [
        *(p for name, p in n.links.items()
          if name not in n.optional_dependencies and name not in n.optional_peers),
        *n.dev_links.values()])
    entries = {}
    for node in nodes.values():
        decision = BuildDecision(True) if node.local else build(node.name)
        entries[node.path] = LockEntry(
            path=node.path, name=node.name, version=node.version,
            dev=node.path not in production, optional=node.path not in required,
            has_install_script=node.has_install_script, os=node.os, cpu=node.cpu,
            libc=node.libc, dependencies=dict(node.dependencies),
            optional_dependencies=dict(node.optional_dependencies), resolved=node.resolved,
            local=node.local, links={**node.dev_links, **node.links},
            scripts_known=node.scripts_known, build=decision.build,
            build_from=decision.setting,
            platform_known=node.platform_known)
    return entries


def _reach(
    nodes: Mapping[str, Node], starts: Iterable[str], edges: Callable[[Node], Iterable[str]]
) -> set[str]:
    seen = set(starts)
    stack = list(seen)
    while stack:
        node = nodes.get(stack.pop())
        if node is None:
            continue
        for path in edges(node):
            if path not in seen:
                seen.add(path)
                stack.append(path)
    return seen


def read_yaml(path: Path, tool: str, drop: re.Pattern[str] | None = None) -> dict[str, Any]:
    """A YAML mapping from `path`, or an LockfileError with the line and how to regenerate it.

    `drop` removes whole lines the caller never reads before parsing (see pnpm_lock.py).
    """
    text = read_text(path, path.name)
    if drop is not None:
        text = drop.sub("", text)
    try:
        # Every scalar as a string (no type guessing: a third faster on a 2,000-package
        # lockfile; `truthy` reads the booleans), with the C parser when PyYAML has it.
        loader = getattr(yaml, "CBaseLoader", yaml.BaseLoader)
        data = yaml.load(text, Loader=loader)  # noqa: S506 - constructs str, list, dict only
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise LockfileError(
            f"{path} is not valid YAML{where}: restore it or regenerate it with {tool}"
        ) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise LockfileError(
            f"{path} is not a YAML mapping: restore it or regenerate it with {tool}")
    return data


def truthy(value: Any) -> bool:
    """A YAML boolean as read_yaml returns it (the string `true`), or a real one."""
    return value is True or value == "true"


def package_name(descriptor: str) -> str:
    """`@img/sharp@0.35.5` -> `@img/sharp`: the name before the version's `@`."""
    at = descriptor.find("@", 1)
    return descriptor if at == -1 else descriptor[:at]


def workspace_dirs(root: Path, patterns: Iterable[str]) -> list[Path]:
    """Directories matching workspace globs (`packages/*`) that hold a package.json."""
    found: dict[Path, None] = {}
    for pattern in patterns:
        if pattern.startswith("!"):
            continue
        for match in sorted(root.glob(pattern.rstrip("/"))):
            if (match / "package.json").is_file() and "node_modules" not in match.parts:
                found[match] = None
    return list(found)
