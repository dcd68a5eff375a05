"""The publish gate: stage the index by digest, amend it, check every platform, attach its
attestations, verify, then move tags.

The order is the whole point. The requested tags are touched only after the staged index has
passed the smoke and hygiene checks of every target and the registry itself has shown every
platform with a real digest; any failure before that leaves every existing tag as it was.
Amending (the arm64 variant the engine drops) PUTs a corrected index under the staging tag;
everything after it runs on the corrected digest, so what is verified and tagged is the index
as amended. The steps are passed in as functions, so the ordering is tested against a real
registry without an engine.

Whatever the outcome (tags moved, a failed step, a cancellation), the staging tags the run
made are deleted at the end where the registry allows it. A cancellation that arrives during
the tag move lets the move finish, so the run can say exactly which tags moved. Two runs
moving the same tags at once both end with verified indexes; the one whose tags name the
other's index afterwards says so, as a warning or (`race="fail"`) a failure.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import anyio

from pipelines.errors import NodePipelinesError, PipelineError
from pipelines.logs import get_logger
from pipelines.registry.client import CannotCheck
from pipelines.registry.reference import ImageReference, parse_reference
from pipelines.registry.staging import STAGING_PREFIX, Cleanup, staging_tag
from pipelines.registry.tags import TagMove
from pipelines.registry.verify_report import VerifyReport

__all__ = ["STAGING_PREFIX", "GateResult", "GateSteps", "publish_gated", "staging_tag"]
T = TypeVar("T")
CLEANUP_TIMEOUT_S = 30.0  # deleting staging tags never holds a failed or cancelled run longer


async def as_staged(ref: str) -> str:
    """The amend step that changes nothing: go on with the staged index as it is."""
    return ref


async def no_attestations(ref: str) -> None:
    """The attest step that attaches nothing (a build with attestations off)."""


def only_the_staging_tag(tag: str) -> tuple[str, ...]:
    """The tags a stage step that pushes one index makes: the staging tag itself."""
    return (tag,)


@dataclass(frozen=True)
class GateSteps:
    """What the gate runs, in this order: stage, amend, check, attest, verify, move; then
    cleanup."""

    stage: Callable[[str], Awaitable[str]]  # publish to a staging address, return REF@digest
    check: Callable[[], Awaitable[None]]  # smoke + hygiene for every target; raises on failure
    verify: Callable[[str], Awaitable[VerifyReport]]  # the staged index in the registry
    move: Callable[[str], Awaitable[tuple[TagMove, ...]]]  # the requested tags to REF@digest
    # right after staging: correct the staged index if needed, return REF@digest to go on with
    amend: Callable[[str], Awaitable[str]] = as_staged
    # after the checks, before verify: attach each platform's SBOM and provenance to REF@digest
    attest: Callable[[str], Awaitable[None]] = no_attestations
    # every tag the stage step may make from the staging tag (per-platform ones too)
    staging_tags: Callable[[str], Sequence[str]] = only_the_staging_tag
    # deletes staging tags at the end; None keeps them
    cleanup: Callable[[Sequence[str]], Awaitable[Cleanup]] | None = None


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


class StagingRecord(Protocol):
    """Where the gate notes its progress as it goes (the build's report): the staging
    reference as soon as it exists, the step running, and the tags moved."""

    staging: str
    step: str
    tags_moved: list[str]


@dataclass
class _Record:
    staging: str = ""
    step: str = ""
    tags_moved: list[str] = field(default_factory=list)


async def publish_gated(
    image: str, steps: GateSteps, tag: str | None = None, staged: StagingRecord | None = None,
    *, race: str = "warn",
) -> GateResult:
    """Run the gate for `image` (a repository without tag); raise on the first failed step.
    `race="fail"` makes losing a tag to a concurrent publish a failure instead of a warning."""
    record = staged if staged is not None else _Record()
    tag = tag or staging_tag()
    try:
        return await _gate(f"{image}:{tag}", steps, record, race)
    finally:
        await _clean_up(steps, steps.staging_tags(tag))


async def _gate(address: str, steps: GateSteps, record: StagingRecord, race: str) -> GateResult:
    log = get_logger()
    record.step = "stage"
    reference = parse_reference(await steps.stage(address))
    if reference.digest is None:
        raise PipelineError(f"publishing {address} returned no digest", stage="stage")
    record.staging = str(reference)
    record.step = "amend"
    amended = parse_reference(await _asking_registry("amend", steps.amend(str(reference))))
    if amended.digest is None:
        raise PipelineError(f"amending {reference} returned no digest", stage="stage")
    if amended != reference:
        log.info("index_amended", staging=str(amended), replaced=reference.digest)
        record.staging = str(amended)
    return await _check_then_tag(amended, steps, record, race)


async def _check_then_tag(
    staged: ImageReference, steps: GateSteps, record: StagingRecord, race: str
) -> GateResult:
    log = get_logger()
    log.info("index_staged", staging=str(staged))
    try:
        record.step = "check"
        await steps.check()
        record.step = "attest"
        await _asking_registry("attest", steps.attest(str(staged)))
        record.step = "verify"
        report = await _asking_registry("verify", steps.verify(str(staged)))
    except (NodePipelinesError, BaseExceptionGroup):
        # The error itself is printed once at the boundary; no traceback in the log.
        log.error("gate_failed", staging=str(staged), tags_moved=False)  # noqa: TRY400
        raise
    if not report.ok:
        log.error("gate_failed", staging=str(staged), tags_moved=False)
        raise PipelineError(f"{report.summary()}; no tag was moved", stage="verify")
    log.info("index_verified", staging=str(staged), platforms=len(report.expected))
    record.step = "move"
    # A cancellation waits for the move: afterwards the run can say which tags moved.
    with anyio.CancelScope(shield=True):
        moves = await _asking_registry("tag", steps.move(str(staged)))
        record.tags_moved = [move.tag for move in moves]
    for move in moves:
        log.info("tag_moved", tag=move.tag, digest=move.digest, previous=move.previous)
    _report_race(staged, moves, race)
    return GateResult(staged=staged, report=report, moves=moves)


def _report_race(staged: ImageReference, moves: Sequence[TagMove], race: str) -> None:
    """Tags that name another index right after this run moved them: a concurrent publish of
    the same tags moved them later. Both indexes are verified; this run's is not tagged."""
    others: dict[str, list[str]] = {}
    for move in moves:
        if move.now != move.digest:
            others.setdefault(move.now or "nothing", []).append(move.tag)
    if not others:
        return
    named = "; ".join(f"{', '.join(tags)} now name{'s' if len(tags) == 1 else ''} "
                      f"{staged.name}@{digest}" for digest, tags in others.items())
    text = (f"another publish moved the same tags right after this one: {named} (its index, "
            f"not this run's verified {staged.name}@{staged.digest})")
    if race == "fail":
        raise PipelineError(text, stage="tag")
    get_logger().warning("tag_race_lost", detail=text,
                         tags=[tag for tags in others.values() for tag in tags])


async def _clean_up(steps: GateSteps, tags: Sequence[str]) -> None:
    """Delete the run's staging tags, shielded from a cancellation and bounded in time; one
    log line either way. Never raises: the run's outcome is already decided."""
    if steps.cleanup is None:
        return
    done = Cleanup(kept=list(tags), reason=f"the registry did not answer within "
                                           f"{CLEANUP_TIMEOUT_S:g} s")
    with anyio.CancelScope(shield=True), anyio.move_on_after(CLEANUP_TIMEOUT_S):
        try:
            done = await steps.cleanup(tags)
        except NodePipelinesError as error:
            done = Cleanup(kept=list(tags), reason=str(error))
    log = get_logger()
    if done.kept:
        log.warning("staging_kept", tags=done.kept, deleted=done.deleted, reason=done.reason)
    elif done.deleted:
        log.info("staging_deleted", tags=done.deleted)


async def _asking_registry(stage: str, step: Awaitable[T]) -> T:
    """Run a gate step that talks to the registry. A registry that cannot be asked (down after
    the retries, refusing the login, answering errors) fails the publish, exit 1 like a failed
    push, with its sentence and the fact that matters: tags are moved last and by a step that
    raises CannotCheck only before it writes any, so no tag was moved."""
    try:
        return await step
    except CannotCheck as error:
        raise PipelineError(f"{error}; no tag was moved", stage=stage) from None
