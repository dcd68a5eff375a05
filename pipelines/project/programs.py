"""Whether each program the start command names is in the runtime image, and why not.

A program resolves when it is `node` or another program the base image carries, a file the
image ships (or the build step makes), a command (`node_modules/.bin`) of a production
dependency, or a declared system package. The package a command comes from is read from the
lockfile (npm records each package's commands), from an installed package.json where the
source has one, else from the package's name (`next`, `tsx`) and the common commands whose
name differs from their package's (`tsc`, `nest`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelines.packagers.lockfiles.entry import LockEntry, declared, resolve_in
from pipelines.project.manifest import ProjectError, read_json
from pipelines.project.start import MANAGERS, StartCommand, node_preloads

# On PATH in every official Node image (node:NN-bookworm-slim, -alpine).
BASE_PROGRAMS = frozenset({"node", "npm", "npx", "corepack", "sh", "env"})
# Also on PATH in the Debian ones (bash and coreutils are essential there; Alpine has neither).
_DEBIAN_PROGRAMS = BASE_PROGRAMS | {"bash", "sleep", "cat", "echo", "test", "timeout"}


def base_programs(libc: str) -> frozenset[str]:
    """What an official Node image of this C library has on PATH (glibc: a Debian one)."""
    return _DEBIAN_PROGRAMS if libc == "glibc" else BASE_PROGRAMS
# Commands whose name is not their package's (pnpm and yarn lockfiles record no commands).
KNOWN_BINS: Mapping[str, str] = {
    "tsc": "typescript", "tsserver": "typescript", "nest": "@nestjs/cli",
    "babel-node": "@babel/node", "pm2-runtime": "pm2", "pm2-docker": "pm2",
    "remix-serve": "@remix-run/serve", "react-router-serve": "@react-router/serve",
    "ng": "@angular/cli", "tsnd": "ts-node-dev", "ts-node-esm": "ts-node",
    "ts-node-transpile-only": "ts-node", "strapi": "@strapi/strapi",
    "medusa": "@medusajs/cli", "moleculer-runner": "moleculer", "fastify": "fastify-cli",
    "keystone": "@keystone-6/core", "sails": "sails", "svelte-kit": "@sveltejs/kit",
    "payload": "payload", "blitz": "blitz", "redwood": "@redwoodjs/cli", "rw": "@redwoodjs/cli",
}
_PACKAGE_DIR = re.compile(r"^(?:@[^/]+/)?[^/]+$")
FIX_COMMAND = "set --start-command to what the script runs in the end (for example node,server.js)"


@dataclass(frozen=True)
class ImageContents:
    """What the runtime image holds, as far as the plan knows before building it."""

    source: Path
    workdir: str  # relative to the root
    entries: Mapping[str, LockEntry]
    manifests: Mapping[str, Mapping[str, Any]]  # package.json by folder: the root's and workdir's
    ships: Callable[[str], bool]  # whether a path (relative to the root) is in the image
    build_step: bool  # a build step may make files the source lacks
    system: frozenset[str] = frozenset()  # declared system packages (and tini)
    carried_managers: frozenset[str] = frozenset()  # package managers on the image's PATH
    warnings: list[str] = field(default_factory=list)
    base_programs: frozenset[str] = BASE_PROGRAMS  # what the base image has on PATH


def programs_of(start: StartCommand) -> tuple[str, ...]:
    """The programs the image runs for `start`: its first word, and what `npx` runs."""
    cmd = start.cmd
    if not cmd or cmd[:2] == ("sh", "-c"):
        return ()
    found = [cmd[0]]
    if cmd[0] == "npx":
        found += [w for w in cmd[1:] if not w.startswith("-")][:1]
    return tuple(found)


def start_preloads(start: StartCommand) -> tuple[str, ...]:
    """The modules `node --require`/`--import` loads before the service, for the smoke check."""
    return node_preloads(start.cmd[1:]) if start.cmd[:1] == ("node",) else ()


def start_blockers(start: StartCommand, image: ImageContents) -> list[str]:
    """One sentence for each program (or module node preloads) of `start` the image lacks."""
    found: list[str] = []
    for program in programs_of(start):
        problem = _program_problem(program, start, image)
        if problem:
            found.append(problem)
    if start.cmd[:1] == ("node",):
        for module in node_preloads(start.cmd[1:]):
            problem = _preload_problem(module, start, image)
            if problem:
                found.append(problem)
    return found


def _program_problem(program: str, start: StartCommand, image: ImageContents) -> str | None:
    runs = f"the start command ({start.origin}: {' '.join(start.cmd)}) runs {program}"
    if program in image.base_programs or program in image.carried_managers:
        return None
    if "/" in program:
        if program.startswith("/") or image.build_step or image.ships(
                _join(image.workdir, program.removeprefix("./"))):
            return None
        return f"{runs}, a file that is not in the image: {FIX_COMMAND}, or --include it"
    providers = [e for e in _reachable(image) if program in _bins(e, image.source)]
    if any(not e.dev for e in providers):
        return None
    if providers:
        name = providers[0].name
        return (f"{runs}, a command of {name}, which is a devDependency and so not in the "
                f"production image: move {name} to dependencies (and update the lockfile), "
                f"or {FIX_COMMAND}")
    return _unprovided(program, runs, image)


def _unprovided(program: str, runs: str, image: ImageContents) -> str | None:
    """A program no package provides: a system package's, the package manager, or absent."""
    if program in image.system:
        return None
    if program in MANAGERS:
        return (f"{runs}, the package manager, which the runtime image does not carry: "
                f"{FIX_COMMAND}, or pass --runtime-package-manager to put the project's "
                "package manager in the image at its pinned version")
    if image.system:
        image.warnings.append(
            f"{runs}, which no production dependency provides: it is taken to come from the "
            "declared system packages (the smoke check proves it is on PATH)")
        return None
    return (f"{runs}, which no production dependency in the lockfile provides and the base "
            f"image does not carry (not found): add the package that provides it to "
            f"dependencies, declare its system package with --apt-packages, or {FIX_COMMAND}")


def _preload_problem(module: str, start: StartCommand, image: ImageContents) -> str | None:
    if module.startswith((".", "/")) or module.startswith("node:"):
        return None
    parts = module.split("/")
    name = "/".join(parts[:2]) if module.startswith("@") else parts[0]
    loads = f"the start command ({start.origin}) has node load {module}"
    packages = [e for e in _reachable(image) if e.name == name]
    if any(not e.dev for e in packages):
        return None
    if packages:
        return (f"{loads}; {name} is a devDependency and so not in the production "
                f"image: move {name} to dependencies (and refresh the lockfile), or build to "
                "JavaScript and pass --start-command node,FILE")
    return (f"{loads}, and no production dependency in the lockfile is {name} (not found): "
            f"add {name} to dependencies, or set --start-command")


def _join(directory: str, path: str) -> str:
    return f"{directory}/{path}" if directory else path


def _reachable(image: ImageContents) -> list[LockEntry]:
    """The packages whose commands node_modules/.bin of the workdir or the root holds: what
    each folder declares, and (npm's and yarn's hoisting) every top-level package."""
    found: dict[str, LockEntry] = {}
    for folder, manifest in image.manifests.items():
        for name in declared(manifest):
            entry = resolve_in(image.entries, folder, name)
            if entry is not None:
                found[entry.path] = entry
    prefixes = {f"{folder}/node_modules/" if folder else "node_modules/"
                for folder in image.manifests}
    for path, entry in image.entries.items():
        if any(path.startswith(p) and _PACKAGE_DIR.match(path[len(p):]) for p in prefixes):
            found.setdefault(path, entry)
    return list(found.values())


def _bins(entry: LockEntry, source: Path) -> Iterable[str]:
    if entry.bins is not None:
        return entry.bins
    installed = source / entry.path / "package.json"
    if entry.path and installed.is_file():
        try:
            return _manifest_bins(read_json(installed), entry.name)
        except ProjectError:
            pass  # an unreadable installed copy: fall back on the name
    unscoped = entry.name.rpartition("/")[2]
    return {unscoped, *(b for b, package in KNOWN_BINS.items() if package == entry.name)}


def _manifest_bins(manifest: Mapping[str, Any], name: str) -> tuple[str, ...]:
    value = manifest.get("bin")
    if isinstance(value, dict):
        return tuple(str(k) for k in value)
    if isinstance(value, str):
        return (name.rpartition("/")[2],)
    return ()


def image_manifests(source: Path, workdir: str,
                    root: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """package.json of the root and of the workdir (when it is another folder)."""
    manifests: dict[str, Mapping[str, Any]] = {"": root}
    if workdir and (source / workdir / "package.json").is_file():
        manifests[workdir] = read_json(source / workdir / "package.json")
    return manifests
