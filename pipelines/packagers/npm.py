"""npm: package-lock.json (or npm-shrinkwrap.json), `npm ci`, npm's content-addressed cache."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from pipelines.packagers.base import (
    CacheDir,
    Command,
    Focus,
    Install,
    TargetSpec,
    manifest_workspaces,
)
from pipelines.packagers.lockfiles.entry import LockEntry
from pipelines.packagers.lockfiles.npm import read_npm_lockfile

NPM_CACHE = "/cache/npm"
_QUIET = {
    "npm_config_cache": NPM_CACHE,
    "npm_config_update_notifier": "false",
    "npm_config_fund": "false",
    "npm_config_audit": "false",
}


@dataclass(frozen=True)
class Npm:
    """npm at the version `packageManager` pins, or the one the base image ships."""

    name: ClassVar[str] = "npm"
    version: str = ""
    lockfile: str = "package-lock.json"
    workspaces: bool = False  # package.json declares workspaces
    focus: Focus | None = None

    def manifests(self) -> tuple[str, ...]:
        """package.json, the lockfile and .npmrc: all `npm ci` reads (and, in a workspace,
        the workspace packages' package.json)."""
        workspace = ("**/package.json",) if self.workspaces else ()
        return ("package.json", self.lockfile, ".npmrc", *workspace)

    def workspace_globs(self, root: Path, manifest: Mapping[str, Any]) -> tuple[str, ...]:
        """package.json's `workspaces`."""
        return manifest_workspaces(manifest)

    def setup(self) -> tuple[Command, ...]:
        """npm ships with Node; a pinned version is installed over it once."""
        if not self.version:
            return ()
        return (("npm", "install", "-g", f"npm@{self.version}"),)

    def env(self) -> Mapping[str, str]:
        """npm's cache on the cache volume, and no notifier, fund or audit chatter."""
        return dict(_QUIET)

    def caches(self) -> tuple[CacheDir, ...]:
        """`_cacache` is content-addressed; `_prebuilds` (prebuild-install) is not."""
        return (
            CacheDir("npm-cacache", f"{NPM_CACHE}/_cacache", per_target=False),
            CacheDir("npm-prebuilds", f"{NPM_CACHE}/_prebuilds", per_target=True),
        )

    def install_all(self) -> Install:
        """`npm ci --ignore-scripts`: every dependency, nothing executed."""
        return Install((("npm", "ci", "--ignore-scripts"),))

    def install_production(self, target: TargetSpec | None) -> Install:
        """`npm ci --omit=dev --ignore-scripts` (`--workspace NAME` for a focus), told the
        target's os, cpu and libc."""
        command: Command = ("npm", "ci", "--omit=dev", "--ignore-scripts")
        if self.focus is not None:
            command = (*command, f"--workspace={self.focus.name}")
        if target is not None:
            command = (*command, f"--os={target.os}", f"--cpu={target.cpu}",
                       f"--libc={target.libc}")
        return Install((command,))

    def rebuild(self, packages: Sequence[str]) -> Command:
        """`npm rebuild NAME...` runs exactly those packages' install scripts."""
        return ("npm", "rebuild", *packages)

    def run_script(self, script: str) -> Command:
        """`npm run SCRIPT`."""
        return ("npm", "run", script)

    def read_lockfile(self, root: Path, manifest: Mapping[str, Any]) -> Mapping[str, LockEntry]:
        """package-lock.json versions 2 and 3, through the audit's reader."""

        return read_npm_lockfile(root, manifest, self.lockfile)
