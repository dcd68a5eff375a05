"""The smoke check's verdict on the declared system packages (`smoke.js --system`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SystemPackageCheck:
    """A declared system package in the image: dpkg's record, and each program it ships with
    what it is built for (path, `arm64 64-bit`), checked with its libraries on the target, and
    how it ran once (`ran`: path, `--version: exit 0`)."""

    name: str
    version: str | None
    programs: tuple[tuple[str, str], ...]
    error: str | None
    ok: bool
    ran: tuple[tuple[str, str], ...] = ()


def parse_system_packages(entries: Iterable[Any]) -> tuple[SystemPackageCheck, ...]:
    """Read smoke.js's `system` list; a package passes only if every program of it does."""
    return tuple(
        SystemPackageCheck(
            name=str(s["name"]),
            version=s.get("version"),
            programs=tuple((str(f["path"]), str(f["got"])) for f in s["programs"]),
            error=s.get("error"),
            ok=bool(s["ok"]) and all(f["ok"] for f in s["programs"]),
            ran=tuple((str(f["path"]), str(f["ran"])) for f in s["programs"] if f.get("ran")),
        )
        for s in entries
    )
