"""An engine lost mid-stage is told apart from a stage that failed: the SDK's transport
errors and the gRPC words of a session that lost its engine become one sentence naming the
engine, the stage, and what stopped with it; a plain query error keeps its own sentence.

The errors are the SDK's own exception types, raised by hand (no engine): the texts are those
the SDK and the gRPC transport write. The real engine killed mid-build is
tests/engine/test_faults_engine.py."""

from __future__ import annotations

import anyio
import dagger
import gql
import pytest
from dagger._exceptions import QueryErrorValue

from pipelines.errors import EXIT_FAILURE, PipelineError
from pipelines.run.engine_lost import EngineLostError, is_engine_lost
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
])
def test_the_words_of_a_lost_engine(text: str, lost: bool) -> None:
    """The gRPC transport's words mean a lost engine; a build's own failures do not."""
    assert is_engine_lost(text) is lost
