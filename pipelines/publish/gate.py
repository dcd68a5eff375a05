"""The publish gate: stage the index by digest, amend it, check every platform, attach its
attestations, verify, then move tags.

The order is the whole point. The requested tags are touched only after the staged index has
passed the smoke and hygiene checks of every target and the registry itself has shown every
platform with a real digest; any failure before that leaves every existing tag as it was.
Amending (the arm64 variant the engine drops) PUTs a corrected index under the staging tag;
everything after it runs on the corrected digest, so what is verified and tagged is the index
as amended. The steps are passed in as functions, so the ordering is tested against a real
registry without an engine.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from pipelines.errors import NodePipelinesError, PipelineError
from pipelines.logs import get_logger
from pipelines.registry.client import CannotCheck
from pipelines.registry.reference import ImageReference, parse_reference
from pipelines.registry.tags import TagMove
from pipelines.registry.verify_report import VerifyReport

STAGING_PREFIX = "nodepipe-staging-"
T = TypeVar("T")


async def as_staged(ref: str) -> str:
    """The amend step that changes nothing: go on with the staged index as it is."""
    return ref


async def no_attestations(ref: str) -> None:
    """The attest step that attaches nothing (a build with attestations off)."""


@dataclass(frozen=True)
class GateSteps:
    """What the gate runs, in this order: stage, amend, check, attest, verify, move."""

    stage: Callable[[str], Awaitable[str]]  # publish to a staging address, return REF@digest
    check: Callable[[], Awaitable[None]]  # smoke + hygiene for every target; raises on failure
    verify: Callable[[str], Awaitable[VerifyReport]]  # the staged index in the registry
    move: Callable[[str], Awaitable[tuple[TagMove, ...]]]  # the requested tags to REF@digest
    # right after staging: correct the staged index if needed, return REF@digest to go on with
    amend: Callable[[str], Awaitable[str]] = as_staged
    # after the checks, before verify: attach each platform's SBOM and provenance to REF@digest
    attest: Callable[[str], Awaitable[None]] = no_attestations


@dataclass(frozen=True)
class GateResult:
    """A published, verified index and the tags that now point at it."""

    staged: ImageReference  # the staging reference, pinned to the index digest
    report: VerifyReport
    moves: tuple[TagMove, ...]

    @property
    def pinned(self) -> str:
        """`REPO@sha256:...`: what stdout carries."""
        return f"{self.staged.name}@{self.staged.digest}"


def staging_tag() -> str:
    """A tag no one else uses: time for humans reading the registry, randomness for uniqueness."""
    return f"{STAGING_PREFIX}{time.strftime('%Y%m%d%H%M%S', time.gmtime())}-{secrets.token_hex(4)}"


class StagingRecord(Protocol):
    """Where the gate notes the staging reference as soon as it exists (the build's report)."""

    staging: str


async def publish_gated(
    image: str, steps: GateSteps, tag: str | None = None, staged: StagingRecord | None = None
) -> GateResult:
    """Run the gate for `image` (a repository without tag); raise on the first failed step."""
    log = get_logger()
    address = f"{image}:{tag or staging_tag()}"
    reference = parse_reference(await steps.stage(address))
    if reference.digest is None:
        raise PipelineError(f"publishing {address} returned no digest", stage="stage")
    if staged is not None:
        staged.staging = str(reference)
    amended = parse_reference(await _asking_registry("amend", steps.amend(str(reference))))
    if amended.digest is None:
        raise PipelineError(f"amending {reference} returned no digest", stage="stage")
    if amended != reference:
        log.info("index_amended", staging=str(amended), replaced=reference.digest)
        if staged is not None:
            staged.staging = str(amended)
    return await _check_then_tag(amended, steps, log)


async def _check_then_tag(staged: ImageReference, steps: GateSteps, log: Any) -> GateResult:
    log.info("index_staged", staging=str(staged))
    try:
        report = await _checked_and_attested(staged, steps)
    except (NodePipelinesError, BaseExceptionGroup):
        # The error itself is printed once at the boundary; no traceback in the log.
        log.error("gate_failed", staging=str(staged), tags_moved=False)  # noqa: TRY400
        raise
    if not report.ok:
        log.error("gate_failed", staging=str(staged), tags_moved=False)
        raise PipelineError(f"{report.summary()}; no tag was moved", stage="verify")
    log.info("index_verified", staging=str(staged), platforms=len(report.expected))
    moves = await _asking_registry("tag", steps.move(str(staged)))
    for move in moves:
        log.info("tag_moved", tag=move.tag, digest=move.digest, previous=move.previous)
    return GateResult(staged=staged, report=report, moves=moves)


async def _checked_and_attested(staged: ImageReference, steps: GateSteps) -> VerifyReport:
    """Check every platform, attach the attestations of what passed, then verify the whole
    (the verify step requires the attestations when the build makes them)."""
    await steps.check()
    await _asking_registry("attest", steps.attest(str(staged)))
    return await _asking_registry("verify", steps.verify(str(staged)))


async def _asking_registry(stage: str, step: Awaitable[T]) -> T:
    """Run a gate step that talks to the registry. A registry that cannot be asked (down after
    the retries, refusing the login, answering errors) fails the publish, exit 1 like a failed
    push, with its sentence and the fact that matters: tags are moved last and by a step that
    raises CannotCheck only before it writes any, so no tag was moved."""
    try:
        return await step
    except CannotCheck as error:
        raise PipelineError(f"{error}; no tag was moved", stage=stage) from None
