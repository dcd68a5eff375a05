"""Pushing through the engine, with bounded retries for a registry that is briefly away.

The engine reports registry failures as query errors whose text carries the registry's answer
(`dial tcp ...: connection refused`, `503 Service Unavailable`, `401 Unauthorized`). Transient
ones are retried with backoff, one log line each; a refusal of the login is not retried, and
either failure becomes one sentence naming the registry and saying no tag moved.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio

from pipelines.errors import PipelineError
from pipelines.logs import get_logger

T = TypeVar("T")

ATTEMPTS = 4
BACKOFF_S = (2.0, 4.0, 8.0)
_TRANSIENT = re.compile(
    r"connection refused|connection reset|i/o timeout|no such host|EOF|TLS handshake timeout|"
    r"\b(?:429|500|502|503|504)\b|Too Many Requests|Service Unavailable|Bad Gateway|"
    r"Gateway Timeout|server misbehaving|temporarily unavailable|network is unreachable",
    re.IGNORECASE,
)
_AUTH = re.compile(r"\b401\b|\b403\b|unauthorized|denied|authentication required", re.IGNORECASE)


def kind_of(message: str) -> str:
    """`auth`, `transient` or `other` for an engine's push failure text."""
    if _AUTH.search(message):
        return "auth"
    if _TRANSIENT.search(message):
        return "transient"
    return "other"


async def push_with_retries(
    push: Callable[[], Awaitable[T]],
    *,
    registry: str,
    username: str | None,
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
) -> T:
    """Run `push` (a fresh awaitable each call); retry transient failures, then one sentence."""
    log = get_logger()
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return await push()
        except PipelineError as error:
            kind = kind_of(error.message)
            if kind == "auth":
                who = f"user {username!r}" if username else "the anonymous push"
                raise PipelineError(
                    f"the registry {registry} refused {who} ({_reason(error.message)}): check "
                    "NODEPIPE_REGISTRY_USERNAME and NODEPIPE_REGISTRY_PASSWORD (or Docker's "
                    "config.json); no tag was moved",
                    stage=error.stage,
                ) from None
            if kind != "transient":
                raise
            if attempt == ATTEMPTS:
                raise PipelineError(
                    f"the registry {registry} stayed unreachable through {ATTEMPTS} attempts "
                    f"({_reason(error.message)}); no tag was moved",
                    stage=error.stage,
                ) from None
            wait = BACKOFF_S[min(attempt, len(BACKOFF_S)) - 1]
            log.warning("push_retry", registry=registry, attempt=attempt, wait_s=wait,
                        reason=_reason(error.message))
            await sleep(wait)
    raise AssertionError("unreachable")  # the loop returns or raises


def _reason(message: str) -> str:
    """The registry's own words, without the engine's long preamble."""
    match = _AUTH.search(message) or _TRANSIENT.search(message)
    if not match:
        return message[:160]
    start = message.rfind(": ", 0, match.start())
    return message[start + 2 if start >= 0 else 0:][:160].strip()
