"""Two publishes of the same tags at once (two commits merged in a row), on the real registry:
each tag ends naming one complete, verified index, and the run whose tags name the other's
index right after its own move says so, as a warning (exit 0) or, with race="fail", a
failure (exit 1)."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from structlog.testing import capture_logs

from pipelines.errors import EXIT_FAILURE, PipelineError
from pipelines.publish.gate import GateResult, publish_gated
from pipelines.registry.client import Manifest, RegistryClient
from tests.components.registry import LocalRegistry, Pusher
from tests.components.test_gate import REPO, Recorder, existing_release

pytestmark = pytest.mark.registry
TAGS = ("1.0", "latest")


class Run(Recorder):
    """One publish; `layers` makes its index differ from the other run's."""

    def __init__(self, registry: LocalRegistry, layers: int) -> None:
        super().__init__(registry)
        self.layers = layers

    async def stage(self, address: str) -> str:
        self.calls.append("stage")
        tag = address.rsplit(":", 1)[1]
        self.entries = [self.pusher.image(REPO, p, layers=self.layers) for p in self.platforms]
        self.refs.append(f"{address}@{self.pusher.index(REPO, tag, self.entries)}")
        return self.refs[-1]

    @property
    def digest(self) -> str:
        """The index digest this run staged."""
        return self.refs[0].rsplit("@", 1)[1] if self.refs else ""


def interleave(monkeypatch: pytest.MonkeyPatch, first: Run, last: Run) -> None:
    """Order the two runs' tag writes: `first` writes every tag, then `last` writes every
    tag, and only then does `first` read its tags back (so `first` loses them all)."""
    put = RegistryClient.put_manifest
    first_written, last_written = anyio.Event(), anyio.Event()
    counts = {first: 0, last: 0}

    async def ordered(self: RegistryClient, repository: str, reference: str,
                      manifest: Manifest) -> str:
        run = first if manifest.digest == first.digest else last
        if reference not in TAGS or manifest.digest not in (first.digest, last.digest):
            return await put(self, repository, reference, manifest)
        if run is last and counts[last] == 0:
            await first_written.wait()
        digest = await put(self, repository, reference, manifest)
        counts[run] += 1
        if counts[run] == len(TAGS):
            (first_written if run is first else last_written).set()
            if run is first:
                await last_written.wait()  # the read-back comes after the other's writes
        return digest

    monkeypatch.setattr(RegistryClient, "put_manifest", ordered)


async def race(registry: LocalRegistry, first: Run, last: Run,
               **options: Any) -> dict[str, GateResult | BaseException]:
    """Both gates at once; each one's result or error by name."""
    outcome: dict[str, GateResult | BaseException] = {}

    async def one(name: str, run: Run) -> None:
        try:
            outcome[name] = await publish_gated(f"{registry.host}/{REPO}", run.steps(TAGS),
                                                **(options if run is first else {}))
        except PipelineError as error:
            outcome[name] = error

    async with anyio.create_task_group() as group:
        group.start_soon(one, "first", first)
        group.start_soon(one, "last", last)
    return outcome


async def test_the_run_that_lost_the_tags_warns_and_names_the_other_index(
    registry: LocalRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run whose writes were overwritten still succeeds, with one warning naming the tags
    and the other run's index; the other run says nothing; both tags name the other run's
    complete index."""
    existing_release(registry)
    first, last = Run(registry, layers=3), Run(registry, layers=4)
    interleave(monkeypatch, first, last)
    with capture_logs() as logs:
        outcome = await race(registry, first, last)
    assert isinstance(outcome["first"], GateResult) and isinstance(outcome["last"], GateResult)
    assert first.digest != last.digest
    lost = [e for e in logs if e["event"] == "tag_race_lost"]
    assert len(lost) == 1, logs
    name = f"{registry.host}/{REPO}"
    assert lost[0]["tags"] == ["1.0", "latest"]
    assert lost[0]["detail"] == (
        f"another publish moved the same tags right after this one: 1.0, latest now name "
        f"{name}@{last.digest} (its index, not this run's verified {name}@{first.digest})")
    tags = Pusher(registry.host).complete_tags(REPO)
    assert tags["1.0"] == tags["latest"] == last.digest


async def test_with_race_fail_the_losing_run_fails(
    registry: LocalRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """race="fail": the overwritten run fails with exit 1 and the same sentence; the winner
    succeeds; the tags name the winner's index."""
    existing_release(registry)
    first, last = Run(registry, layers=5), Run(registry, layers=6)
    interleave(monkeypatch, first, last)
    outcome = await race(registry, first, last, race="fail")
    error = outcome["first"]
    assert isinstance(error, PipelineError), error
    assert error.exit_code == EXIT_FAILURE and error.stage == "tag"
    assert f"1.0, latest now name {registry.host}/{REPO}@{last.digest}" in str(error)
    assert isinstance(outcome["last"], GateResult)
    assert Pusher(registry.host).complete_tags(REPO)["latest"] == last.digest


async def test_two_runs_at_once_leave_every_tag_on_a_complete_index(
    registry: LocalRegistry,
) -> None:
    """No ordering imposed: each tag names one of the two verified indexes, complete, and a
    run that says it lost is one whose tags name the other's index. (A write that lands after
    a run's read-back cannot be seen by that run, so an unordered race may end with a silent
    loser; the ordered tests above pin the detection itself.)"""
    existing_release(registry)
    first, last = Run(registry, layers=7), Run(registry, layers=8)
    with capture_logs() as logs:
        outcome = await race(registry, first, last)
    assert all(isinstance(result, GateResult) for result in outcome.values())
    tags = Pusher(registry.host).complete_tags(REPO)
    assert {tags["1.0"], tags["latest"]} <= {first.digest, last.digest}
    warned = {e["detail"].rsplit("verified ", 1)[1].rstrip(")")
              for e in logs if e["event"] == "tag_race_lost"}
    losers = {f"{registry.host}/{REPO}@{run.digest}" for run in (first, last)
              if any(tags[tag] != run.digest for tag in TAGS)}
    assert warned <= losers
