"""Stopping this process's Dagger CLI sessions when an engine is lost: the children named
dagger end, other children are left alone. (`sleep` copied under the name `dagger` stands in
for the CLI: a test double of the process only.)"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from pipelines.engines.connect import end_sessions


def test_the_sessions_end_and_other_children_stay(tmp_path: Path) -> None:
    """A `dagger` child gets SIGTERM and ends; a `sleep` child keeps running."""
    cli = tmp_path / "dagger"
    shutil.copy(shutil.which("sleep") or "/bin/sleep", cli)
    session = subprocess.Popen([str(cli), "60"])
    other = subprocess.Popen(["sleep", "60"])
    try:
        assert end_sessions(grace_s=5) == [session.pid]
        assert session.wait(timeout=5) == -15
        assert other.poll() is None
    finally:
        for child in (session, other):
            child.kill()
            child.wait()
