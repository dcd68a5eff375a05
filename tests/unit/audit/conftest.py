"""Shared helpers for the audit's unit tests: committed npm lockfiles, no network."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.audit import DEFAULT_TARGETS, AuditReport, RegistryConfig, Target, audit_source

LOCKFILES = Path(__file__).resolve().parents[2] / "fixtures" / "lockfiles"
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def empty_cache(tmp_path: Path) -> RegistryConfig:
    """A registry config whose cache is empty, so offline means lockfile evidence only."""
    return RegistryConfig(url="https://registry.invalid/", cache_dir=tmp_path / "npm-meta")


def offline(case: str, config: RegistryConfig, targets: tuple[Target, ...] = DEFAULT_TARGETS
            ) -> AuditReport:
    """Audit a committed fixture offline."""
    return audit_source(LOCKFILES / case, targets, offline=True, registry=config)


def copy_case(case: str, destination: Path) -> Path:
    """Copy a fixture to a scratch directory the test may change."""
    target = destination / case
    shutil.copytree(LOCKFILES / case, target)
    return target


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run `python -m pipelines.audit` as a user would."""
    return subprocess.run([sys.executable, "-m", "pipelines.audit", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
