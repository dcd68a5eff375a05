"""An engine lost mid-build (its process killed, its socket gone, the connection reset): told
apart from a stage that failed on a healthy engine, and said in one sentence naming the engine
and the stage.

The SDK reports a lost engine two ways: the CLI session itself is gone (a `TransportError`
from the SDK: the HTTP connection to the session failed or was closed), or the session is
alive but lost its engine, and the query fails with the gRPC transport's words (`Unavailable`,
`error reading from server`, `connection reset by peer`, `EOF`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from pipelines.errors import PipelineError

_LOST = re.compile(
    r"code = Unavailable|error reading from server|transport is closing|connection reset by peer|"
    r"broken pipe|connection refused|Connection to engine has been closed|"
    r"Unexpected response from engine|Failed to execute request|server closed the connection|"
    r"(?:^|: )(?:unexpected )?EOF$",
    re.IGNORECASE | re.MULTILINE,
)


class EngineLostError(PipelineError):
    """The engine went away during a stage: nothing after it ran, so no tag moved."""


def is_engine_lost(message: str) -> bool:
    """Whether a failed query's text says the engine (or the session to it) is gone."""
    return bool(_LOST.search(message))


def engine_lost(
    engine: str, stage: str, platform: str | None, reason: str, stopped: Iterable[str]
) -> EngineLostError:
    """The sentence of a lost engine: which one, in which stage, what else stopped with it,
    and the state that follows (no tag was moved, no archive written)."""
    where = f"{stage} on {platform}" if platform else stage
    others = sorted(stopped)
    also = f"; stopped with it: {', '.join(others)}" if others else ""
    first = (reason.strip().splitlines() or ["no answer"])[0][:200]
    return EngineLostError(
        f"lost the Dagger engine {engine} during stage {where} ({first}){also}; no tag was "
        "moved and no archive was written",
        stage=stage, platform=platform,
    )
