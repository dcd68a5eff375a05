"""The Dagger version is pinned in one place and every other mention agrees with it.

The one place is the `dagger-io==X.Y.Z` pin in pyproject.toml. Every other mention must equal it:
README.md, every file under ci/ (ci/nodepipe.sh must carry it: it installs that CLI), the files
written under .dagger/ (not the SDK `dagger init` vendors there), and `engineVersion` in
dagger.json at the repository root, which is checked whenever that file exists (the Dagger
module adds it; until then the copy-based tests below add one to prove the check).

A mention is any x.y.z on a line that says "dagger" (any case), plus engineVersion.
"""

from __future__ import annotations

import json
import re
import shutil
import tomllib
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import pytest

from tests.conftest import REPO

VERSION = re.compile(r"\d+\.\d+\.\d+")
ENGINE_VERSION = re.compile(r"\"engineVersion\"\s*:\s*\"v?(\d+\.\d+\.\d+)\"")
MUST_NAME_IT = ("README.md", "ci/nodepipe.sh")


@dataclass(frozen=True)
class Mention:
    """One version number that names the Dagger version, and where it is."""

    path: Path
    line: int
    start: int  # character offset in the file
    version: str


def pinned(root: Path = REPO) -> str:
    """The dagger-io pin in pyproject.toml: the one place the Dagger version is decided."""
    data = tomllib.loads((root / "pyproject.toml").read_text())
    (pin,) = [d for d in data["project"]["dependencies"] if d.startswith("dagger-io")]
    match = re.fullmatch(r"dagger-io==(\d+\.\d+\.\d+)", pin)
    assert match, f"wanted an exact dagger-io pin, got {pin!r}"
    return match.group(1)


# Generated or installed, not written by us: the SDK `dagger init` vendors into .dagger/sdk,
# lockfiles, virtualenvs and the CI script's own .home.
SKIPPED_PARTS = {".home", "sdk", ".venv", "__pycache__"}
SKIPPED_NAMES = {"uv.lock"}


def checked_files(root: Path) -> list[Path]:
    """README, pyproject, dagger.json, and the files we write under ci/ and .dagger/."""
    files = [root / "README.md", root / "pyproject.toml", root / "dagger.json"]
    for folder in ("ci", ".dagger"):
        files += sorted(
            p for p in (root / folder).rglob("*")
            if p.is_file() and p.name not in SKIPPED_NAMES
            and not SKIPPED_PARTS & set(p.relative_to(root / folder).parts)
        )
    return [p for p in files if p.is_file()]


def mentions(root: Path) -> list[Mention]:
    """Every x.y.z on a line that names Dagger, and dagger.json's engineVersion."""
    found: list[Mention] = []
    for path in checked_files(root):
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue  # a binary is no mention
        offset = 0
        for number, line in enumerate(text.splitlines(keepends=True), start=1):
            if "dagger" in line.lower() and "engineversion" not in line.lower():
                found += [Mention(path, number, offset + m.start(), m.group())
                          for m in VERSION.finditer(line)]
            for m in ENGINE_VERSION.finditer(line):
                found.append(Mention(path, number, offset + m.start(1), m.group(1)))
            offset += len(line)
    return found


def disagreements(root: Path) -> list[str]:
    """Each mention that differs from the pin, and each file that must name the pin but does not."""
    want = pinned(root)
    found = mentions(root)
    problems = [f"{m.path.relative_to(root)}:{m.line}: wanted {want}, got {m.version}"
                for m in found if m.version != want]
    named = {m.path.relative_to(root).as_posix() for m in found if m.version == want}
    problems += [f"{name}: wanted a mention of {want}, got none"
                 for name in MUST_NAME_IT if name not in named]
    dagger_json = root / "dagger.json"
    if dagger_json.is_file():
        engine = json.loads(dagger_json.read_text()).get("engineVersion")
        if engine != f"v{want}":
            problems.append(f"dagger.json: wanted engineVersion v{want}, got {engine!r}")
    return problems


def copy_of_repo(tmp_path: Path) -> Path:
    """The files the version check reads, copied, with a dagger.json added when there is none."""
    root = tmp_path / "repo"
    root.mkdir()
    for name in ("pyproject.toml", "README.md", "dagger.json"):
        if (REPO / name).is_file():
            shutil.copy(REPO / name, root / name)
    for folder in ("ci", ".dagger"):
        if (REPO / folder).is_dir():
            shutil.copytree(REPO / folder, root / folder,
                            ignore=shutil.ignore_patterns(*SKIPPED_PARTS, *SKIPPED_NAMES))
    if not (root / "dagger.json").exists():
        (root / "dagger.json").write_text(json.dumps(
            {"name": "node-pipelines", "engineVersion": f"v{pinned()}", "source": ".dagger"}))
    return root


def test_installed_sdk_is_the_pinned_one() -> None:
    """The tests run against the exact dagger-io the project pins (graph helpers rely on it)."""
    assert version("dagger-io") == pinned()


def test_every_mention_agrees_with_the_pin() -> None:
    """README, ci/, .dagger/ and dagger.json (when present) name the pinned version and no other."""
    assert disagreements(REPO) == []


def test_the_ci_script_and_wrappers_are_covered() -> None:
    """The check sees the CLI pin in ci/nodepipe.sh and the cache keys of the wrappers."""
    where = {m.path.relative_to(REPO).as_posix() for m in mentions(REPO)}
    assert {"ci/nodepipe.sh", "ci/github/action.yml", "ci/circleci/config.yml",
            "ci/azure/azure-pipelines.yml", "README.md", "pyproject.toml"} <= where


def test_changing_any_one_mention_fails(tmp_path: Path) -> None:
    """Each mention, changed alone in a copy of the repository, makes the check fail."""
    root = copy_of_repo(tmp_path)
    assert disagreements(root) == []
    found = mentions(root)
    assert any(m.path.name == "dagger.json" for m in found)
    for mention in found:
        text = mention.path.read_text()
        end = mention.start + len(mention.version)
        assert text[mention.start:end] == mention.version
        mention.path.write_text(text[:mention.start] + "0.0.1" + text[end:])
        assert disagreements(root), f"changing {mention} went unnoticed"
        mention.path.write_text(text)
    assert disagreements(root) == []


@pytest.mark.parametrize("name", MUST_NAME_IT)
def test_removing_the_version_from_a_required_file_fails(tmp_path: Path, name: str) -> None:
    """A README or CI script that stops naming the version at all makes the check fail."""
    root = copy_of_repo(tmp_path)
    path = root / name
    path.write_text(path.read_text().replace(pinned(), "latest"))
    assert any(name in problem for problem in disagreements(root))


def test_a_different_engine_version_in_dagger_json_fails(tmp_path: Path) -> None:
    """An engineVersion in dagger.json other than v<pin> fails with a wanted/got sentence."""
    root = copy_of_repo(tmp_path)
    (root / "dagger.json").write_text(json.dumps({"name": "x", "engineVersion": "latest"}))
    assert disagreements(root) == [f"dagger.json: wanted engineVersion v{pinned()}, got 'latest'"]
