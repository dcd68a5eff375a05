"""Connecting to a platform's own engine: an engine that does not answer is one sentence within
seconds, and the session's environment is restored after each connection attempt."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from pipelines.engines.connect import RUNNER_HOST_ENV, connected_engines, unreachable
from pipelines.errors import EngineUnavailableError


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_closed_port_or_missing_socket_is_unreachable_and_a_listener_is_not(
    tmp_path: Path,
) -> None:
    """tcp:// and unix:// are tried directly; other schemes are left to Dagger's CLI."""
    assert await unreachable(f"tcp://127.0.0.1:{free_port()}") == "connection refused"
    assert await unreachable(f"unix://{tmp_path}/engine.sock") == "no such file or directory"
    assert await unreachable("tcp://arm-builder") == "no port number after the host"
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        assert await unreachable(f"tcp://127.0.0.1:{listener.getsockname()[1]}") == ""
    assert await unreachable("kube-pod://builder?namespace=ci") == ""


async def test_an_engine_that_does_not_answer_is_one_sentence(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No CLI session is started for it; the sentence names the platform, the host and the
    setting, and the runner host variable is as it was."""
    monkeypatch.setenv(RUNNER_HOST_ENV, "tcp://default-engine:1234")
    host = f"tcp://127.0.0.1:{free_port()}"
    with pytest.raises(EngineUnavailableError) as caught:
        async with connected_engines({host: "linux/arm64"}, default=False):
            pytest.fail("connected to an engine that is not there")
    text = str(caught.value)
    assert text.startswith(f"the engine for linux/arm64 at {host} could not be reached (")
    assert "NODEPIPE_ENGINES" in text and "\n" not in text
    assert caught.value.exit_code == 2
    assert os.environ[RUNNER_HOST_ENV] == "tcp://default-engine:1234"


def test_the_cli_session_sees_the_mapped_host_and_no_running_session(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """While a mapped connection starts, the runner host is the mapped one and the `dagger run`
    session variables are hidden (else the CLI would attach to that session); after, all three
    are back as they were, an unset one unset."""
    from pipelines.engines.connect import _runner_host  # noqa: PLC0415 - the one private helper tested

    monkeypatch.setenv("DAGGER_SESSION_PORT", "4242")
    monkeypatch.setenv("DAGGER_SESSION_TOKEN", "session-token")
    monkeypatch.delenv(RUNNER_HOST_ENV, raising=False)
    with _runner_host("tcp://arm-builder:1234"):
        assert os.environ[RUNNER_HOST_ENV] == "tcp://arm-builder:1234"
        assert "DAGGER_SESSION_PORT" not in os.environ
        assert "DAGGER_SESSION_TOKEN" not in os.environ
    assert RUNNER_HOST_ENV not in os.environ
    assert (os.environ["DAGGER_SESSION_PORT"], os.environ["DAGGER_SESSION_TOKEN"]) == (
        "4242", "session-token")
