"""One rule for which binaries are a target's: the audit (Python) and elf.js, which smoke.js
requires, give the same answer on one table of real packages' paths, from the same words."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from pipelines.audit.model import Target
from pipelines.checks import script
from pipelines.packagers.lockfiles import platform_names
from tests.conftest import node_binary

TABLE = Path(__file__).resolve().parents[1] / "fixtures" / "binaries" / "target-rule.json"
CASES = json.loads(TABLE.read_text())["cases"]
PLATFORM = {"x64": "linux/amd64", "arm64": "linux/arm64"}


def target(case: dict[str, str]) -> Target:
    """The audit's target for a table row."""
    return Target(PLATFORM[case["arch"]], case["libc"])


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c['path']}@{c['arch']}-{c['libc']}")
def test_the_audit_reads_each_path_as_the_table_says(case: dict[str, str]) -> None:
    """platform_names.names_another_platform agrees with every row."""
    assert platform_names.names_another_platform(case["path"], target(case)) is case["foreign"]


def elf_js(tmp_path: Path, code: str) -> object:
    """Evaluate `code` with the shipped elf.js required as `elf`; its JSON value."""
    (tmp_path / "elf.js").write_text(script("elf.js"))
    program = f"const elf = require({json.dumps(str(tmp_path / 'elf.js'))});" \
              f"process.stdout.write(JSON.stringify({code}));"
    done = subprocess.run([str(node_binary("x64")), "-e", program], capture_output=True,
                          text=True, check=True, timeout=60)
    return json.loads(done.stdout)


def test_elf_js_reads_each_path_as_the_table_says(tmp_path: Path) -> None:
    """elf.js's ownPath (what smoke.js loads and the guard checks) agrees with every row."""
    rows = json.dumps([[c["path"], c["arch"], c["libc"]] for c in CASES])
    got = elf_js(tmp_path, f"{rows}.map(([p, a, l]) => !elf.ownPath(p, a, l))")
    assert got == [c["foreign"] for c in CASES]


def test_both_sides_know_the_same_words(tmp_path: Path) -> None:
    """elf.js's os, cpu and libc words are the audit's, with the same meanings."""
    got = elf_js(tmp_path, "{os: elf.OSES, cpu: elf.CPUS, libc: elf.LIBCS}")
    assert got == {"os": {k: list(v) for k, v in platform_names._OS.items()},
                   "cpu": platform_names._CPU, "libc": platform_names._LIBC}
