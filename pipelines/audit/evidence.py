"""Collecting evidence: the lockfile first, then node_modules, then the npm registry."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from pipelines.audit.coverage import child_fits, fits
from pipelines.audit.detect import (
    Facts,
    classify,
    install_scripts,
    noop,
    platform_children,
    resolve,
)
from pipelines.audit.detect import wants_metadata as _wants_metadata
from pipelines.audit.installed import installed_facts
from pipelines.audit.model import Mechanism, Target
from pipelines.audit.project import Project
from pipelines.packagers.lockfiles.entry import LockEntry, strings
from pipelines.packagers.lockfiles.platform_names import platform_tag


@dataclass
class Evidence:
    """Everything known about a project's packages; the registry fills the two dicts."""

    project: Project
    targets: tuple[Target, ...]
    parents: dict[str, list[LockEntry]]
    candidates: list[LockEntry]  # packages that are not platform packages themselves
    installed: dict[str, Facts] = field(default_factory=dict)
    manifests: dict[str, dict[str, Any] | None] = field(default_factory=dict)  # by name@version
    files: dict[str, tuple[str, ...] | None] = field(default_factory=dict)  # by lockfile path
    registry_from: str = "registry"
    node_major: int | None = None  # the target Node, for the ABI of bundled binaries
    # Platform packages the lockfile names that the registry does not have (name@spec), with
    # the newest versions it does have.
    unpublished: dict[str, str] = field(default_factory=dict)


_LISTED = (Mechanism.BUNDLED_PREBUILDS, Mechanism.DOWNLOAD, Mechanism.INSTALL_SCRIPT,
           Mechanism.COMPILE)


def collect(
    project: Project, targets: tuple[Target, ...], node_major: int | None = None
) -> Evidence:
    """Read the lockfile structure and any installed copies; no network."""
    parents = platform_children(project)
    children = {c.path for kids in parents.values() for c in kids}
    candidates = [e for e in project.entries.values()
                  if e.path and e.path not in children and allowed_on_linux(e)]
    evidence = Evidence(project, targets, parents, candidates, node_major=node_major)
    has_modules = (project.root / "node_modules").is_dir()
    for entry in candidates:
        if entry.local or has_modules:
            facts = installed_facts(project.root, entry)
            if facts is not None:
                evidence.installed[entry.path] = facts
    return evidence


def allowed_on_linux(entry: LockEntry) -> bool:
    """fsevents and friends never install on a Linux target; they need no verdict."""
    return fits(entry.os, (), (), Target("linux/amd64")) or fits(
        entry.os, (), (), Target("linux/arm64"))


def spec_key(name: str, version: str) -> str:
    """The key of a version document in Evidence.manifests."""
    return f"{name}@{version}"


def manifests_wanted(evidence: Evidence) -> list[tuple[str, str]]:
    """name@version documents that could change a conclusion and are not known yet."""
    wanted: dict[str, tuple[str, str]] = {}
    for entry in evidence.candidates:
        if entry.path in evidence.installed or entry.path in evidence.parents:
            continue
        if _wants_metadata(entry):
            wanted[spec_key(entry.name, entry.version)] = (entry.name, entry.version)
    for parent_path, children in evidence.parents.items():
        parent = evidence.project.entries[parent_path]
        for child in children:
            if not child.platform_known:  # named, not recorded: the registry says for sure
                wanted[spec_key(child.name, child.version)] = (child.name, child.version)
        if all(any(fits(c.os, c.cpu, c.libc, t) for c in children) for t in evidence.targets):
            continue  # every target is covered: absent siblings cannot change a verdict
        for name, version in absent_platform_deps(evidence.project, parent).items():
            wanted[spec_key(name, version)] = (name, version)
        if parent.has_install_script:
            wanted[spec_key(parent.name, parent.version)] = (parent.name, parent.version)
    return [v for k, v in wanted.items() if k not in evidence.manifests]


def unpublished_wanted(evidence: Evidence) -> list[tuple[str, str]]:
    """Platform packages the lockfile names for a target whose version document the registry
    did not have (name, spec): asked once more, for the versions that do exist."""
    wanted = []
    for parent_path in evidence.parents:
        parent = evidence.project.entries[parent_path]
        for name, spec in absent_platform_deps(evidence.project, parent).items():
            key = spec_key(name, spec)
            if key in evidence.manifests and evidence.manifests[key] is None and any(
                    _named_for(name, t) for t in evidence.targets):
                wanted.append((name, spec))
    return [w for w in dict.fromkeys(wanted) if spec_key(*w) not in evidence.unpublished]


def _named_for(name: str, target: Target) -> bool:
    unscoped = name.rpartition("/")[2] if name.startswith("@") else name
    return platform_tag(unscoped).matches(target, unspecified_libc=None)


def newest_published(versions: list[str], tags: dict[str, str], wanted: str) -> str:
    """`1.27.0 (latest 1.33.0)`: the newest release not above `wanted`, and the latest tag."""
    releases = sorted((v for v in versions if _release(v)), key=_release)
    below = [v for v in releases if _release(v) <= _release(wanted)]
    latest = tags.get("latest") or (releases[-1] if releases else "")
    if below and below[-1] != latest:
        return f"{below[-1]} (latest {latest})" if latest else below[-1]
    return latest or "none"


def _release(version: str) -> tuple[int, ...]:
    """(1, 28, 0) for a release; () for a prerelease or anything unparsable."""
    parts = version.split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return ()
    return tuple(int(p) for p in parts)


def platform_of(evidence: Evidence, child: LockEntry) -> LockEntry:
    """A platform package with the registry's os/cpu/libc where the lockfile records none."""
    document = evidence.manifests.get(spec_key(child.name, child.version))
    if child.platform_known or document is None:
        return child
    return replace(child, os=strings(document.get("os")), cpu=strings(document.get("cpu")),
                   libc=strings(document.get("libc")), platform_known=True)


def absent_platform_deps(project: Project, parent: LockEntry) -> dict[str, str]:
    """Optional dependencies of `parent` the lockfile does not hold (name -> version spec)."""
    return {name: spec for name, spec in parent.optional_dependencies.items()
            if resolve(project, parent.path, name) is None}


def facts_for(evidence: Evidence, entry: LockEntry) -> Facts:
    """The best facts about `entry`: the installed copy, else the registry, else nothing."""
    if entry.path in evidence.installed:
        return evidence.installed[entry.path]
    document = evidence.manifests.get(spec_key(entry.name, entry.version))
    facts = Facts()
    if document is not None:
        gypfile = document.get("gypfile")
        facts = Facts(install_scripts=install_scripts(document),
                      scripts_from=evidence.registry_from,
                      gypfile=gypfile if isinstance(gypfile, bool) else None)
    listing = evidence.files.get(entry.path)
    if listing is not None:
        facts = replace(facts, files=listing, files_from=f"{evidence.registry_from} tarball")
    return facts


def files_wanted(evidence: Evidence) -> list[tuple[LockEntry, str | None]]:
    """Tarballs whose file list decides a verdict: bundled prebuilds, downloads (which may
    bundle them too), opaque install scripts (oracledb's and aws-crt's ship their binaries
    outside prebuilds/) and script-less addons.

    The URL is None when neither the lockfile nor a version document names it (lockfiles made
    with omit-lockfile-registry-resolved); the disk cache is keyed by name@version anyway.
    """
    wanted = []
    for entry in evidence.candidates:
        if entry.path in evidence.installed or entry.path in evidence.parents:
            continue
        if entry.path in evidence.files or not _wants_metadata(entry):
            continue  # no install script and no native helper: its files cannot matter
        facts = facts_for(evidence, entry)
        mechanism, _ = classify(entry, facts)
        scriptless = (facts.install_scripts == "" or noop(facts.install_scripts)) and (
            _wants_metadata(entry))
        # A download or an opaque script may ship binaries it loads at runtime: its file list
        # decides that too.
        if mechanism in _LISTED or scriptless:
            document = evidence.manifests.get(spec_key(entry.name, entry.version))
            wanted.append((entry, tarball_url(entry, document)))
    return wanted


def platform_files_wanted(evidence: Evidence) -> list[LockEntry]:
    """Platform packages that fit a target by os/cpu/libc, whose file list is not known yet:
    it tells whether their binaries are for the target's libc (online only)."""
    wanted: dict[str, LockEntry] = {}
    for children in evidence.parents.values():
        for named in children:
            child = platform_of(evidence, named)
            if child.path in evidence.files or child.path in wanted:
                continue
            if any(child_fits(child, target) for target in evidence.targets):
                wanted[child.path] = child
    return list(wanted.values())


def tarball_url(entry: LockEntry, document: dict[str, Any] | None) -> str | None:
    """The lockfile's `resolved` URL, else the registry's dist.tarball."""
    if entry.resolved and entry.resolved.startswith(("https://", "http://")):
        return entry.resolved
    dist = document.get("dist") if document else None
    tarball = dist.get("tarball") if isinstance(dist, dict) else None
    return tarball if isinstance(tarball, str) else None

