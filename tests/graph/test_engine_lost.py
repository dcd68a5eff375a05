"""An engine lost mid-stage is told apart from a stage that failed: the SDK's transport
errors and the gRPC words of a session that lost its engine become one sentence naming the
engine, the stage, and what stopped with it; a plain query error keeps its own sentence.

The errors are the SDK's own exception types, raised by hand (no engine): the texts are those
the SDK and the gRPC transport write. The real engine killed mid-build is
tests/engine/test_faults_engine.py."""

from __future__ import annotations

from pathlib import Path

import anyio
import dagger
import gql
import pytest
from dagger._exceptions import QueryErrorValue

from pipelines.errors import EXIT_FAILURE, PipelineError
from pipelines.run.engine_lost import EngineLostError, is_engine_lost, watchable, watched
from pipelines.run.graph import Clock


def query_error(message: str) -> dagger.QueryError:
    """A QueryError as the SDK builds it from the engine's answer."""
    return dagger.QueryError([QueryErrorValue(message)],
                             gql.GraphQLRequest(gql.gql("{ version }")))


async def _raising(error: BaseException) -> None:
    await anyio.sleep(0.01)
    raise error


@pytest.mark.parametrize("error", [
    dagger.TransportError("Connection to engine has been closed. Make sure you're calling the "
                          "API within a `dagger.connection()` context."),
    dagger.TransportError("Failed to execute request"),
    dagger.ClientConnectionError("[Errno 111] Connection refused"),
    query_error("rpc error: code = Unavailable desc = error reading from server: EOF"),
    query_error("failed to solve: read unix @->/run/dagger/engine.sock: read: connection reset "
                "by peer"),
], ids=["closed", "request-failed", "session-refused", "unavailable", "reset"])
async def test_a_lost_engine_names_the_engine_the_stage_and_what_stopped(
    error: BaseException,
) -> None:
    """Lost during `deps` on arm64 while `app` ran too: exit 1, the engine and stage named,
    the other stage said to have stopped, and the state: no tag, no archive."""
    clock = Clock(default_engine="default (unix:///run/dagger/engine.sock)")
    clock.running.add("app on build")
    with pytest.raises(EngineLostError) as caught:
        await clock.run("deps", None, _raising(error))
    text = caught.value.message
    assert caught.value.exit_code == EXIT_FAILURE and caught.value.stage == "deps"
    assert text.startswith("lost the Dagger engine default (unix:///run/dagger/engine.sock) "
                           "during stage deps ("), text
    assert text.endswith("; stopped with it: app on build; no tag was moved and no archive "
                         "was written"), text
    assert "\n" not in text


async def test_a_mapped_engine_is_named_by_its_runner_host() -> None:
    """Without a target, the runner host given names the engine."""
    with pytest.raises(EngineLostError) as caught:
        await Clock().run("app", None, _raising(dagger.TransportError("Failed to execute "
                                                                      "request")),
                          "tcp://arm-builder:1234")
    assert caught.value.message == (
        "lost the Dagger engine tcp://arm-builder:1234 during stage app (Failed to execute "
        "request); no tag was moved and no archive was written")


async def test_a_query_error_of_a_healthy_engine_keeps_its_sentence() -> None:
    """A refused query that says nothing of a lost engine is a plain stage failure."""
    with pytest.raises(PipelineError) as caught:
        await Clock().run("app", None, _raising(query_error(
            "failed to resolve source metadata for docker.io/library/node:99: not found")))
    assert not isinstance(caught.value, EngineLostError)
    assert caught.value.message.startswith("failed to resolve source metadata")


@pytest.mark.parametrize(("text", "lost"), [
    ("rpc error: code = Unavailable desc = connection error", True),
    ("process \"npm ci\" did not complete successfully: exit code: 1", False),
    ("failed to copy: unexpected EOF", True),
    ("lookup registry.npmjs.org: no such host", False),
    # A registry restarted mid-layer (seen on the engine): the push retries it.
    ('failed to copy: failed to do request: Put "http://127.0.0.1:42209/v2/team/restart/blobs/'
     'uploads/e6d7?_state=H2L": write tcp 127.0.0.1:51234->127.0.0.1:42209: write: connection '
     "reset by peer", False),
])
def test_the_words_of_a_lost_engine(text: str, lost: bool) -> None:
    """The gRPC transport's words mean a lost engine; a build's own failures do not."""
    assert is_engine_lost(text) is lost


async def test_an_engine_socket_that_stops_answering_ends_the_work(tmp_path: Path) -> None:
    """A unix socket that answers, then is gone (a listener standing in for an engine: a test
    double of its socket only): the work, which would wait forever as it does on a killed
    engine, is cancelled and the sentence names the engine and the stages that ran."""
    socket = tmp_path / "engine.sock"
    listener = await anyio.create_unix_listener(socket)
    running = {"deps on linux/arm64"}

    async def work() -> str:
        await anyio.sleep_forever()
        return "never"

    async def kill_after(seconds: float) -> None:
        await anyio.sleep(seconds)
        await listener.aclose()

    with anyio.fail_after(5):
        async with anyio.create_task_group() as group:
            group.start_soon(kill_after, 0.3)
            with pytest.raises(EngineLostError) as caught:
                await watched(work, {"default (unix://x)": f"unix://{socket}"}, running,
                              interval_s=0.05, misses=3)
    assert caught.value.message == (
        "lost the Dagger engine default (unix://x) (connection refused at 3 probes in a row) "
        "while deps on linux/arm64 ran (stopped); no tag was moved and no archive was written")


async def test_an_engine_no_longer_needed_is_not_probed(tmp_path: Path) -> None:
    """Once the engine's work is done (the gate verifies in the registry), a socket that
    is gone fails nothing; the work's result comes back."""
    async def work() -> str:
        await anyio.sleep(0.3)
        return "REPO@sha256:abc"

    gone = f"unix://{tmp_path / 'nothing.sock'}"
    assert await watched(work, {"e": gone}, set(), needed=lambda: False, interval_s=0.05,
                         misses=1) == "REPO@sha256:abc"


def test_only_tcp_and_unix_runner_hosts_are_probed() -> None:
    """Other schemes (ssh, kube-pod, containers) and an unknown default are left alone."""
    assert watchable([("a", "tcp://h:1234"), ("b", "unix:///s"), ("c", "kube-pod://p"),
                      ("default", "")]) == {"a": "tcp://h:1234", "b": "unix:///s"}
