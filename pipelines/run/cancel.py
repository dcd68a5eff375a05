"""Cancellation by SIGINT or SIGTERM (what a CI provider sends when a newer push cancels a job).

The first signal cancels the build's work as anyio cancels anything: every stage and check
stops at its next await, the gate's cleanup still deletes the staging tags (shielded), a tag
move under way is let finish (shielded) so the run can say which tags moved, the Dagger
session is closed, and partial export files are removed. Then one sentence says what was
cancelled and what state the registry is in, and the exit code is 128 + the signal (130, 143).
A second signal ends the process at once, with one sentence of what may be left behind.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import anyio

from pipelines.errors import NodePipelinesError
from pipelines.registry.reference import parse_reference

T = TypeVar("T")
SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Progress(Protocol):
    """How far a build got (the build's report): what runs, the gate's step and its tags."""

    staging: str
    step: str
    tags_moved: list[str]
    running: set[str]


class BuildCancelledError(NodePipelinesError):
    """The build was cancelled by a signal; exit 128 + the signal's number."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.exit_code = 128 + signum


def signal_name(signum: int) -> str:
    """`SIGTERM` for 15."""
    return signal.Signals(signum).name


def where(progress: Progress, running: set[str] | None = None, step: str | None = None) -> str:
    """What was under way (by default now; else the `running` stages and gate `step` seen
    when the signal came): the stages, within the gate's step when publishing."""
    stages = ", ".join(sorted(progress.running if running is None else running))
    step = progress.step if step is None else step
    if step:
        gate = f"the publish gate's {step} step"
        return f"{gate} ({stages})" if stages else gate
    return f"stage {stages}" if stages else "the build"


def registry_state(progress: Progress, publishing: bool) -> str:
    """The fact that matters after a cancellation: which tags moved, if any."""
    if not publishing:
        return "no archive was written"
    if progress.tags_moved:
        staged = parse_reference(progress.staging)
        return f"tags moved: {', '.join(progress.tags_moved)} (to {staged.name}@{staged.digest})"
    return "no tag was moved"


@dataclass
class _Watch:
    signum: int = 0
    running: set[str] = field(default_factory=set)  # as the signal found them: the
    step: str = ""  # cancelled stages take themselves off the progress as they stop


async def cancellable(
    work: Callable[[], Awaitable[T]], progress: Progress, *, publishing: bool
) -> T:
    """Run `work`; the first SIGINT/SIGTERM cancels it and raises BuildCancelledError with the
    sentence, a second one ends the process at once."""
    watch = _Watch()
    outcome: list[T] = []
    failure: list[BaseException] = []
    previous = {sig: signal.getsignal(sig) for sig in SIGNALS}

    async def body() -> None:
        try:
            outcome.append(await work())
        except Exception as error:  # noqa: BLE001 - re-raised below, outside the task group
            failure.append(error)
        group.cancel_scope.cancel()  # the watcher is done too

    async def watcher() -> None:
        with anyio.open_signal_receiver(*SIGNALS) as signals:
            async for signum in signals:
                watch.signum = signum
                watch.running, watch.step = set(progress.running), progress.step
                break
        for sig in SIGNALS:  # installed after the receiver is gone, which resets handlers
            signal.signal(sig, lambda n, _f: _at_once(n, progress, publishing))
        group.cancel_scope.cancel()

    try:
        async with anyio.create_task_group() as group:
            group.start_soon(watcher)
            group.start_soon(body)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if watch.signum:
        during = where(progress, watch.running, watch.step)
        raise BuildCancelledError(f"cancelled by {signal_name(watch.signum)} during {during}: "
                                  f"{registry_state(progress, publishing)}", watch.signum)
    if failure:
        raise failure[0]
    return outcome[0]


def _at_once(signum: int, progress: Progress, publishing: bool) -> None:
    """The second signal: say what may be left, then end without any cleanup."""
    if publishing and progress.step == "move":
        state = "the tag move was under way: each tag names its previous or the new index"
    else:
        state = registry_state(progress, publishing)
    leftovers = "its staging tags may remain (python -m pipelines.verify --gc-staging)" \
        if publishing else "a partial archive may remain beside the export path"
    print(f"ERROR {signal_name(signum)} again: stopped at once during {where(progress)}; "
          f"{state}; {leftovers}", file=sys.stderr, flush=True)
    os._exit(128 + signum)
