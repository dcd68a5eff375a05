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

import httpx
import pytest
from structlog.testing import capture_logs

from pipelines.credentials import Credentials
from pipelines.errors import EXIT_FAILURE, PipelineError
from pipelines.verify import verify_index
from tests.components.registry import (
    DOCKER_LIST,
    OCI_INDEX,
    OCI_MANIFEST,
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
RESTART_AFTER_S = 1.0  # inside the push's first backoff (2 s): the second attempt finds it up


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[LocalRegistry]:
    """A registry of this test's own, since the test kills it."""
    with running_registry(tmp_path / "registry") as started:
        yield started


class CrashOnFirstUpload:
    """Watches the registry's storage; the moment an upload to REPO begins (the engine's push,
    the older release is in already), kills the registry, and restarts it `restart_after_s`
    later (None: not until `end`)."""

    def __init__(self, registry: LocalRegistry, restart_after_s: float | None) -> None:
        self.registry, self.restart_after_s = registry, restart_after_s
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

    def _watch(self) -> None:
        while not self._done.is_set():
            if self.uploads.is_dir() and any(self.uploads.iterdir()):
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


def complete_indexes(registry: LocalRegistry) -> dict[str, str]:
    """Every tag of REPO, read without the code under test, with the index it names; each of
    those indexes has all its image manifests, configs and layers in the registry."""
    client = httpx.Client(base_url=f"http://{registry.host}/v2/{REPO}", auth=(USER, PASSWORD),
                          timeout=10)
    accept = {"Accept": ", ".join([OCI_INDEX, DOCKER_LIST, OCI_MANIFEST])}
    tags = {}
    for tag in client.get("/tags/list").json()["tags"]:
        index = client.get(f"/manifests/{tag}", headers=accept)
        assert index.status_code == 200, f"tag {tag}: HTTP {index.status_code}"
        tags[tag] = index.headers["docker-content-digest"]
        for entry in index.json()["manifests"]:
            image = client.get(f"/manifests/{entry['digest']}", headers=accept)
            assert image.status_code == 200, f"tag {tag}: {entry['digest']} is missing"
            for blob in [image.json()["config"], *image.json()["layers"]]:
                assert client.head(f"/blobs/{blob['digest']}").status_code == 200, (
                    f"tag {tag}: blob {blob['digest']} is missing")
    return tags


async def test_a_registry_restarted_during_the_push_gets_the_verified_index(
    engine: None, tmp_path: Path, registry: LocalRegistry
) -> None:
    """Killed at the first upload and back a second later: the push is retried, the publish
    succeeds, and latest names the new verified index (amd64 and arm64/v8, real digests)."""
    before = older_release(registry)
    image = f"{registry.host}/{REPO}"
    with capture_logs() as logs, CrashOnFirstUpload(registry, RESTART_AFTER_S) as crash:
        output, _ = await build(tmp_path, publish=True, image=image, tags="latest",
                                registry_username=USER, registry_password=PASSWORD)
    assert crash.killed_at is not None, "the push never reached the registry"
    assert crash.restarted_at is not None
    retries = [e for e in logs if e["event"] == "push_retry"]
    assert retries, "wanted the push to meet the crash and be retried; it never was"
    assert output.startswith(f"{image}@sha256:"), output
    tags = complete_indexes(registry)
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
    assert caught.value.exit_code == EXIT_FAILURE
    assert f"the registry {registry.host} stayed unreachable through 4 attempts" in text, text
    assert text.endswith("no tag was moved"), text
    tags = complete_indexes(registry)
    assert tags["latest"] == before, tags
