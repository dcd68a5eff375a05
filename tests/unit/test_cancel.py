"""Cancellation by a signal, in process: the sentence, the exit code, what was under way, and
the handlers put back afterwards; and the partial export files removed."""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import pytest

from pipelines.publish.archive import partial_paths, remove_partials
from pipelines.run.cancel import BuildCancelledError, cancellable, registry_state, where


@dataclass
class Progress:
    """A build's progress as the report records it."""

    staging: str = ""
    step: str = ""
    tags_moved: list[str] = field(default_factory=list)
    running: set[str] = field(default_factory=set)


async def _signalled(progress: Progress, signum: int, *, publishing: bool) -> None:
    async def work() -> str:
        # As Clock.run does: a stage is on the progress while it runs, and off once cancelled.
        progress.running.add("deps on linux/arm64")
        try:
            os.kill(os.getpid(), signum)
            await anyio.sleep(30)  # cancelled long before
        finally:
            progress.running.discard("deps on linux/arm64")
        return "finished"

    await cancellable(work, progress, publishing=publishing)


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
async def test_a_signal_cancels_the_work_with_its_sentence_and_exit_code(
    signum: int, code: int
) -> None:
    """The work is cancelled at once; the error names the signal, the running stages and the
    registry state, exits 128 + the signal, and the handlers are as they were before."""
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    progress = Progress(running={"app on build"})
    with anyio.fail_after(5), pytest.raises(BuildCancelledError) as caught:
        await _signalled(progress, signum, publishing=False)
    name = signal.Signals(signum).name
    assert str(caught.value) == (f"cancelled by {name} during stage app on build, deps on "
                                 "linux/arm64: no archive was written")
    assert caught.value.exit_code == code
    assert {s: signal.getsignal(s) for s in before} == before


async def test_work_that_ends_returns_its_result_and_errors_pass_through() -> None:
    """Without a signal the result comes back as it is, and a failure is raised as it is
    (not as an exception group)."""
    async def fine() -> str:
        return "REPO@sha256:abc"

    async def broken() -> str:
        raise ValueError("no")

    assert await cancellable(fine, Progress(), publishing=True) == "REPO@sha256:abc"
    with pytest.raises(ValueError, match="no"):
        await cancellable(broken, Progress(), publishing=True)


def test_the_state_says_which_tags_moved() -> None:
    """Publishing: no tag, or the tags moved and the index they name; the gate's step first."""
    digest = "sha256:" + "a" * 64
    moved = Progress(staging=f"r.example/team/api:nodepipe-staging-x@{digest}", step="move",
                     tags_moved=["1.0", "latest"])
    assert registry_state(moved, publishing=True) == (
        f"tags moved: 1.0, latest (to r.example/team/api@{digest})")
    assert registry_state(Progress(step="check"), publishing=True) == "no tag was moved"
    assert where(Progress(step="check", running={"smoke on linux/amd64"})) == (
        "the publish gate's check step (smoke on linux/amd64)")
    assert where(Progress()) == "the build"


def test_partial_export_files_are_removed_and_the_archive_is_kept(tmp_path: Path) -> None:
    """What an unfinished export leaves beside the archive goes; the archive and other files
    stay."""
    path = tmp_path / "service.oci.tar"
    keep = [path, tmp_path / "other.oci.tar", tmp_path / ".other.oci.tar.partial"]
    leftovers = [tmp_path / f".{path.name}.partial", tmp_path / f".{path.name}.partial.0",
                 tmp_path / f"..{path.name}.partial.variant"]
    for file in [*keep, *leftovers]:
        file.write_bytes(b"x")
    assert partial_paths(path) == sorted(leftovers[:2]) + leftovers[2:]
    remove_partials(path)
    assert sorted(tmp_path.iterdir()) == sorted(keep)
