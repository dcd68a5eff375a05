"""The audit: evidence in, one verdict per native package and target out."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import anyio

from pipelines.audit.coverage import (
    constrain,
    executable_verdicts,
    optional_skipped,
    platform_verdicts,
    prebuild_verdicts,
    simple_verdicts,
)
from pipelines.audit.detect import Facts, classify, compile_fallback, executables, wants_metadata
from pipelines.audit.evidence import (
    Evidence,
    absent_platform_deps,
    collect,
    facts_for,
    files_wanted,
    manifests_wanted,
    newest_published,
    platform_files_wanted,
    platform_of,
    spec_key,
    tarball_url,
    unpublished_wanted,
)
from pipelines.audit.install_scripts import apply_scripts, scripts_wanted, unclassified_note
from pipelines.audit.model import (
    DEFAULT_TARGETS,
    AuditError,
    AuditReport,
    Mechanism,
    PackageAudit,
    Target,
    TargetVerdict,
    Verdict,
)
from pipelines.audit.own import own_addons
from pipelines.audit.project import load_project
from pipelines.audit.registry import NpmRegistry
from pipelines.audit.registry_config import RegistryConfig
from pipelines.errors import NodePipelinesError
from pipelines.packagers.lockfiles.entry import LockEntry


def not_built(entry: LockEntry) -> str:
    """Why a package that needs its install script gets none, naming the deciding setting."""
    return (f"the package manager is told not to run its install script ({entry.build_from}): "
            "allow its build")


def audit_source(
    source: Path, targets: Sequence[Target] = DEFAULT_TARGETS, *, offline: bool = True,
    registry: RegistryConfig | None = None, workspace: str | None = None,
    node_major: int | None = None,
) -> AuditReport:
    """Audit `source` (as its workspace package `workspace` installs it, if given) without an
    event loop; offline it reads the lockfile, node_modules and the registry cache only.
    Online it runs audit_source_async in a new event loop.

    `node_major` is the target Node: a bundled binary for another Node ABI does not count
    (None: any ABI counts)."""
    if not offline:
        return anyio.run(_run_async, source, tuple(targets), registry, workspace, node_major)
    evidence = _evidence(source, targets, workspace, node_major)
    client = NpmRegistry(registry or RegistryConfig.from_env(), offline=True)
    evidence.registry_from = "registry cache"
    found = {spec_key(name, v): known for name, versions in scripts_wanted(evidence).items()
             for v in versions if (known := client.cached_install_script(name, v)) is not None}
    apply_scripts(evidence, found)
    for name, version in manifests_wanted(evidence):
        evidence.manifests[spec_key(name, version)] = client.cached_manifest(name, version)
    for entry, _url in files_wanted(evidence):
        evidence.files[entry.path] = client.cached_files(entry.name, entry.version)
    return conclude(evidence, online=False)


async def audit_source_async(
    source: Path, targets: Sequence[Target] = DEFAULT_TARGETS, *, offline: bool = False,
    registry: RegistryConfig | None = None, workspace: str | None = None,
    node_major: int | None = None,
) -> AuditReport:
    """Audit `source`, asking the npm registry (in parallel, cached on disk) unless offline."""
    if offline:
        return audit_source(source, targets, offline=True, registry=registry,
                            workspace=workspace, node_major=node_major)
    return await _run_async(source, tuple(targets), registry, workspace, node_major)


async def _run_async(
    source: Path, targets: tuple[Target, ...], config: RegistryConfig | None,
    workspace: str | None = None, node_major: int | None = None,
) -> AuditReport:
    evidence = _evidence(source, targets, workspace, node_major)
    try:
        async with NpmRegistry(config or RegistryConfig.from_env(), offline=False) as client:
            found: dict[str, bool] = {}
            async with anyio.create_task_group() as group:
                for name, versions in scripts_wanted(evidence).items():
                    group.start_soon(_fetch_scripts, client, found, name, versions)
            apply_scripts(evidence, found)
            async with anyio.create_task_group() as group:
                for name, version in manifests_wanted(evidence):
                    group.start_soon(_fetch_manifest, client, evidence, name, version)
            async with anyio.create_task_group() as group:
                for name, version in unpublished_wanted(evidence):
                    group.start_soon(_fetch_published, client, evidence, name, version)
                for entry, url in files_wanted(evidence):
                    if url is not None:
                        group.start_soon(_fetch_files, client, evidence, entry, url)
                for child in platform_files_wanted(evidence):
                    group.start_soon(_fetch_platform_files, client, evidence, child)
    except* NodePipelinesError as group:
        # Parallel fetches fail together; the user reads one sentence, the first.
        raise _first(group) from None
    return conclude(evidence, online=True)


def _first(group: BaseExceptionGroup[NodePipelinesError]) -> NodePipelinesError:
    error: BaseException = group
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    assert isinstance(error, NodePipelinesError)
    return error


async def _fetch_scripts(
    client: NpmRegistry, found: dict[str, bool], name: str, versions: list[str]
) -> None:
    for version, known in (await client.install_scripts(name, versions)).items():
        found[spec_key(name, version)] = known


async def _fetch_manifest(
    client: NpmRegistry, evidence: Evidence, name: str, version: str
) -> None:
    evidence.manifests[spec_key(name, version)] = await client.manifest(name, version)


async def _fetch_published(
    client: NpmRegistry, evidence: Evidence, name: str, version: str
) -> None:
    """What the registry has of a platform package whose named version it lacks."""
    published = await client.published(name)
    evidence.unpublished[spec_key(name, version)] = (
        newest_published(*published, version) if published
        else "none, the registry has no package of that name")


async def _fetch_files(
    client: NpmRegistry, evidence: Evidence, entry: LockEntry, url: str
) -> None:
    evidence.files[entry.path] = await client.files(entry.name, entry.version, url)


async def _fetch_platform_files(
    client: NpmRegistry, evidence: Evidence, child: LockEntry
) -> None:
    """A platform package's file list; its version document only when the URL is unknown."""
    listing = client.cached_files(child.name, child.version)
    if listing is None:
        key = spec_key(child.name, child.version)
        url = tarball_url(child, evidence.manifests.get(key))
        if url is None:
            url = tarball_url(child, await client.manifest(child.name, child.version))
        if url is None:
            return
        listing = await client.files(child.name, child.version, url)
    evidence.files[child.path] = listing


def _evidence(
    source: Path, targets: Sequence[Target], workspace: str | None, node_major: int | None
) -> Evidence:
    if not targets:
        raise AuditError("no target platform given: pass at least one --platform")
    return collect(load_project(Path(source), workspace), tuple(targets), node_major)


def conclude(evidence: Evidence, *, online: bool) -> AuditReport:
    """Turn collected evidence into the report (pure: no I/O)."""
    audits = []
    for entry in evidence.candidates:
        if entry.path in evidence.parents:
            audits.append(_platform_audit(evidence, entry))
            continue
        if entry.path not in evidence.installed and not wants_metadata(entry):
            continue  # neither an install script nor a native helper: plain JavaScript
        facts = facts_for(evidence, entry)
        mechanism, found = classify(entry, facts)
        if mechanism is Mechanism.NONE or _built_once(evidence, entry, mechanism):
            continue
        audits.append(_audit(entry, mechanism, found, facts, evidence))
    audits.sort(key=lambda a: a.path)
    audits += own_addons(evidence.project, evidence.targets)
    notes = _notes(audits, online)
    if (unclassified := unclassified_note(evidence, online=online)) is not None:
        notes.append(unclassified)
    return AuditReport(str(evidence.project.root), evidence.targets, tuple(audits), online,
                       notes=tuple(notes), node_major=evidence.node_major)


def _built_once(evidence: Evidence, entry: LockEntry, mechanism: Mechanism) -> bool:
    """With --workspace, the workspace packages' own lifecycle scripts run once in the build
    stage, as the root's do: a plain one is no business of the targets."""
    return bool(evidence.project.scope) and entry.local and (
        mechanism is Mechanism.INSTALL_SCRIPT)


def _audit(
    entry: LockEntry, mechanism: Mechanism, found: list[str], facts: Facts,
    evidence: Evidence,
) -> PackageAudit:
    targets = evidence.targets
    files = executables(entry) if mechanism is Mechanism.DOWNLOAD else ()
    if mechanism is Mechanism.BUNDLED_PREBUILDS:
        verdicts = prebuild_verdicts(facts, targets, fallback=compile_fallback(facts, entry),
                                     node_major=evidence.node_major)
    elif files:
        verdicts = executable_verdicts(entry, files, targets)
    elif mechanism.native:
        verdicts = simple_verdicts(mechanism, targets)
    else:
        verdicts = {}
    if not entry.build and mechanism in (Mechanism.DOWNLOAD, Mechanism.COMPILE):
        reason = not_built(entry)
        verdicts = {t.platform: TargetVerdict(Verdict.MISSING, reason) for t in targets}
        found = [*found, reason]
    if mechanism.native:
        verdicts = optional_skipped(entry, constrain(entry, verdicts, targets))
    runs = entry.build or mechanism is not Mechanism.INSTALL_SCRIPT
    if not runs:
        found = [*found, f"not run: the project's build policy does not allow it "
                         f"({entry.build_from})"]
    return PackageAudit(entry.name, entry.version, entry.path, entry.dev, entry.optional,
                        mechanism, tuple(found), verdicts, executables=files, runs=runs)


def _platform_audit(evidence: Evidence, parent: LockEntry) -> PackageAudit:
    named = evidence.parents[parent.path]
    children = [platform_of(evidence, c) for c in named]
    absent = {name: evidence.manifests.get(spec_key(name, spec))
              for name, spec in absent_platform_deps(evidence.project, parent).items()}
    facts = facts_for(evidence, parent)
    fallback = compile_fallback(facts, parent)
    unpublished = {name: (spec, newest) for name, spec in absent_platform_deps(
        evidence.project, parent).items()
        if (newest := evidence.unpublished.get(spec_key(name, spec))) is not None}
    verdicts = platform_verdicts(parent, children, absent, evidence.targets, fallback=fallback,
                                 files=evidence.files,
                                 files_from=f"{evidence.registry_from} tarball",
                                 unpublished=unpublished)
    linux = sum(1 for c in children if "linux" in c.os or not c.os)
    found = [f"lockfile: {len(children)} platform packages as optional dependencies "
             f"({linux} for linux)"]
    if any(not c.platform_known for c in named):
        source = ("lockfile records none, read from their names" if children == named else
                  f"{evidence.registry_from} (the lockfile records none)")
        found.append(f"os/cpu/libc of the platform packages: {source}")
    listed = sum(1 for c in children if evidence.files.get(c.path) is not None)
    if listed:
        found.append(f"{evidence.registry_from} tarball: file lists of {listed} platform "
                     "packages, read for the C library their binaries are built against")
    if any(doc is not None for doc in absent.values()):
        found.append(f"{evidence.registry_from}: os/cpu/libc of platform packages the "
                     "lockfile lacks")
    return PackageAudit(parent.name, parent.version, parent.path, parent.dev, parent.optional,
                        Mechanism.PLATFORM_PACKAGES, tuple(found),
                        optional_skipped(parent, constrain(parent, verdicts, evidence.targets)))


def _notes(audits: list[PackageAudit], online: bool) -> list[str]:
    notes = []
    unread = [a.name for a in audits if a.mechanism is Mechanism.INSTALL_SCRIPT
              and any("not inspected" in e for e in a.evidence)]
    if unread and not online:
        notes.append(f"{len(unread)} install scripts were not read offline ("
                     f"{', '.join(unread[:5])}{'...' if len(unread) > 5 else ''}): "
                     "run without --offline to see whether they build native code")
    return notes
