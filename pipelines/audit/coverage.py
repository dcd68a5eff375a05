"""One verdict per native package and target, with the sentence that justifies it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pipelines.audit.detect import Facts
from pipelines.audit.lockfile import LockEntry
from pipelines.audit.model import Mechanism, Target, TargetVerdict, Verdict
from pipelines.audit.prebuilds import matching_prebuilds, other_libc_only, platform_tag

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
    files_from: str = "registry tarball",
) -> Verdicts:
    """Platform packages: prebuilt when the lockfile holds one for the target.

    `absent` maps declared optional dependencies missing from the lockfile to their registry
    document (None offline); `fallback` says the install script compiles when none fits.
    `files` maps children's lockfile paths to their tarball file lists (online only): a child
    whose binaries are all for another libc provides none for the target.
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
        lacking = [name for name, doc in absent.items() if _absent_fits(name, doc, target)]
        if present:
            reason = "; ".join(libc_mismatch(files_from, c.path, wrong_libc[c.path], target)
                               for c in present)
        elif lacking:
            reason = (f"the lockfile lacks {', '.join(lacking[:3])}, the platform package for "
                      f"{target} "
                      "(npm drops them when the lockfile is made on another platform): "
                      f"regenerate it with {regenerate_hint(target)}")
        else:
            reason = f"no platform package of {parent.name} is published for {target}"
        if fallback:
            verdicts[target.platform] = TargetVerdict(
                Verdict.COMPILE, f"{reason}; its install script builds from source instead")
        else:
            verdicts[target.platform] = TargetVerdict(Verdict.MISSING, reason)
    return verdicts


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


def prebuild_verdicts(facts: Facts, targets: Sequence[Target], *, fallback: bool) -> Verdicts:
    """Bundled prebuilds: prebuilt when the file list has one for the target."""
    verdicts: Verdicts = {}
    for target in targets:
        if facts.files is None:
            verdicts[target.platform] = TargetVerdict(
                Verdict.COMPILE if fallback else Verdict.MISSING,
                "prebuild coverage unknown (file list not read, e.g. offline); "
                + ("node-gyp-build compiles when none fits" if fallback
                   else "nothing builds it when none fits"))
            continue
        found = matching_prebuilds(facts.files, target)
        if found:
            verdicts[target.platform] = TargetVerdict(
                Verdict.PREBUILT, f"{facts.files_from}: {found[0]}")
        elif fallback:
            verdicts[target.platform] = TargetVerdict(
                Verdict.COMPILE, f"{facts.files_from}: no prebuild for {target}; "
                "the install script compiles it from source")
        else:
            verdicts[target.platform] = TargetVerdict(
                Verdict.MISSING, f"{facts.files_from}: no prebuild for {target} and no "
                "install script to compile one")
    return verdicts


def simple_verdicts(mechanism: Mechanism, targets: Sequence[Target]) -> Verdicts:
    """Download and compile do not depend on the target (coverage of downloads is unknown)."""
    if mechanism is Mechanism.DOWNLOAD:
        verdict, reason = Verdict.DOWNLOAD, (
            "fetched at install time from outside the npm registry (coverage unknown); "
            "falls back to compiling")
    else:
        verdict, reason = Verdict.COMPILE, "built from source with node-gyp on the target"
    return {t.platform: TargetVerdict(verdict, reason) for t in targets}


def constrain(entry: LockEntry, verdicts: Verdicts, targets: Sequence[Target]) -> Verdicts:
    """A package whose own os/cpu/libc excludes a target is never installed there."""
    for target in targets:
        if not fits(entry.os, entry.cpu, entry.libc, target):
            declared = "/".join(",".join(v) for v in (entry.os, entry.cpu, entry.libc) if v)
            verdicts[target.platform] = TargetVerdict(
                Verdict.MISSING, f"the package declares {declared}; npm skips it on {target}")
    return verdicts
