"""Which of the project's files the image holds, the way its own Dockerfile would ship them.

The source goes in minus what `.dockerignore` excludes (without one: the defaults below), the
build step's outputs over it, and the target's production `node_modules`. Patterns use
Docker's `.dockerignore` syntax, which the engine applies as it is (`!` re-includes).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

DOCKERIGNORE = ".dockerignore"
# Without a .dockerignore: what a project's Dockerfile almost never ships.
DEFAULT_EXCLUDES = (
    ".git", ".hg", ".svn",
    "node_modules", "**/node_modules",
    ".github", ".gitlab", ".gitlab-ci.yml", ".circleci", ".buildkite", "azure-pipelines.yml",
    "Jenkinsfile", ".husky", ".vscode", ".idea",
    "test", "tests", "__tests__", "spec", "e2e", "coverage", ".nyc_output",
    "*.log", ".DS_Store",
    ".env", ".env.*", "!.env.example", "!.env.sample", "!.env.defaults",
    "Dockerfile", "Dockerfile.*", "*.Dockerfile", ".dockerignore",
    "docker-compose.yml", "docker-compose.*.yml", "compose.yml", "compose.yaml",
    "node-pipelines.toml", "build/*.oci.tar",
)
# Never taken from the host, whatever .dockerignore says: the engine installs these itself, and
# .nodepipe-cache is the CI wrappers' engine cache (ci/nodepipe.sh), which changes every job.
ALWAYS_EXCLUDED = ("node_modules", "**/node_modules", ".git", ".nodepipe-cache")
# What a build leaves that no runtime needs (Next.js' build cache is often larger than the app).
BUILD_LEFTOVERS = (".next/cache", "**/*.tsbuildinfo", ".turbo", ".cache")


@dataclass(frozen=True)
class AppFiles:
    """The exclude patterns for the source, and where they came from."""

    excludes: tuple[str, ...]
    origin: str  # ".dockerignore" or "defaults"
    only: tuple[str, ...] = ()  # a workspace build: the paths it keeps of the root

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


def app_files(root: Path, include: Sequence[str] = (), exclude: Sequence[str] = (),
              only: Sequence[str] = ()) -> AppFiles:
    """Patterns from `.dockerignore` (or the defaults), then the `exclude` and `include` settings.

    `include` re-includes paths the other patterns drop (`!path`), `exclude` drops more;
    `only` (a workspace build) ships nothing of the root but those paths, while the build
    stage still sees the whole source (a shared tsconfig, say).
    """
    ignore = root / DOCKERIGNORE
    if ignore.is_file():
        patterns, origin = _read_dockerignore(ignore), DOCKERIGNORE
    else:
        patterns, origin = list(DEFAULT_EXCLUDES), "defaults"
    patterns += [p.strip("/") for p in exclude]
    patterns += [f"!{p.strip('/')}" for p in include]
    patterns += list(ALWAYS_EXCLUDED)
    return AppFiles(tuple(dict.fromkeys(p for p in patterns if p and p != "!")), origin,
                    tuple(only))


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
