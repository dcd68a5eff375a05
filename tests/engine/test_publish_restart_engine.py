"""A real publish while its registry crashes: the example is built on the engine and published
to a local registry that is killed (SIGKILL) as soon as the engine starts uploading to it, then
started again on the same port and storage, shortly after or only once the run has failed.

Either the publish succeeds and the tag names a complete verified index with both platforms, or
it fails with exit 1 and one sentence naming the registry and saying no tag moved, and the tag
still names the index it named before. Never a partial one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from pipelines.errors import EXIT_FAILURE, PipelineError
from pipelines.registry.credentials import Credentials
from pipelines.registry.push import BACKOFF_S
from pipelines.registry.verify import verify_index
from tests.components.registry import (
    PASSWORD,
    USER,
    LocalRegistry,
    Pusher,
    running_registry,
)
from tests.engine.test_pipeline_engine import build, index_platforms

pytestmark = [pytest.mark.engine, pytest.mark.registry]
REPO = "team/restart"
PLATFORMS = ("linux/amd64", "linux/arm64")
MID_BLOB = 4 << 20  # bytes of one upload received: the base image's layer is being streamed


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[LocalRegistry]:
    """A registry of this test's own, since the test kills it."""
    with running_registry(tmp_path / "registry") as started:
        yield started


class CrashOnFirstUpload:
    """Watches the registry's storage; the moment an upload to REPO has begun (the engine's
    push: the older release is in already) and holds at least `min_bytes`, kills the registry,
    and restarts it `restart_after_s` later (None: only when the `with` block ends)."""

    def __init__(self, registry: LocalRegistry, restart_after_s: float | None,
                 min_bytes: int = 0) -> None:
        self.registry, self.restart_after_s, self.min_bytes = registry, restart_after_s, min_bytes
        self.uploads = (registry.config.parent / "data" / "docker" / "registry" / "v2" /
                        "repositories" / REPO / "_uploads")
        self.killed_at: float | None = None
        self.restarted_at: float | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> CrashOnFirstUpload:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()
        if self.registry.process.poll() is not None:
            self.registry.restart()
            self.restarted_at = time.monotonic()

    def _begun(self) -> bool:
        if not self.uploads.is_dir():
            return False
        if not self.min_bytes:
            return any(self.uploads.iterdir())
        try:
            sizes = [data.stat().st_size for data in self.uploads.glob("*/data")]
        except FileNotFoundError:  # an upload finished while being looked at
            return False
        return any(size >= self.min_bytes for size in sizes)

    def _watch(self) -> None:
        while not self._done.is_set():
            if self._begun():
                self.registry.stop(kill=True)
                self.killed_at = time.monotonic()
                break
            time.sleep(0.005)
        if self.killed_at is None or self.restart_after_s is None:
            return
        if not self._done.wait(self.restart_after_s):
            self.registry.restart()
            self.restarted_at = time.monotonic()


def older_release(registry: LocalRegistry) -> str:
    """`latest` names an earlier complete two-platform index; return its digest."""
    pusher = Pusher(registry.host)
    digest = pusher.index(REPO, "latest", [pusher.image(REPO, p, layers=1) for p in PLATFORMS])
    assert not list((registry.config.parent / "data").rglob("_uploads/*")), "uploads left over"
    return digest


@pytest.mark.parametrize(("min_bytes", "restart_after_s"), [
    (0, 1.0),  # as the first upload begins; back within the first backoff (2 s)
    (0, 5.0),  # back during the second backoff, after a retry met it still down
    (MID_BLOB, 1.0),  # in the middle of streaming a layer
], ids=["upload-begins", "down-through-a-retry", "mid-layer"])
async def test_a_registry_restarted_during_the_push_gets_the_verified_index(
    engine: None, tmp_path: Path, registry: LocalRegistry, min_bytes: int,
    restart_after_s: float,
) -> None:
    """Killed during the push and back a little later: the push is retried until the
    registry answers, the publish succeeds, and latest names the new verified index (amd64 and
    arm64/v8, real digests); every tag in the repository names a complete index."""
    before = older_release(registry)
    image = f"{registry.host}/{REPO}"
    crashing = CrashOnFirstUpload(registry, restart_after_s, min_bytes)
    with capture_logs() as logs, crashing as crash:
        output, _ = await build(tmp_path, publish=True, image=image, tags="latest",
                                registry_username=USER, registry_password=PASSWORD)
    assert crash.killed_at is not None, f"no upload of the push reached {min_bytes} bytes"
    assert crash.restarted_at is not None
    retries = [e for e in logs if e["event"] == "push_retry"]
    assert retries, "wanted the push to meet the crash and be retried; it never was"
    if restart_after_s > BACKOFF_S[0]:
        assert len(retries) >= 2, f"wanted a retry to find the registry still down: {retries}"
    print("push retries:", [(e["attempt"], e["reason"]) for e in retries])  # for the record
    assert output.startswith(f"{image}@sha256:"), output
    tags = Pusher(registry.host).complete_tags(REPO)
    assert tags["latest"] == output.rsplit("@", 1)[1] != before
    assert index_platforms(registry, REPO, "latest") == ["linux/amd64", "linux/arm64/v8"]
    report = await verify_index(output, PLATFORMS, Credentials.of(USER, PASSWORD))
    assert report.ok and len({row.digest for row in report.rows}) == 2, report.summary()


async def test_a_registry_down_through_the_retries_fails_and_latest_keeps_its_index(
    engine: None, tmp_path: Path, registry: LocalRegistry
) -> None:
    """Killed at the first upload and restarted only after the run: exit 1, one sentence naming
    the registry and saying no tag moved; latest still names the earlier index."""
    before = older_release(registry)
    with CrashOnFirstUpload(registry, None) as crash, pytest.raises(PipelineError) as caught:
        await build(tmp_path, publish=True, image=f"{registry.host}/{REPO}", tags="latest",
                    registry_username=USER, registry_password=PASSWORD)
    assert crash.killed_at is not None, "the push never reached the registry"
    text = str(caught.value)
    print("sentence:", text)  # for the record
    assert caught.value.exit_code == EXIT_FAILURE
    assert f"the registry {registry.host} stayed unreachable through 4 attempts" in text, text
    assert text.endswith("no tag was moved"), text
    tags = Pusher(registry.host).complete_tags(REPO)
    assert tags["latest"] == before, tags
