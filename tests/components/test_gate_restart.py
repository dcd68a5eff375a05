"""The publish gate while its real registry is stopped (SIGKILL, like a crash) and restarted on
the same port and storage: a short outage is ridden through by the registry client's retries,
a long one fails with one sentence naming the registry, and in every case each tag names a
complete index (its previous one or the verified one), never a partial one."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from structlog.testing import capture_logs

from pipelines.errors import EXIT_FAILURE, PipelineError
from pipelines.publish.gate import publish_gated
from pipelines.registry.client import RegistryClient
from pipelines.registry.tags import TagMoveError
from tests.components.registry import (
    OCI_INDEX,
    PASSWORD,
    USER,
    LocalRegistry,
    Pusher,
    running_registry,
)
from tests.components.test_gate import REPO, Recorder, existing_release

pytestmark = pytest.mark.registry
# Longer than the registry client's whole retry window (0.25 + 0.5 + 1 s), shorter than a test.
RESTART_AFTER_S = 0.4


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[LocalRegistry]:
    """A registry of this test's own: the test stops it, so no other test shares it."""
    with running_registry(tmp_path / "registry") as started:
        yield started


class Outage:
    """Stops the registry at once and, unless told to stay down, starts it again shortly after
    on a thread, while the gate's next step is already asking it."""

    def __init__(self, registry: LocalRegistry) -> None:
        self.registry = registry
        self.restarter: threading.Timer | None = None

    def begin(self, *, restart_after_s: float | None) -> None:
        self.registry.stop(kill=True)
        if restart_after_s is not None:
            self.restarter = threading.Timer(restart_after_s, self.registry.restart)
            self.restarter.start()

    def end(self) -> None:
        """The registry answering again (restarted now if it stayed down)."""
        if self.restarter is not None:
            self.restarter.join()
        if self.registry.process.poll() is not None:
            self.registry.restart()


class OutageRecorder(Recorder):
    """The gate's steps over the real registry, with an outage starting at a chosen step."""

    def __init__(self, registry: LocalRegistry, outage: Outage, *, at: str,
                 restart_after_s: float | None) -> None:
        super().__init__(registry)
        self.outage, self.at, self.restart_after_s = outage, at, restart_after_s

    def _maybe_stop(self, step: str) -> None:
        if step == self.at:
            self.outage.begin(restart_after_s=self.restart_after_s)

    async def amend(self, ref: str) -> str:
        self._maybe_stop("amend")
        return await super().amend(ref)

    async def check(self) -> None:
        await super().check()
        self._maybe_stop("verify")  # the check pulls nothing here; the next step is verify

    async def move(self, ref: str, tags: tuple[str, ...]):  # type: ignore[no-untyped-def]
        self._maybe_stop("move")
        return await super().move(ref, tags)


def gate_for(registry: LocalRegistry, *, at: str, restart_after_s: float | None,
             ) -> tuple[OutageRecorder, Outage]:
    """An outage at the step `at` and the recorder whose steps begin it."""
    outage = Outage(registry)
    return OutageRecorder(registry, outage, at=at, restart_after_s=restart_after_s), outage


@pytest.mark.parametrize("step", ["amend", "verify", "move"])
async def test_a_short_outage_is_ridden_through_and_the_tags_name_the_new_index(
    registry: LocalRegistry, step: str
) -> None:
    """Killed as the step begins and back 0.4 s later: the step's retries reach it, the gate
    passes, and both tags name the verified index."""
    existing_release(registry)
    gate, outage = gate_for(registry, at=step, restart_after_s=RESTART_AFTER_S)
    try:
        with capture_logs() as logs:
            result = await publish_gated(f"{registry.host}/{REPO}",
                                         gate.steps(("1.0", "latest"), amend=True))
    finally:
        outage.end()
    retried = [e for e in logs if e["event"] == "registry_request_retried"]
    assert retried, "wanted the step to meet the outage and retry, it never retried"
    assert result.report.ok
    tags = Pusher(registry.host).complete_tags(REPO)
    assert tags["1.0"] == tags["latest"] == result.staged.digest


@pytest.mark.parametrize("step", ["amend", "verify", "move"])
async def test_a_registry_that_stays_down_fails_with_the_sentence_and_moves_no_tag(
    registry: LocalRegistry, step: str
) -> None:
    """Killed as the step begins and down through its retries: exit 1, one sentence naming the
    registry and saying no tag was moved; restarted, 1.0 still names the earlier index and
    candidate does not exist."""
    before = existing_release(registry)
    gate, outage = gate_for(registry, at=step, restart_after_s=None)
    try:
        with pytest.raises(PipelineError) as caught:
            await publish_gated(f"{registry.host}/{REPO}",
                                gate.steps(("1.0", "candidate"), amend=True))
    finally:
        outage.end()
    text = str(caught.value)
    assert caught.value.exit_code == EXIT_FAILURE
    assert f"cannot reach registry {registry.host}" in text, text
    assert text.endswith("no tag was moved"), text
    assert "Traceback" not in text and "\n" not in text
    tags = Pusher(registry.host).complete_tags(REPO)
    assert tags["1.0"] == before and "candidate" not in tags


@pytest.mark.parametrize(("crash_after", "sentence", "moved"), [
    ("1.0", "1.0 moved to {name}@{digest}, latest may still point at the previous index",
     {"1.0"}),
    ("latest", "1.0, latest were written to {name}@{digest} but could not be read back",
     {"1.0", "latest"}),
], ids=["between-the-writes", "before-the-read-back"])
async def test_a_registry_killed_during_the_tag_move_names_what_moved(
    registry: LocalRegistry, monkeypatch: pytest.MonkeyPatch, crash_after: str, sentence: str,
    moved: set[str],
) -> None:
    """The registry dies right after a tag's write: the sentence says which tags moved (and
    never that none did); restarted, those name the verified index and the others their
    earlier one, as the sentence said."""
    before = existing_release(registry)
    pusher = Pusher(registry.host)  # latest names the same earlier release as 1.0
    pusher.client.put(f"/v2/{REPO}/manifests/latest", content=_manifest_bytes(registry, before),
                      headers={"Content-Type": OCI_INDEX})
    assert pusher.tag_digest(REPO, "latest") == before
    put = RegistryClient.put_manifest
    written: list[str] = []

    async def put_then_crash(self: RegistryClient, repository: str, reference: str,
                             manifest):  # type: ignore[no-untyped-def]
        digest = await put(self, repository, reference, manifest)
        written.append(reference)
        if reference == crash_after:
            registry.stop(kill=True)
        return digest

    monkeypatch.setattr(RegistryClient, "put_manifest", put_then_crash)
    gate = Recorder(registry)
    try:
        with pytest.raises(TagMoveError) as caught:
            await publish_gated(f"{registry.host}/{REPO}", gate.steps(("1.0", "latest")))
    finally:
        if registry.process.poll() is not None:
            registry.restart()
    text = str(caught.value)
    staged = gate.refs[-1].rsplit("@", 1)[1]
    assert written == ["1.0", "latest"][:len(moved)]
    assert f"cannot reach registry {registry.host}" in text, text
    assert sentence.format(name=f"{registry.host}/{REPO}", digest=staged) in text, text
    assert "no tag was moved" not in text
    tags = pusher.complete_tags(REPO)
    assert {tag for tag in ("1.0", "latest") if tags[tag] == staged} == moved
    assert all(tags[tag] == before for tag in {"1.0", "latest"} - moved)


def _manifest_bytes(registry: LocalRegistry, digest: str) -> bytes:
    answer = httpx.get(f"http://{registry.host}/v2/{REPO}/manifests/{digest}",
                       auth=(USER, PASSWORD), headers={"Accept": OCI_INDEX})
    assert answer.status_code == 200, answer.text
    return answer.content
