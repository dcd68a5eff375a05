"""pnpm: pnpm-lock.yaml, `pnpm install --frozen-lockfile`, a content-addressed store."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from pipelines.packagers.base import CacheDir, Command, Focus, Install, TargetSpec
from pipelines.packagers.corepack import COREPACK_CACHE, COREPACK_ENV, corepack_setup, major
from pipelines.packagers.lockfiles.entry import LockEntry, strings
from pipelines.packagers.lockfiles.pnpm import read_pnpm_lockfile, workspace_settings

PNPM_STORE = "/cache/pnpm/store"
_SAVED = ".package.json.nodepipe"
# pnpm 8 and 9 take the target platform only from package.json's `pnpm.supportedArchitectures`
# (pnpm 10 also has --os/--cpu/--libc, but not in every 10.x): set it for the one install, then
# put the user's package.json back. The lockfile check does not look at this setting.
_SET_TARGET = (
    "const fs=require('fs');const [os,cpu,libc]=process.argv.slice(1);"
    f"fs.copyFileSync('package.json','{_SAVED}');"
    "const p=JSON.parse(fs.readFileSync('package.json','utf8'));"
    "p.pnpm=Object.assign({},p.pnpm,{supportedArchitectures:{os:[os],cpu:[cpu],libc:[libc]}});"
    "fs.writeFileSync('package.json',JSON.stringify(p,null,2)+'\\n');"
)


@dataclass(frozen=True)
class Pnpm:
    """pnpm at the pinned version (packageManager, else one that reads the lockfile)."""

    name: ClassVar[str] = "pnpm"
    version: str = "9.15.9"
    lockfile: str = "pnpm-lock.yaml"
    integrity: str = ""  # the +sha512... suffix of packageManager, for corepack to check
    focus: Focus | None = None

    @property
    def major(self) -> int:
        """The major version: pnpm 10 runs no dependency scripts unless allowed."""
        return major(self.version, 9)

    def manifests(self) -> tuple[str, ...]:
        """What `pnpm install` reads: manifests, lockfile, workspace file, hooks, patches."""
        return ("package.json", self.lockfile, "pnpm-workspace.yaml", ".npmrc", ".pnpmfile.cjs",
                "patches/**", "**/package.json")

    def workspace_globs(self, root: Path, manifest: Mapping[str, Any]) -> tuple[str, ...]:
        """pnpm-workspace.yaml's `packages`."""

        return strings(workspace_settings(root).get("packages"))

    def setup(self) -> tuple[Command, ...]:
        """corepack activates the pinned pnpm."""
        return corepack_setup(self.name, self.version + self.integrity)

    def env(self) -> Mapping[str, str]:
        """The store on the cache volume, no side-effects cache, no prompts."""
        return {
            **COREPACK_ENV,
            "npm_config_store_dir": PNPM_STORE,
            # A side-effects cache in a shared store would hand one arch the binaries that an
            # install script built for another.
            "npm_config_side_effects_cache": "false",
            "npm_config_confirm_modules_purge": "false",
            "npm_config_update_notifier": "false",
        }

    def caches(self) -> tuple[CacheDir, ...]:
        """The store is content-addressed (built side effects are off): shared by targets."""
        return (COREPACK_CACHE, CacheDir("pnpm-store", PNPM_STORE, per_target=False))

    def install_all(self) -> Install:
        """Every dependency, frozen lockfile, no scripts."""
        return Install((("pnpm", "install", "--frozen-lockfile", "--ignore-scripts"),))

    def install_production(self, target: TargetSpec | None) -> Install:
        """`pnpm install --prod` (of `NAME...` for a focus: the package and the workspace
        packages its production dependencies reach), told the target through
        supportedArchitectures."""
        install: Command = ("pnpm", "install", "--frozen-lockfile", "--prod", "--ignore-scripts")
        if self.focus is not None:
            install = ("pnpm", f"--filter-prod={self.focus.name}...", *install[1:])
        if target is None:
            return Install((install,))
        return Install((("node", "-e", _SET_TARGET, target.os, target.cpu, target.libc),
                        install, ("mv", _SAVED, "package.json")))

    def rebuild(self, packages: Sequence[str]) -> Command:
        """`pnpm rebuild -r NAME...`: recursive, or in a workspace it rebuilds only what the
        root itself depends on (nothing, silently, seen with pnpm 10)."""
        return ("pnpm", "rebuild", "-r", *packages)

    def run_script(self, script: str) -> Command:
        """`pnpm run SCRIPT`."""
        return ("pnpm", "run", script)

    def read_lockfile(self, root: Path, manifest: Mapping[str, Any]) -> Mapping[str, LockEntry]:
        """pnpm-lock.yaml v6 or v9 at pnpm's .pnpm paths."""

        return read_pnpm_lockfile(root, manifest, self.major)


def target_json(target: TargetSpec) -> str:
    """supportedArchitectures for one target, as JSON."""
    return json.dumps({"os": [target.os], "cpu": [target.cpu], "libc": [target.libc]})
