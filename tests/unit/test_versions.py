"""The Dagger version is pinned in one place and every other mention agrees with it."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import version

from tests.conftest import REPO


def pinned() -> str:
    data = tomllib.loads((REPO / "pyproject.toml").read_text())
    (pin,) = [d for d in data["project"]["dependencies"] if d.startswith("dagger-io")]
    match = re.fullmatch(r"dagger-io==(\d+\.\d+\.\d+)", pin)
    assert match, f"wanted an exact dagger-io pin, got {pin!r}"
    return match.group(1)


def test_installed_sdk_is_the_pinned_one() -> None:
    """The tests run against the exact dagger-io the project pins (graph helpers rely on it)."""
    assert version("dagger-io") == pinned()


def test_every_mention_agrees_with_the_pin() -> None:
    """README and any module files name the pinned Dagger version and no other."""
    want = pinned()
    files = [REPO / "README.md", *(REPO / ".dagger").rglob("*.json"), *(REPO / "ci").rglob("*")]
    for path in files:
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        for found in re.findall(r"(?:dagger-io==|Dagger CLI \*{0,2}|engineVersion\"?: ?\"v?)"
                                r"(\d+\.\d+\.\d+)", text):
            assert found == want, f"{path.name}: wanted {want}, got {found}"
    assert want in (REPO / "README.md").read_text()
