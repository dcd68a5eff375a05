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


def test_import_contracts_are_kept() -> None:
    """lint-imports keeps every layers and forbidden contract of pyproject.toml."""
    probe = subprocess.run(["lint-imports", "--help"], capture_output=True, text=True,
                           check=False, cwd=REPO)
    require("lint-imports (pip install -e '.[test]')", probe.returncode == 0)
    result = subprocess.run(["lint-imports", "--no-cache"], capture_output=True, text=True,
                            check=False, cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_no_module_of_pipelines_imports_itself_back() -> None:
    """No import circle between any two modules of pipelines/, lazy imports included."""
    grimp = pytest.importorskip("grimp", reason="grimp comes with import-linter")
    graph = grimp.build_graph("pipelines")
    circles = []
    for module in sorted(graph.modules):
        for imported in graph.find_modules_directly_imported_by(module):
            back = graph.find_shortest_chain(importer=imported, imported=module)
            if back is not None:
                circles.append(" -> ".join((module, *back)))
    assert circles == [], "import circles:\n" + "\n".join(circles)


def test_the_top_level_holds_the_entry_points_and_little_else() -> None:
    """pipelines/ keeps at most 8 files beside its folders (one folder per concern)."""
    files = sorted(p.name for p in (REPO / "pipelines").iterdir() if p.is_file())
    assert len(files) <= 8, files


def test_every_folder_and_entry_point_has_its_layer() -> None:
    """Each package and module at the top of pipelines/ is named in the layers contract."""
    import tomllib  # noqa: PLC0415

    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    layers = next(c for c in config["tool"]["importlinter"]["contracts"] if c["type"] == "layers")
    named = {m.strip() for layer in layers["layers"] for m in layer.split("|")}
    top = {f"pipelines.{p.stem}" for p in (REPO / "pipelines").iterdir()
           if (p.is_dir() and (p / "__init__.py").is_file()) or p.suffix == ".py"}
    assert top - {"pipelines.__init__"} <= named, sorted(top - named - {"pipelines.__init__"})
