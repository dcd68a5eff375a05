"""What every package manager tells the audit, the plan and the stages: one small interface.

A `Packager` is pure data and command lists (no Dagger here): its lockfile, the files the
dependency stages see, how to activate it in a build container, the install commands (all
dependencies with scripts off for the build stage; production only per target, told the target
platform when it runs on another), how to rebuild named packages, and its cache directories.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

from pipelines.packagers.lockfiles.entry import LockEntry
from pipelines.packagers.lockfiles.yarn_berry import workspace_globs

Command = tuple[str, ...]


@dataclass(frozen=True)
class TargetSpec:
    """A target as package managers name it: Node's os, cpu and libc names."""

    os: str  # linux
    cpu: str  # x64 | arm64 | arm | ...
    libc: str  # glibc | musl


@dataclass(frozen=True)
class Focus:
    """One workspace package to install for, with the local packages its production
    dependencies reach (`paths`, relative to the root, the service's own last)."""

    name: str
    path: str
    paths: tuple[str, ...]


@dataclass(frozen=True)
class CacheDir:
    """A package-manager cache directory and whether its content depends on the target.

    `per_target` is False only for stores addressed by content hash (npm's `_cacache`, pnpm's
    store, yarn berry's zip cache), where one arch can never be handed another's binary.
    """

    key: str  # short name used in the volume name: npm-cacache, pnpm-store, yarn-cache
    path: str
    per_target: bool


@dataclass(frozen=True)
class Install:
    """One install step: the commands to run, with the environment and files they need."""

    commands: tuple[Command, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    # Files written (relative to the app dir) before the commands run, e.g. settings that
    # tell the manager the target platform. They never reach the runtime image.
    files: Mapping[str, str] = field(default_factory=dict)


def manifest_workspaces(manifest: Mapping[str, Any]) -> tuple[str, ...]:
    """package.json's `workspaces` (npm and yarn read them there), as the audit reads them."""

    return workspace_globs(manifest)


class Packager(Protocol):
    """One package manager. Implementations: npm, pnpm, yarn (classic and berry)."""

    name: ClassVar[str]

    @property
    def version(self) -> str:
        """The version `packageManager` pins; empty for the one the base image ships."""

    @property
    def lockfile(self) -> str:
        """The lockfile's name in the project root."""

    @property
    def focus(self) -> Focus | None:
        """The workspace package production installs are limited to; None for the root."""

    def workspace_globs(self, root: Path, manifest: Mapping[str, Any]) -> tuple[str, ...]:
        """The workspace patterns (`packages/*`) the project declares, or ()."""

    def manifests(self) -> tuple[str, ...]:
        """Files and globs (relative to the root) the dependency stages see, lockfile included."""

    def setup(self) -> tuple[Command, ...]:
        """Commands that make the pinned version the one on PATH (corepack), run once."""

    def env(self) -> Mapping[str, str]:
        """Environment for every command of this manager: cache dirs, quiet output."""

    def caches(self) -> tuple[CacheDir, ...]:
        """Cache directories, with whether each is arch-specific."""

    def install_all(self) -> Install:
        """Every dependency, dev included, frozen lockfile, dependency scripts off."""

    def install_production(self, target: TargetSpec | None) -> Install:
        """Production dependencies only, frozen lockfile, scripts off.

        With `target`, the manager is told that platform (npm `--os/--cpu/--libc`) so it picks
        the target's optional platform packages while running on another platform. With a
        `focus`, only that workspace package's production closure is installed.
        """

    def rebuild(self, packages: Sequence[str]) -> Command:
        """Run the install scripts of exactly `packages` (names) in an installed tree."""

    def run_script(self, script: str) -> Command:
        """Run a package.json script of the project."""

    def read_lockfile(self, root: Path, manifest: Mapping[str, Any]) -> Mapping[str, LockEntry]:
        """The lockfile's packages for the audit, keyed by their node_modules path."""
