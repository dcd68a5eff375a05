"""Which production packages run an install script, where the lockfile does not say.

pnpm 9+ and yarn berry lockfiles record no install scripts, so a package with one that
depends on no native helper (ssh2, @vscode/ripgrep, @prisma/client) went unseen. The registry
says, in the abbreviated packument npm itself installs from (`hasInstallScript`); the answers
are cached on disk by name@version. Offline, the cache answers what it can and the audit says
how many packages stayed unclassified.
"""

from __future__ import annotations

from dataclasses import replace

from pipelines.audit.evidence import Evidence, spec_key
from pipelines.packagers.lockfiles.entry import LockEntry


def unknown(evidence: Evidence) -> list[LockEntry]:
    """Production registry packages whose install scripts nobody has told the audit about."""
    return [e for e in evidence.candidates
            if not e.scripts_known and not e.dev and not e.local
            and e.path not in evidence.installed]


def scripts_wanted(evidence: Evidence) -> dict[str, list[str]]:
    """name -> the versions whose install scripts are unknown (one request per name)."""
    wanted: dict[str, list[str]] = {}
    for entry in unknown(evidence):
        versions = wanted.setdefault(entry.name, [])
        if entry.version not in versions:
            versions.append(entry.version)
    return wanted


def apply_scripts(evidence: Evidence, found: dict[str, bool]) -> None:
    """Put the registry's answers (by name@version) into the candidates, as facts."""
    evidence.candidates = [
        replace(e, has_install_script=known, scripts_known=True)
        if not e.scripts_known and (known := found.get(spec_key(e.name, e.version))) is not None
        else e for e in evidence.candidates]


def unclassified_note(evidence: Evidence, *, online: bool) -> str | None:
    """One sentence when some production packages' install scripts stayed unknown."""
    left = unknown(evidence)
    if not left:
        return None
    shown = ", ".join(f"{e.name}@{e.version}" for e in left[:5]) + (
        ", ..." if len(left) > 5 else "")
    why = "the registry has no document for them" if online else (
        "offline, the registry cache does not know them")
    return (f"{len(left)} production packages could not be classified ({shown}): the lockfile "
            f"records no install scripts and {why}; each is taken to run one only if it "
            "depends on a native build helper" + ("" if online else ": run online to know"))
