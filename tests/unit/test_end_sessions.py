"""Stopping this process's Dagger CLI sessions when an engine is lost: the children named
dagger end, other children are left alone. (`sleep` copied under the name `dagger` stands in
for the CLI: a test double of the process only.) And closing them: a session that ends badly
never changes the build's outcome."""

from __future__ import annotations

import shutil
import subprocess
from contextlib import AsyncExitStack
from pathlib import Path

import dagger
import pytest
from structlog.testing import capture_logs

from pipelines.engines.connect import close_sessions, end_sessions


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


class _BadGoodbye:
    """A session whose close fails as the Dagger CLI's does on a busy engine (a test double
    of the close only)."""

    closed = False

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> None:
        self.closed = True
        raise dagger.SessionError("Failed to start Dagger engine session: Command 'dagger "
                                  "session' returned non-zero exit status 1.")


@pytest.mark.parametrize("failed", [False, True])
async def test_a_session_that_ends_badly_never_changes_the_outcome(failed: bool) -> None:
    """After a finished build, a failed close is one warning line saying the outputs are
    complete; after a failed build, nothing is added to that failure. Nothing raises."""
    stack, session = AsyncExitStack(), _BadGoodbye()
    await stack.enter_async_context(session)
    with capture_logs() as logs:
        await close_sessions(stack, failed=failed)
    assert session.closed
    warned = [e for e in logs if e["event"] == "session_close_failed"]
    if failed:
        assert warned == []
    else:
        (line,) = warned
        assert line["log_level"] == "warning"
        assert line["reason"].startswith("Failed to start Dagger engine session")
        assert line["outputs"].startswith("complete")
