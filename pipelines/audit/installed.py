"""Evidence from the tree on disk: an installed node_modules, or a local (file:) package."""

from __future__ import annotations

import json
import os
from pathlib import Path

from pipelines.audit.detect import NATIVE_HINTS, Facts, install_scripts
from pipelines.packagers.lockfiles.entry import LockEntry

_MAX_PREBUILDS = 500  # a prebuilds/ tree is small; stop walking pathological ones
_MAX_DEPTH = 4  # oracledb's build/Release/x.node and aws-crt's dist/bin/<platform>/x.node


def installed_facts(root: Path, entry: LockEntry) -> Facts | None:
    """Read the package's own package.json and files under `root`, if it is there.

    A node_modules copy only counts when its version is the locked one: a stale install says
    nothing about what `npm ci` will put in the image.
    """
    directory = root / entry.path
    manifest_path = directory / "package.json"
    if not manifest_path.is_file():
        return None
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None  # an unreadable install is no evidence; the lockfile still is
    if not isinstance(manifest, dict):
        return None
    if not entry.local and manifest.get("version") != entry.version:
        return None
    where = "source tree" if entry.local else "node_modules"
    gypfile = manifest.get("gypfile")
    scripts = install_scripts(manifest)
    deps = manifest.get("dependencies")
    # Binaries outside prebuilds/ come with an install script or a loader; only then walk.
    walk = bool(scripts) or (isinstance(deps, dict) and bool(NATIVE_HINTS.intersection(deps)))
    return Facts(
        install_scripts=scripts, scripts_from=where,
        gypfile=gypfile if isinstance(gypfile, bool) else None,
        files=tuple(_native_files(directory, walk=walk)), files_from=where,
    )


def _native_files(directory: Path, *, walk: bool) -> list[str]:
    """binding.gyp and the package's `.node` files (prebuilds/** always, elsewhere when
    `walk`): the only files the audit reads from a package."""
    files = ["binding.gyp"] if (directory / "binding.gyp").is_file() else []
    prebuilds = directory / "prebuilds"
    if prebuilds.is_dir():
        for path in sorted(prebuilds.rglob("*.node"))[:_MAX_PREBUILDS]:
            files.append(path.relative_to(directory).as_posix())
    if walk:
        files += _addons_outside_prebuilds(directory)
    return files


def _addons_outside_prebuilds(directory: Path) -> list[str]:
    found: list[str] = []
    for root, dirs, names in os.walk(directory):
        depth = len(Path(root).relative_to(directory).parts)
        dirs[:] = [] if depth >= _MAX_DEPTH else sorted(
            d for d in dirs if d not in ("node_modules", "prebuilds") and not d.startswith("."))
        found += [(Path(root) / n).relative_to(directory).as_posix()
                  for n in sorted(names) if n.endswith(".node")]
        if len(found) >= _MAX_PREBUILDS:
            break
    return found[:_MAX_PREBUILDS]
