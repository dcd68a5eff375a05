"""Which Node.js major a project asks for: `.nvmrc`, `.node-version`, then `engines.node`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_MAJOR = 22
# Majors a base image exists for, most preferred first: the default, then LTS lines, newest
# first, then the rest (see platforms.NODE_SLIM_RELEASES).
CANDIDATES = (22, 24, 20, 18, 26, 25, 23, 21, 19, 16, 14, 12, 17, 15, 13)
_LTS_CODENAMES = {"hydrogen": 18, "iron": 20, "jod": 22, "krypton": 24}
_COMPARATOR = re.compile(r"^(>=|<=|>|<|=|\^|~)?\s*v?(\d+|x|\*)(?:\.(\d+|x|\*))?(?:\.(\d+|x|\*))?")


@dataclass(frozen=True)
class NodeVersion:
    """The Node major to build with and where that choice came from."""

    major: int
    source: str  # ".nvmrc", ".node-version", "engines.node", "default"


def node_version(root: Path, manifest: Mapping[str, Any]) -> NodeVersion:
    """The project's Node major, or the default when it names none it can be read from."""
    for name in (".nvmrc", ".node-version"):
        path = root / name
        if path.is_file():
            major = _pinned_major(path.read_text(encoding="utf-8", errors="replace"))
            if major is not None:
                return NodeVersion(major, name)
    engines = manifest.get("engines")
    spec = engines.get("node") if isinstance(engines, dict) else None
    if isinstance(spec, str) and spec.strip():
        major = major_for_range(spec)
        if major is None:
            # A range no image satisfies (`^10`) names its major: the plan refuses it by name.
            named = re.search(r"\d+", spec)
            major = int(named.group()) if named else None
        if major is not None:
            return NodeVersion(major, "engines.node")
    return NodeVersion(DEFAULT_MAJOR, "default")


def _pinned_major(text: str) -> int | None:
    """`20`, `v20.11.1`, `lts/iron`; None for what names no version (`node`, `lts/*`)."""
    value = text.strip().splitlines()[0].strip().lower() if text.strip() else ""
    if value.startswith("lts/"):
        return _LTS_CODENAMES.get(value.removeprefix("lts/"))
    match = re.match(r"^v?(\d+)", value)
    return int(match.group(1)) if match else None


def major_for_range(spec: str) -> int | None:
    """The preferred candidate major that satisfies an npm semver range, if any does."""
    for major in CANDIDATES:
        if satisfies(major, spec):
            return major
    return None


def satisfies(major: int, spec: str) -> bool:
    """Whether some `major.x.y` release satisfies `spec` (`||` of space-separated comparators).

    Majors are what base images are tagged by, so a range is read at major precision: `>=18.17`
    allows 18, `<20.3` allows 20, `^20.11` allows only 20.
    """
    for raw in spec.split("||"):
        alternative = re.sub(r"\s+-\s+", " - ", raw.strip())
        if " - " in alternative:  # a hyphen range: low - high
            low, _, high = alternative.partition(" - ")
            alternative = f">={low.strip()} <={high.strip()}"
        comparators = re.sub(r"(>=|<=|>|<|=|\^|~)\s+", r"\1", alternative).split()
        if all(_allows(major, c) for c in comparators or ["*"]):
            return True
    return False


def _allows(major: int, comparator: str) -> bool:  # noqa: PLR0911 - one return per operator
    match = _COMPARATOR.match(comparator)
    if not match:
        return False
    op, first, minor, patch = match.groups()
    if first in ("x", "*"):
        return True
    wanted = int(first)
    # Whether the comparator's version is the very start of its major (20, 20.x, 20.0.0).
    at_start = minor in (None, "x", "*", "0") and patch in (None, "x", "*", "0")
    if op in (None, "=", "^", "~"):
        return major == wanted
    if op == ">=":
        return major >= wanted
    if op == ">":
        return major > wanted if minor in (None, "x", "*") else major >= wanted
    if op == "<=":
        return major <= wanted
    return major < wanted if at_start else major <= wanted  # "<"
