"""elf.js, the cross-build guard, on real binaries: the example's own addon built for x64 and
for arm64 (by the aarch64 cross compiler), and sharp's real arm64 platform package."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from pipelines.checks import script
from tests.components.test_smoke_apps import prepared_app
from tests.conftest import node_binary


def elf(tmp_path: Path, arch: str, *dirs: Path) -> tuple[int, dict, str]:
    """Run the shipped elf.js on x64 Node: exit code, its JSON, its stderr."""
    path = tmp_path / "elf.js"
    path.write_text(script("elf.js"))
    done = subprocess.run([str(node_binary("x64")), str(path), "--arch", arch,
                           *map(str, dirs)], capture_output=True, text=True, check=False,
                          timeout=60)
    return done.returncode, json.loads(done.stdout), done.stderr


@pytest.mark.parametrize("arch", ["x64", "arm64"])
def test_binaries_for_the_target_pass(tmp_path: Path, arch: str) -> None:
    """The addon built for `arch` and the target's platform packages carry its machine."""
    app = prepared_app(arch)
    sharp = next((app / "node_modules" / "@img").glob(f"sharp-linux-{arch}"))
    code, result, _ = elf(tmp_path, arch, app / "native" / "build" / "Release", sharp)
    assert code == 0 and result["ok"]
    assert len(result["files"]) >= 2, "wanted the addon and sharp's .node, got fewer"


def test_a_binary_for_the_wrong_machine_is_refused_with_a_sentence(tmp_path: Path) -> None:
    """An x64 addon where arm64 was wanted: exit 1, and stderr names file, machine and want."""
    addon = prepared_app("x64") / "native" / "build" / "Release"
    code, result, stderr = elf(tmp_path, "arm64", addon)
    assert code == 1 and not result["ok"]
    assert "is x64 64-bit, wanted arm64 64-bit" in stderr
