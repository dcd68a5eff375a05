"""The publish gate against a real registry: stage, check, verify, and only then move tags."""

from __future__ import annotations

import json
from dataclasses import replace
from types import SimpleNamespace

import httpx
import pytest

from pipelines.errors import PipelineError
from pipelines.publish.gate import STAGING_PREFIX, GateSteps, publish_gated, staging_tag
from pipelines.registry.credentials import Credentials
from pipelines.registry.reference import validate_tag
from pipelines.registry.staging import delete_staging_tags
from pipelines.registry.tags import move_tags
from pipelines.registry.variant import add_arm64_variant
from pipelines.registry.verify import verify_index
from tests.components.registry import (
    OCI_INDEX,
    PASSWORD,
    USER,
    LocalRegistry,
    Pusher,
    assert_no_secret,
    digest_of,
)

pytestmark = pytest.mark.registry
PLATFORMS = ("linux/amd64", "linux/arm64")
REPO = "team/api"


class Recorder:
    """Gate steps over a real registry; the stage step pushes with the test pusher (no engine)."""

    def __init__(self, registry: LocalRegistry, *, platforms=PLATFORMS, check_error=None):
        self.pusher = Pusher(registry.host)
        self.host = registry.host
        self.platforms = platforms
        self.check_error = check_error
        self.calls: list[str] = []
        self.refs: list[str] = []  # what stage returned, then what verify and move were given
        self.entries: list[dict] = []  # the staged index's entries
        self.login = Credentials.of(USER, PASSWORD)

    def steps(self, tags: tuple[str, ...], *, amend: bool = False,
              cleanup: bool = False) -> GateSteps:
        steps = GateSteps(stage=self.stage, check=self.check, verify=self.verify,
                          move=lambda ref: self.move(ref, tags))
        if cleanup:
            steps = replace(steps, cleanup=self.cleanup)
        return replace(steps, amend=self.amend) if amend else steps

    async def cleanup(self, tags):  # type: ignore[no-untyped-def]
        self.calls.append("cleanup")
        return await delete_staging_tags(f"{self.host}/{REPO}", tags, self.login)

    async def stage(self, address: str) -> str:
        self.calls.append("stage")
        tag = address.rsplit(":", 1)[1]
        self.entries = [self.pusher.image(REPO, p) for p in self.platforms]
        self.refs.append(f"{address}@{self.pusher.index(REPO, tag, self.entries)}")
        return self.refs[-1]

    async def amend(self, ref: str) -> str:
        self.calls.append("amend")
        return await add_arm64_variant(ref, self.login)

    async def check(self) -> None:
        self.calls.append("check")
        if self.check_error is not None:
            raise self.check_error

    async def verify(self, ref: str):
        self.calls.append("verify")
        self.refs.append(ref)
        return await verify_index(ref, PLATFORMS, self.login)

    async def move(self, ref: str, tags: tuple[str, ...]):
        self.calls.append("move")
        self.refs.append(ref)
        return await move_tags(ref, tags, self.login)

    def index(self, digest: str) -> tuple[bytes, str]:
        """The bytes and Content-Type the registry serves for `digest`, read independently."""
        answer = httpx.get(f"http://{self.host}/v2/{REPO}/manifests/{digest}",
                           auth=(USER, PASSWORD), headers={"Accept": OCI_INDEX})
        assert answer.status_code == 200, answer.text
        return answer.content, answer.headers["content-type"]


def existing_release(registry: LocalRegistry) -> str:
    """Tag 1.0 points at an earlier complete index; return its digest."""
    pusher = Pusher(registry.host)
    return pusher.index(REPO, "1.0", [pusher.image(REPO, p, layers=1) for p in PLATFORMS])


async def test_passing_gate_moves_every_tag_to_the_staged_digest(registry: LocalRegistry) -> None:
    """All steps pass, in order; both tags then name the staged index digest."""
    existing_release(registry)
    gate = Recorder(registry)
    result = await publish_gated(f"{registry.host}/{REPO}", gate.steps(("1.0", "latest")))
    assert gate.calls == ["stage", "check", "verify", "move"]
    assert result.staged.tag.startswith(STAGING_PREFIX)
    for tag in ("1.0", "latest"):
        assert gate.pusher.tag_digest(REPO, tag) == result.staged.digest
    assert result.pinned == f"{registry.host}/{REPO}@{result.staged.digest}"


async def test_failing_smoke_leaves_tags_untouched(registry: LocalRegistry) -> None:
    """A smoke failure on one platform stops the gate before verify; tags stay where they were."""
    before = existing_release(registry)
    error = PipelineError("better-sqlite3 failed to load", stage="smoke", platform="linux/arm64")
    gate = Recorder(registry, check_error=ExceptionGroup("checks", [error]))
    record = SimpleNamespace(staging="", step="", tags_moved=[])
    with pytest.raises(ExceptionGroup) as caught:
        await publish_gated(f"{registry.host}/{REPO}", gate.steps(("1.0", "candidate")),
                            tag="nodepipe-staging-smoke", staged=record)
    assert record.staging.startswith(f"{registry.host}/{REPO}:nodepipe-staging-smoke@sha256:")
    assert caught.value.exceptions == (error,)
    assert gate.calls == ["stage", "check"]
    assert gate.pusher.tag_digest(REPO, "1.0") == before
    assert gate.pusher.tag_digest(REPO, "candidate") is None
    assert gate.pusher.tag_digest(REPO, "nodepipe-staging-smoke") is not None  # to inspect


async def test_unverified_index_leaves_tags_untouched(registry: LocalRegistry) -> None:
    """A staged index missing arm64 fails verification; no tag moves, the sentence says why."""
    before = existing_release(registry)
    gate = Recorder(registry, platforms=("linux/amd64",))
    with pytest.raises(PipelineError) as caught:
        await publish_gated(f"{registry.host}/{REPO}", gate.steps(("1.0",)))
    assert gate.calls == ["stage", "check", "verify"]
    assert caught.value.stage == "verify"
    assert "linux/arm64" in str(caught.value) and "no tag was moved" in str(caught.value)
    assert gate.pusher.tag_digest(REPO, "1.0") == before


async def test_amend_gives_arm64_its_variant_and_the_gate_goes_on_with_it(
    registry: LocalRegistry,
) -> None:
    """An index staged without arm64's variant is replaced under the staging tag by one saying
    v8, right after staging; check, verify and the tags all see the corrected digest."""
    gate = Recorder(registry)
    record = SimpleNamespace(staging="", step="", tags_moved=[])
    result = await publish_gated(f"{registry.host}/{REPO}", gate.steps(("2.0",), amend=True),
                                 tag="nodepipe-staging-variant", staged=record)
    assert gate.calls == ["stage", "amend", "check", "verify", "move"]
    staged_digest = gate.refs[0].rsplit("@", 1)[1]
    new_digest = result.staged.digest
    assert new_digest is not None and new_digest != staged_digest
    assert gate.refs[1:] == [str(result.staged)] * 2  # verify and move got the corrected index
    assert record.staging == str(result.staged)
    assert result.staged.tag == "nodepipe-staging-variant"
    for tag in ("nodepipe-staging-variant", "2.0"):
        assert gate.pusher.tag_digest(REPO, tag) == new_digest
    body, media_type = gate.index(new_digest)
    assert digest_of(body) == new_digest and media_type == OCI_INDEX
    manifests = json.loads(body)["manifests"]
    assert [m["platform"] for m in manifests] == [
        {"os": "linux", "architecture": "amd64"},
        {"os": "linux", "architecture": "arm64", "variant": "v8"},
    ]
    assert [m["digest"] for m in manifests] == [e["digest"] for e in gate.entries]
    assert result.report.ok


async def test_amend_keeps_an_index_that_already_says_v8(registry: LocalRegistry) -> None:
    """An index staged with linux/arm64/v8 is not rewritten: the gate tags the staged digest."""
    gate = Recorder(registry, platforms=("linux/amd64", "linux/arm64/v8"))
    result = await publish_gated(f"{registry.host}/{REPO}", gate.steps(("2.1",), amend=True))
    assert gate.calls == ["stage", "amend", "check", "verify", "move"]
    assert gate.refs == [gate.refs[0]] * 3
    assert gate.pusher.tag_digest(REPO, "2.1") == result.staged.digest
    assert gate.refs[0].endswith(f"@{result.staged.digest}")


async def test_refused_amend_leaves_tags_untouched(registry: LocalRegistry) -> None:
    """A registry refusing the corrected index stops the gate before any check: exit 1, the
    registry's sentence without the password, and no tag moves."""
    before = existing_release(registry)
    gate = Recorder(registry)
    # Staging pushes with the pusher's own login; amend, verify and move use this wrong one.
    gate.login = Credentials.of(USER, "not-the-" + PASSWORD)
    with pytest.raises(PipelineError) as caught:
        await publish_gated(f"{registry.host}/{REPO}", gate.steps(("1.0",), amend=True))
    assert caught.value.stage == "amend" and caught.value.exit_code == 1
    assert f"registry {registry.host} refused user '{USER}'" in str(caught.value)
    assert str(caught.value).endswith("no tag was moved")
    assert_no_secret(str(caught.value), gate.login.password.get_secret_value())
    assert gate.calls == ["stage", "amend"]
    assert gate.pusher.tag_digest(REPO, "1.0") == before


def test_staging_tags_are_unique_and_valid() -> None:
    """Two staging tags differ and are valid tags."""
    first, second = staging_tag(), staging_tag()
    assert first != second
    assert validate_tag(first) == first
