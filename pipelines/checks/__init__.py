"""Checks run inside each runtime image before it is published: smoke, health probe, hygiene.

The checks are small Node scripts shipped as package data (`smoke.js`, `probe.js`,
`hygiene.js`): they run on the Node of the image itself, so they prove what the published image
does. Each prints one JSON object on stdout; the parsers here turn it into a result whose
`problems` are the sentences a user reads, and `raise_for_failure()` raises a `PipelineError`.

Imports nothing of the pipeline but `errors`: the scripts know nothing of how they are run.
"""

from __future__ import annotations

from importlib import resources

from pipelines.checks.results import (
    DevDependency,
    ExecutableCheck,
    HygieneResult,
    PackageLoad,
    ProbeResult,
    ProgramCheck,
    SmokeResult,
    parse_hygiene,
    parse_probe,
    parse_smoke,
)

SCRIPTS = ("smoke.js", "probe.js", "hygiene.js", "elf.js", "dpkg.js")
# smoke.js and the scripts it requires beside it: written together wherever smoke.js runs.
SMOKE_FILES = ("elf.js", "dpkg.js", "smoke.js")

__all__ = [
    "SCRIPTS",
    "SMOKE_FILES",
    "DevDependency",
    "ExecutableCheck",
    "HygieneResult",
    "PackageLoad",
    "ProbeResult",
    "ProgramCheck",
    "SmokeResult",
    "parse_hygiene",
    "parse_probe",
    "parse_smoke",
    "script",
]


def script(name: str) -> str:
    """The text of the shipped check script `name` (one of SCRIPTS)."""
    if name not in SCRIPTS:
        raise ValueError(f"no check script named {name!r}: wanted one of {', '.join(SCRIPTS)}")
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")
