"""Shared test configuration: where the host tools live and how missing ones are handled."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "native-service"
TOOLS = Path(__file__).resolve().parent / ".tools"  # filled by tests/host-setup.sh


def in_ci() -> bool:
    """True when running under CI, where component tests must not skip."""
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require(what: str, available: bool) -> None:
    """Skip (locally) or fail (in CI) when `what` is missing; do nothing when it is there."""
    if available:
        return
    message = f"{what} is missing: run `bash tests/host-setup.sh`"
    if in_ci():
        pytest.fail(f"{message} (component tests may not skip in CI)")
    pytest.skip(message)


def require_program(name: str) -> str:
    """Return the path of program `name`, or skip/fail naming it."""
    path = shutil.which(name)
    require(f"program {name!r}", path is not None)
    assert path is not None
    return path


def node_binary(arch: str) -> Path:
    """Return the Node binary for `arch` ('x64' or 'arm64') installed by tests/host-setup.sh."""
    path = TOOLS / f"node-{arch}" / "bin" / "node"
    require(f"Node for {arch} ({path})", path.is_file())
    if arch == "arm64":
        require(
            "arm64 emulation (binfmt qemu-aarch64)",
            Path("/proc/sys/fs/binfmt_misc/qemu-aarch64").exists(),
        )
    return path
