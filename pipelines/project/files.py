"""Which of the project's files the image holds, the way its own Dockerfile would ship them.

The source goes in minus what `.dockerignore` excludes (without one: the defaults below), the
build step's outputs over it, and the target's production `node_modules`. Patterns use
Docker's `.dockerignore` syntax, which the engine applies as it is (`!` re-includes).
"""

from __future__ import annotations

import fnmatch
import os
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

DOCKERIGNORE = ".dockerignore"
# Without a .dockerignore: what a project's Dockerfile almost never ships.
DEFAULT_EXCLUDES = (
    ".git", ".hg", ".svn",
    ".github", ".gitlab", ".gitlab-ci.yml", ".circleci", ".buildkite", "azure-pipelines.yml",
    "Jenkinsfile", ".husky", ".vscode", ".idea",
    "test", "tests", "__tests__", "spec", "e2e", "coverage", ".nyc_output",
    "*.log", ".DS_Store",
    ".env", ".env.*", "!.env.example", "!.env.sample", "!.env.defaults",
    "Dockerfile", "Dockerfile.*", "*.Dockerfile", ".dockerignore",
    "docker-compose.yml", "docker-compose.*.yml", "compose.yml", "compose.yaml",
    "node-pipelines.toml", "build/*.oci.tar",
)
# Never taken from the host unless --include names it: a checkout's own git metadata, and
# .nodepipe-cache, the CI wrappers' engine cache (ci/nodepipe.sh), which changes every job.
ALWAYS_EXCLUDED = (".git", ".nodepipe-cache")
# What a package manager leaves in every node_modules it installs: a folder holding one is an
# install (of this host, for its platform), never the application's own tracked code.
_INSTALL_MARKERS = (".package-lock.json", ".modules.yaml", ".yarn-integrity", ".yarn-state.yml",
                    ".pnpm", ".bin")
# What a build leaves that no runtime needs (Next.js' build cache is often larger than the app).
BUILD_LEFTOVERS = (".next/cache", "**/*.tsbuildinfo", ".turbo", ".cache")


@dataclass(frozen=True)
class AppFiles:
    """The exclude patterns for the source, and where they came from."""

    excludes: tuple[str, ...]
    origin: str  # ".dockerignore" or "defaults"
    only: tuple[str, ...] = ()  # a workspace build: the paths it keeps of the root
    # The node_modules folders (relative to the root) the engine's install replaces: those the
    # package manager creates, and any other the host installed into; never from the host.
    installs: tuple[str, ...] = ()
    # Other node_modules folders of the source: tracked code (no manager's metadata), shipped.
    tracked_modules: tuple[str, ...] = ()
    # The `exclude` setting's own patterns: never shipped, even when the build stage makes
    # them (a lifecycle script's Python venv, built on the engine for its machine only).
    dropped: tuple[str, ...] = ()

    def listing(self, root: Path) -> list[str]:
        """Top-level entries of `root` that go into the image (for --print), sorted."""
        if self.only:
            return sorted(p + ("/" if (root / p).is_dir() else "") for p in self.only
                          if (root / p).exists())
        return sorted(
            entry.name + ("/" if entry.is_dir() else "")
            for entry in root.iterdir()
            if not excluded(entry.name, self.excludes)
        )

    def ships(self, root: Path, relative: str) -> bool:
        """Whether `relative` exists under `root`, survives the excludes and is kept."""
        kept = not self.only or any(relative == p or relative.startswith(f"{p}/")
                                    for p in self.only)
        return kept and (root / relative).exists() and not excluded(relative, self.excludes)

    def dropped_at(self, relative: str) -> str:
        """The shortest path of `relative` (itself or a folder above it) the excludes drop."""
        parts = relative.split("/")
        return next(("/".join(parts[:n]) for n in range(1, len(parts) + 1)
                     if excluded("/".join(parts[:n]), self.excludes)), relative)

    def replaced(self, relative: str) -> bool:
        """Whether `relative` lies in a node_modules folder the engine's install replaces."""
        return any(relative == d or relative.startswith(f"{d}/") for d in self.installs)


def app_files(root: Path, include: Sequence[str] = (), exclude: Sequence[str] = (),
              only: Sequence[str] = (), module_dirs: Sequence[str] = ("node_modules",)
              ) -> AppFiles:
    """Patterns from `.dockerignore` (or the defaults), then the `exclude` and `include` settings.

    `include` re-includes paths any other pattern drops (`!path`), `exclude` drops more;
    `only` (a workspace build) ships nothing of the root but those paths, while the build
    stage still sees the whole source (a shared tsconfig, say). `module_dirs` are the
    node_modules folders the package manager creates: they, and any other folder holding an
    install, are the engine's own; other node_modules content (tracked code) ships.
    """
    ignore = root / DOCKERIGNORE
    if ignore.is_file():
        patterns, origin = _read_dockerignore(ignore), DOCKERIGNORE
    else:
        patterns, origin = list(DEFAULT_EXCLUDES), "defaults"
    found = host_modules(root)
    installs = tuple(dict.fromkeys([*module_dirs, *(p for p, install in found if install)]))
    tracked = tuple(p for p, install in found if not install and p not in installs)
    patterns += [p.strip("/") for p in exclude]
    patterns += list(ALWAYS_EXCLUDED)
    patterns += [f"!{p.strip('/')}" for p in include]
    patterns += list(installs)
    return AppFiles(tuple(dict.fromkeys(p for p in patterns if p and p != "!")), origin,
                    tuple(only), installs, tracked,
                    tuple(p.strip("/") for p in exclude if p.strip("/")))


def host_modules(root: Path) -> list[tuple[str, bool]]:
    """Every node_modules folder under `root` (relative to it), and whether a package manager
    installed it on this host (it holds the manager's metadata) rather than tracking code."""
    found = []
    for folder, dirs, _ in os.walk(root):
        here = Path(folder)
        if here.name == "node_modules":
            install = any((here / marker).exists() for marker in _INSTALL_MARKERS)
            found.append((here.relative_to(root).as_posix(), install))
            dirs[:] = []  # packages' own trees: nothing of the host's to find in them
            continue
        dirs[:] = [d for d in dirs if d not in (".git", ".hg", ".svn")]
    return sorted(found)


def build_output(root: Path, relative: str) -> bool:
    """Whether a file of the source is what a build makes, not source: untracked where the
    source is a git checkout, else ignored by its .gitignore (without one: assumed so)."""
    try:
        done = subprocess.run(["git", "-C", str(root), "ls-files", "-z", "--", relative],
                              capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        done = None
    if done is not None and done.returncode == 0:
        return not done.stdout
    ignore = root / ".gitignore"
    if not ignore.is_file():
        return True
    patterns = []
    for pattern in _read_dockerignore(ignore):
        negated, body = pattern.startswith("!"), pattern.lstrip("!")
        anchored = "/" in body.rstrip("/")  # git: a pattern with an inner slash is anchored
        patterns.append(("!" if negated else "") + (body if anchored else f"**/{body}"))
    return excluded(relative, patterns)


def _read_dockerignore(path: Path) -> list[str]:
    patterns = []
    for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        body = line[1:].strip() if negated else line
        body = re.sub(r"/+", "/", body).removeprefix("./").strip("/") or "."
        patterns.append(("!" if negated else "") + body)
    return patterns


def excluded(relative: str, patterns: Sequence[str]) -> bool:
    """Docker's rule: the last matching pattern wins; a path inside an excluded dir is excluded."""
    parts = relative.strip("/").split("/")
    result = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        body = pattern[1:] if negated else pattern
        if any(_match(body, "/".join(parts[:n])) for n in range(1, len(parts) + 1)):
            result = not negated
    return result


def _match(pattern: str, path: str) -> bool:
    if pattern == ".":
        return True
    regex = _translate(pattern)
    return re.fullmatch(regex, path) is not None


def _translate(pattern: str) -> str:
    """A .dockerignore pattern as a regex: `**` spans directories, `*` and `?` do not."""
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[":
            end = pattern.find("]", i)
            if end == -1:
                out.append(re.escape(pattern[i]))
                i += 1
            else:
                out.append(fnmatch.translate(pattern[i:end + 1])[4:-3])
                i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out)
