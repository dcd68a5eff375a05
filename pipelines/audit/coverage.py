"""One verdict per native package and target, with the sentence that justifies it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pipelines.audit.detect import Facts
from pipelines.audit.model import Mechanism, Target, TargetVerdict, Verdict
from pipelines.audit.prebuilds import (
    NODE_ABI,
    abi_fits,
    describe_abi,
    for_target,
    node_abi,
    other_libc_only,
)
from pipelines.packagers.lockfiles.entry import LockEntry
from pipelines.packagers.lockfiles.platform_names import platform_tag

Verdicts = dict[str, TargetVerdict]


def allowed(values: Sequence[str], value: str) -> bool:
    """npm's os/cpu/libc rule: empty allows all, `!x` excludes x, otherwise list membership."""
    if not values:
        return True
    if f"!{value}" in values:
        return False
    positives = [v for v in values if not v.startswith("!")]
    return not positives or value in positives


def fits(os: Sequence[str], cpu: Sequence[str], libc: Sequence[str], target: Target) -> bool:
    """True when a package with these constraints installs on `target`."""
    return allowed(os, target.os) and allowed(cpu, target.cpu) and allowed(libc, target.libc)


def regenerate_hint(target: Target) -> str:
    """The command that puts a target's platform packages into the lockfile."""
    return (f"`npm install --package-lock-only --os={target.os} --cpu={target.cpu} "
            f"--libc={target.libc}`")


def platform_verdicts(
    parent: LockEntry, children: Sequence[LockEntry],
    absent: Mapping[str, Mapping[str, Any] | None], targets: Sequence[Target],
    *, fallback: bool, files: Mapping[str, tuple[str, ...] | None] | None = None,
    files_from: str = "registry tarball", unpublished: Mapping[str, tuple[str, str]] | None = None,
) -> Verdicts:
    """Platform packages: prebuilt when the lockfile holds one for the target.

    `absent` maps declared optional dependencies missing from the lockfile to their registry
    document (None offline); `fallback` says the install script compiles when none fits.
    `files` maps children's lockfile paths to their tarball file lists (online only): a child
    whose binaries are all for another libc provides none for the target. `unpublished` maps
    absent ones the registry answered 404 for to (version, what it has instead).
    """
    verdicts: Verdicts = {}
    for target in targets:
        present = [c for c in children if child_fits(c, target)]
        wrong_libc = {c.path: other_libc_only((files or {}).get(c.path) or (), target)
                      for c in present}
        usable = [c for c in present if not wrong_libc[c.path]]
        if usable:
            names = ", ".join(c.path for c in usable)
            verdicts[target.platform] = TargetVerdict(Verdict.PREBUILT, f"lockfile: {names}")
            continue
        if present:
            reason = "; ".join(libc_mismatch(files_from, c.path, wrong_libc[c.path], target)
                               for c in present)
        else:
            lacking = [name for name, doc in absent.items() if _absent_fits(name, doc, target)]
            reason = _no_platform_package(parent, lacking, target, unpublished or {})
        if fallback:
            verdicts[target.platform] = TargetVerdict(
                Verdict.COMPILE, f"{reason}; its install script builds from source instead")
        else:
            verdicts[target.platform] = TargetVerdict(Verdict.MISSING, reason)
    return verdicts


def _no_platform_package(
    parent: LockEntry, lacking: Sequence[str], target: Target,
    unpublished: Mapping[str, tuple[str, str]],
) -> str:
    """Why the lockfile holds no platform package for `target`: never published, dropped by
    npm from a lockfile made elsewhere, or there is none."""
    if lacking and all(n in unpublished for n in lacking):
        return _never_published(parent, lacking, target, unpublished)
    if lacking:
        return (f"the lockfile lacks {', '.join(lacking[:3])}, the platform package for "
                f"{target} (npm drops them when the lockfile is made on another platform): "
                f"regenerate it with {regenerate_hint(target)}")
    return f"no platform package of {parent.name} is published for {target}"


def _never_published(
    parent: LockEntry, lacking: Sequence[str], target: Target,
    unpublished: Mapping[str, tuple[str, str]],
) -> str:
    """A platform package version the registry never had: no lockfile can bring it back."""
    named = ", ".join(f"{n}@{unpublished[n][0]}" for n in lacking[:3])
    newest = "; ".join(f"{n}: {unpublished[n][1]}" for n in lacking[:3])
    return (f"{named}, the platform package {parent.name}@{parent.version} names for "
            f"{target}, was never published (the registry has no such version; newest "
            f"published {newest}): use a {parent.name} version whose platform package for "
            f"{target.platform} exists")


def libc_mismatch(files_from: str, path: str, binaries: Sequence[str], target: Target) -> str:
    """Why a platform package that fits by os/cpu/libc still has no binary for `target`."""
    libcs = "/".join(sorted({platform_tag(b).libc or "" for b in binaries}))
    shown = ", ".join(b.rpartition("/")[2] for b in binaries[:4])
    return f"{files_from}: {path} ships only {libcs} binaries ({shown}), none for {target}"


def child_fits(child: LockEntry, target: Target) -> bool:
    """Lockfiles from npm 8 carry no `libc`: then the name's -gnu/-musl/linuxmusl decides."""
    if not fits(child.os, child.cpu, child.libc, target):
        return False
    if child.libc:
        return True
    named = platform_tag(_unscoped(child.name))
    return named.libc is None or named.libc == target.libc


def _unscoped(name: str) -> str:
    """`@img/sharp-linux-x64` -> `sharp-linux-x64`: a scope never names a platform."""
    return name.rpartition("/")[2] if name.startswith("@") else name


def _absent_fits(name: str, document: Mapping[str, Any] | None, target: Target) -> bool:
    if document is not None:
        return fits(_strings(document.get("os")), _strings(document.get("cpu")),
                    _strings(document.get("libc")), target)
    tag = platform_tag(_unscoped(name))
    return tag.matches(target, unspecified_libc=None)


def _strings(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def prebuild_verdicts(
    facts: Facts, targets: Sequence[Target], *, fallback: bool, node_major: int | None = None
) -> Verdicts:
    """Bundled prebuilds: prebuilt when the file list has one for the target and its Node
    (`node_major`; None: any Node)."""
    verdicts: Verdicts = {}
    for target in targets:
        if facts.files is None:
            verdicts[target.platform] = TargetVerdict(
                Verdict.COMPILE if fallback else Verdict.MISSING,
                "prebuild coverage unknown (file list not read, e.g. offline); "
                + ("node-gyp-build compiles when none fits" if fallback
                   else "nothing builds it when none fits"))
            continue
        platform_binaries = for_target(facts.files, target)
        found = [f for f in platform_binaries if abi_fits(f, node_major)]
        if found:
            verdicts[target.platform] = TargetVerdict(
                Verdict.PREBUILT, f"{facts.files_from}: {found[0]}")
            continue
        lacking = (_wrong_abi(platform_binaries, node_major) if platform_binaries
                   else f"no prebuild for {target}")
        if fallback:
            verdicts[target.platform] = TargetVerdict(
                Verdict.COMPILE, f"{facts.files_from}: {lacking}; "
                "the install script compiles it from source")
        else:
            verdicts[target.platform] = TargetVerdict(
                Verdict.MISSING, f"{facts.files_from}: {lacking}; no "
                "install script compiles one")
    return verdicts


def _wrong_abi(binaries: Sequence[str], node_major: int | None) -> str:
    """Why binaries for the right platform do not count: they are for other Node ABIs."""
    abis = sorted({abi for b in binaries if (abi := node_abi(b))})
    wanted = NODE_ABI.get(node_major or 0, 0)
    span = describe_abi(abis[0]) if len(abis) == 1 else (
        f"{describe_abi(abis[0])} to {describe_abi(abis[-1])}")
    example = min(binaries, key=lambda b: -(node_abi(b) or 0))
    return (f"{len(binaries)} binaries for the platform, for Node {span} only (e.g. "
            f"{example}), none for {describe_abi(wanted)}, the target's Node")


def simple_verdicts(mechanism: Mechanism, targets: Sequence[Target]) -> Verdicts:
    """Download and compile do not depend on the target (coverage of downloads is unknown)."""
    if mechanism is Mechanism.DOWNLOAD:
        verdict, reason = Verdict.DOWNLOAD, (
            "fetched at install time from outside the npm registry (coverage unknown); "
            "falls back to compiling")
    else:
        verdict, reason = Verdict.COMPILE, "built from source with node-gyp on the target"
    return {t.platform: TargetVerdict(verdict, reason) for t in targets}


def executable_verdicts(
    entry: LockEntry, files: Sequence[str], targets: Sequence[Target]
) -> Verdicts:
    """A download of executables: its script fetches them for the machine it runs on, so it
    runs on each target, and nothing compiles if the download fails."""
    shown = ", ".join(files)
    return {t.platform: TargetVerdict(
        Verdict.DOWNLOAD,
        f"its install script downloads {shown} into {entry.path} for the machine it runs on, "
        f"from outside the npm registry (coverage unknown): it runs on {t.platform} itself, and "
        f"the smoke test checks each file is there and built for {t.cpu}") for t in targets}


OPTIONAL = ("optional: npm, pnpm and yarn skip an optional dependency that cannot install, "
            "and the service runs without it (--strict fails on it)")


def optional_skipped(entry: LockEntry, verdicts: Verdicts) -> Verdicts:
    """An optional dependency (the lockfile's `optional`, yarn's dependenciesMeta optional)
    with no binary is skipped, not missing: a warning, never a blocker."""
    if not entry.optional:
        return verdicts
    return {p: TargetVerdict(Verdict.SKIPPED, f"{v.reason}; {OPTIONAL}")
            if v.verdict is Verdict.MISSING else v for p, v in verdicts.items()}


def constrain(entry: LockEntry, verdicts: Verdicts, targets: Sequence[Target]) -> Verdicts:
    """A package whose own os/cpu/libc excludes a target is never installed there."""
    for target in targets:
        if not fits(entry.os, entry.cpu, entry.libc, target):
            declared = "/".join(",".join(v) for v in (entry.os, entry.cpu, entry.libc) if v)
            verdicts[target.platform] = TargetVerdict(
                Verdict.MISSING, f"the package declares {declared}; npm skips it on {target}")
    return verdicts
