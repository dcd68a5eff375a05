"""An engine lost mid-build (its process killed, its socket gone, the connection reset): told
apart from a stage that failed on a healthy engine, and said in one sentence naming the engine
and the stage.

The SDK reports a lost engine two ways: the CLI session itself is gone (a `TransportError`
from the SDK: the HTTP connection to the session failed or was closed), or the session is
alive but lost its engine, and the query fails with the gRPC transport's words (`Unavailable`,
`error reading from server`, `connection reset by peer`, `EOF`). Seen on a real engine killed
mid-build: neither comes for minutes, since the CLI session keeps retrying the engine and the
query just waits; so while a build runs, each engine's `tcp://` or `unix://` runner host is
probed every few seconds, and one that stops answering ends the build with the sentence.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TypeVar

import anyio

from pipelines.engines.connect import unreachable
from pipelines.errors import PipelineError

T = TypeVar("T")

_LOST = re.compile(
    r"code = Unavailable|error reading from server|transport is closing|connection reset by peer|"
    r"broken pipe|connection refused|Connection to engine has been closed|"
    r"Unexpected response from engine|Failed to execute request|server closed the connection|"
    r"(?:^|: )(?:unexpected )?EOF$",
    re.IGNORECASE | re.MULTILINE,
)


# A request the engine makes to a registry fails with the same transport words (`failed to
# do request: Put "http://registry/v2/...": ... connection reset by peer`, seen when a registry
# restarted mid-layer): the registry's failure, which the push retries, not the engine's.
_REMOTE = re.compile(r"failed to do request", re.IGNORECASE)


class EngineLostError(PipelineError):
    """The engine went away during a stage: nothing after it ran, so no tag moved."""


def is_engine_lost(message: str) -> bool:
    """Whether a failed query's text says the engine (or the session to it) is gone, not a
    registry it was talking to."""
    return bool(_LOST.search(message)) and not _REMOTE.search(message)


def engine_lost(
    engine: str, stage: str, platform: str | None, reason: str, stopped: Iterable[str],
    *, stages_running: bool = False,
) -> EngineLostError:
    """The sentence of a lost engine: which one, in which stage, what else stopped with it,
    and the state that follows (no tag was moved, no archive written). With
    `stages_running` the failing stage is not known: `stopped` are the stages that ran."""
    others = sorted(stopped)
    first = (reason.strip().splitlines() or ["no answer"])[0][:200]
    if stages_running:
        stage, platform = "build", None
        where = f"while {', '.join(others)} ran (stopped)" if others else "during the build"
        text = f"lost the Dagger engine {engine} ({first}) {where}"
    else:
        where = f"{stage} on {platform}" if platform else stage
        also = f"; stopped with it: {', '.join(others)}" if others else ""
        text = f"lost the Dagger engine {engine} during stage {where} ({first}){also}"
    return EngineLostError(f"{text}; no tag was moved and no archive was written",
                           stage=stage, platform=platform)


WATCH_INTERVAL_S = 5.0
WATCH_MISSES = 3  # in a row: a busy engine may miss one connect, a dead one misses them all


def watchable(hosts: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Of (name, runner host) pairs, those a plain connect can probe (tcp://, unix://)."""
    return {name: host for name, host in hosts
            if host.partition("://")[0] in ("tcp", "unix")}


async def watched(
    work: Callable[[], Awaitable[T]], engines: Mapping[str, str], running: set[str],
    *, needed: Callable[[], bool] = lambda: True, interval_s: float = WATCH_INTERVAL_S,
    misses: int = WATCH_MISSES,
) -> T:
    """Run `work` while probing each engine's runner host (name -> host) as long as
    `needed()`; an engine that stops answering cancels the work and raises EngineLostError.
    The Dagger CLI keeps retrying a lost engine for minutes, so the work alone would wait
    rather than fail."""
    outcome: list[T] = []
    failure: list[BaseException] = []

    async def body() -> None:
        try:
            outcome.append(await work())
        except Exception as error:  # noqa: BLE001 - re-raised below, outside the task group
            failure.append(error)
        group.cancel_scope.cancel()

    async def probe(name: str, host: str) -> None:
        missed, problem = 0, ""
        while missed < misses:
            await anyio.sleep(interval_s)
            if not needed():
                return
            problem = await unreachable(host)
            missed = missed + 1 if problem else 0
        failure.append(engine_lost(name, "build", None, f"{problem} at {misses} probes in a "
                                   "row", set(running), stages_running=True))
        group.cancel_scope.cancel()

    async with anyio.create_task_group() as group:
        group.start_soon(body)
        for name, host in engines.items():
            group.start_soon(probe, name, host)
    if failure:
        raise failure[0]
    return outcome[0]
