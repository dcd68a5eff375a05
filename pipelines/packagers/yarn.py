"""yarn: classic (1.x, its own yarn.lock format) and berry (2+, YAML yarn.lock), two classes."""

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
from pipelines.packagers.corepack import COREPACK_CACHE, COREPACK_ENV, corepack_setup, major
from pipelines.packagers.lockfiles.entry import LockEntry
from pipelines.packagers.lockfiles.yarn_berry import read_berry_lockfile
from pipelines.packagers.lockfiles.yarn_classic import read_classic_lockfile
from pipelines.packagers.pnpm import target_json

BERRY_FOLDER = "/cache/yarn-berry"
CLASSIC_CACHE = "/cache/yarn-classic"
# yarn 1 picks optional platform packages by the platform it runs on and cannot be told
# another: it installs every platform's (--ignore-platform) and this removes the packages
# whose os/cpu/libc exclude the target (node_modules/x and node_modules/@s/x, nested too,
# and in the workspace packages' node_modules given as arguments).
_PRUNE = r"""
const fs=require('fs'),path=require('path');
const [os,cpu,libc,...dirs]=process.argv.slice(1);
const ok=(list,v)=>!Array.isArray(list)||!list.length||(!list.includes('!'+v)&&
  (list.every(x=>x.startsWith('!'))||list.includes(v)));
function walk(dir){let names=[];try{names=fs.readdirSync(dir);}catch(_){return;}
 for(const n of names){if(n.startsWith('.'))continue;const full=path.join(dir,n);
  if(n.startsWith('@')){walk(full);continue;}let p;
  try{p=JSON.parse(fs.readFileSync(path.join(full,'package.json'),'utf8'));}catch(_){continue;}
  if(!ok(p.os,os)||!ok(p.cpu,cpu)||!ok(p.libc,libc)){fs.rmSync(full,{recursive:true});continue;}
  walk(path.join(full,'node_modules'));}}
for(const dir of ['.',...dirs])walk(path.join(dir,'node_modules'));
"""
# yarn 1 has no focused install: for one, the root package.json lists only the focus's
# workspace packages while `yarn install --production` runs (the lockfile stays as it is;
# --frozen-lockfile still holds), then the user's file comes back.
_SAVED = ".package.json.nodepipe"
_ONLY_WORKSPACES = (
    "const fs=require('fs');const paths=process.argv.slice(1);"
    f"fs.copyFileSync('package.json','{_SAVED}');"
    "const p=JSON.parse(fs.readFileSync('package.json','utf8'));"
    "if(Array.isArray(p.workspaces)||!p.workspaces)p.workspaces=paths;"
    "else p.workspaces.packages=paths;"
    "fs.writeFileSync('package.json',JSON.stringify(p,null,2)+'\\n');"
)


@dataclass(frozen=True)
class YarnBerry:
    """yarn 2+ with the node-modules linker (Plug'n'Play is refused by detect)."""

    name: ClassVar[str] = "yarn"
    version: str = "4.18.1"
    lockfile: str = "yarn.lock"
    integrity: str = ""
    # .yarnrc.yml's enableScripts; None when unset (yarn 4.14 and later default to false).
    enable_scripts: bool | None = None
    focus: Focus | None = None

    @property
    def scripts_enabled(self) -> bool:
        """Whether yarn runs dependencies' build scripts for packages not named in
        dependenciesMeta: enableScripts, else that version's default."""
        if self.enable_scripts is not None:
            return self.enable_scripts
        parts = [int(p) if p.isdigit() else 0 for p in self.version.split(".")[:2]]
        return [*parts, 0, 0][:2] < [4, 14]

    @property
    def scripts_from(self) -> str:
        """Where `scripts_enabled` comes from, as a verdict's reason names it."""
        value = "true" if self.scripts_enabled else "false"
        if self.enable_scripts is not None:
            return f"enableScripts: {value} in .yarnrc.yml"
        return f"yarn {self.version} defaults enableScripts to {value} (.yarnrc.yml sets none)"

    def manifests(self) -> tuple[str, ...]:
        """What `yarn install` reads: manifests, lockfile, .yarnrc.yml, releases, plugins."""
        return ("package.json", self.lockfile, ".yarnrc.yml", ".yarn/releases/**",
                ".yarn/plugins/**", ".yarn/patches/**", "**/package.json")

    def workspace_globs(self, root: Path, manifest: Mapping[str, Any]) -> tuple[str, ...]:
        """package.json's `workspaces`."""
        return manifest_workspaces(manifest)

    def setup(self) -> tuple[Command, ...]:
        """corepack activates the pinned yarn."""
        return corepack_setup(self.name, self.version + self.integrity)

    def env(self) -> Mapping[str, str]:
        """The zip cache in the global folder on the cache volume; no telemetry or bars."""
        return {
            **COREPACK_ENV,
            "YARN_ENABLE_GLOBAL_CACHE": "true",
            "YARN_GLOBAL_FOLDER": BERRY_FOLDER,
            "YARN_ENABLE_TELEMETRY": "0",
            "YARN_ENABLE_PROGRESS_BARS": "false",
        }

    def caches(self) -> tuple[CacheDir, ...]:
        """Berry's cache holds package zips named by checksum: shared by targets."""
        return (COREPACK_CACHE, CacheDir("yarn-berry", BERRY_FOLDER, per_target=False))

    def install_all(self) -> Install:
        """`yarn install --immutable --mode=skip-build`: everything, no build scripts."""
        return Install((("yarn", "install", "--immutable", "--mode=skip-build"),))

    def install_production(self, target: TargetSpec | None) -> Install:
        """`yarn workspaces focus --all --production` (the focus's NAME instead of --all),
        scripts off, lockfile immutable; told the target through supportedArchitectures in
        the user's home .yarnrc.yml (the project's own .yarnrc.yml stays as it is)."""
        env = {"YARN_ENABLE_SCRIPTS": "false", "YARN_ENABLE_IMMUTABLE_INSTALLS": "true"}
        which = self.focus.name if self.focus is not None else "--all"
        focus: Command = ("yarn", "workspaces", "focus", which, "--production")
        if target is None:
            return Install((focus,), env)
        setting: Command = ("yarn", "config", "set", "--home", "supportedArchitectures",
                            "--json", target_json(target))
        return Install((setting, focus), env)

    def rebuild(self, packages: Sequence[str]) -> Command:
        """`npm rebuild NAME...` in the node-modules tree: `yarn rebuild` re-runs a full,
        unfocused install first, which would put the devDependencies back (seen with yarn 4)."""
        return ("npm", "rebuild", *packages)

    def run_script(self, script: str) -> Command:
        """`yarn run SCRIPT`."""
        return ("yarn", "run", script)

    def read_lockfile(self, root: Path, manifest: Mapping[str, Any]) -> Mapping[str, LockEntry]:
        """The YAML yarn.lock at hoisted node_modules paths."""

        return read_berry_lockfile(root, manifest, self.scripts_enabled, self.scripts_from)


@dataclass(frozen=True)
class YarnClassic:
    """yarn 1.x."""

    name: ClassVar[str] = "yarn"
    version: str = "1.22.22"
    lockfile: str = "yarn.lock"
    integrity: str = ""
    focus: Focus | None = None

    @property
    def major(self) -> int:
        """Always 1."""
        return major(self.version, 1)

    def manifests(self) -> tuple[str, ...]:
        """What `yarn install` reads: manifests, lockfile, .yarnrc and .npmrc."""
        return ("package.json", self.lockfile, ".yarnrc", ".npmrc", "**/package.json")

    def workspace_globs(self, root: Path, manifest: Mapping[str, Any]) -> tuple[str, ...]:
        """package.json's `workspaces`."""
        return manifest_workspaces(manifest)

    def setup(self) -> tuple[Command, ...]:
        """corepack activates the pinned yarn 1."""
        return corepack_setup(self.name, self.version + self.integrity)

    def env(self) -> Mapping[str, str]:
        """yarn 1's cache on the cache volume."""
        return {**COREPACK_ENV, "YARN_CACHE_FOLDER": CLASSIC_CACHE,
                "YARN_DISABLE_SELF_UPDATE_CHECK": "true"}

    def caches(self) -> tuple[CacheDir, ...]:
        """yarn 1's cache keeps unpacked packages, build output included: per target."""
        return (COREPACK_CACHE, CacheDir("yarn-classic", CLASSIC_CACHE, per_target=True))

    def install_all(self) -> Install:
        """`yarn install --frozen-lockfile --ignore-scripts`."""
        return Install((("yarn", "install", "--frozen-lockfile", "--ignore-scripts",
                         "--non-interactive"),))

    def install_production(self, target: TargetSpec | None) -> Install:
        """`yarn install --production`; for a target, every platform's packages
        (--ignore-platform) and then those that exclude the target removed; for a focus,
        with only its workspace packages in the root package.json meanwhile."""
        install: Command = ("yarn", "install", "--frozen-lockfile", "--production",
                            "--ignore-scripts", "--non-interactive")
        commands: list[Command] = [install]
        if target is not None:
            commands = [(*install, "--ignore-platform"),
                        ("node", "-e", _PRUNE, target.os, target.cpu, target.libc,
                         *(self.focus.paths if self.focus else ()))]
        if self.focus is not None:
            commands = [("node", "-e", _ONLY_WORKSPACES, *self.focus.paths), *commands,
                        ("mv", _SAVED, "package.json")]
        return Install(tuple(commands))

    def rebuild(self, packages: Sequence[str]) -> Command:
        """yarn 1 has no rebuild; `npm rebuild NAME...` runs them in the installed tree."""
        return ("npm", "rebuild", *packages)

    def run_script(self, script: str) -> Command:
        """`yarn run SCRIPT`."""
        return ("yarn", "run", script)

    def read_lockfile(self, root: Path, manifest: Mapping[str, Any]) -> Mapping[str, LockEntry]:
        """yarn 1's yarn.lock at hoisted node_modules paths."""

        return read_classic_lockfile(root, manifest)
