"""The code passes its own linters: ruff on everything, mypy strict on pipelines/."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO, require


def run_tool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True,
                          check=False, cwd=REPO, timeout=300)


@pytest.mark.parametrize(
    ("tool", "args"),
    [("ruff", ("check", "pipelines", "tests")), ("mypy", ("pipelines",))],
)
def test_linter_is_clean(tool: str, args: tuple[str, ...]) -> None:
    """ruff and mypy report nothing (they come with the `test` extra)."""
    probe = run_tool(tool, "--version")
    require(f"{tool} (pip install -e '.[test]')", probe.returncode == 0)
    result = run_tool(tool, *args)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
