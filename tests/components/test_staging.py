"""Staging tags deleted at the end of a publish and collected when stale, on real registries:
distribution v3, which deletes tags (OCI distribution 1.1), and Debian's docker-registry 2.8,
which never does and must be left with every tag intact and one line saying why."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from structlog.testing import capture_logs

from pipelines import verify
from pipelines.errors import PipelineError
from pipelines.publish.gate import publish_gated
from pipelines.registry.staging import STAGING_PREFIX, made_at, staging_tag
from tests.components.registry import (
    PASSWORD,
    USER,
    LocalRegistry,
    Pusher,
    registry_v3,
    running_registry,
)
from tests.components.test_gate import PLATFORMS, REPO, Recorder, existing_release

pytestmark = pytest.mark.registry
OLD = "nodepipe-staging-20200101000000-0badc0de"


@pytest.fixture(scope="module")
def v3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRegistry]:
    """A distribution v3 registry with deletes enabled, for this module."""
    with running_registry(tmp_path_factory.mktemp("registry-v3"), registry_v3()) as started:
        yield started


class PerPlatform(Recorder):
    """Stages as engines apart do: each platform's image under `<staging>-<platform>`, then
    the index under the staging tag."""

    async def stage(self, address: str) -> str:
        self.calls.append("stage")
        tag = address.rsplit(":", 1)[1]
        self.entries = [self.pusher.image(REPO, p, tag=f"{tag}-{p.replace('/', '-')}")
                        for p in self.platforms]
        self.refs.append(f"{address}@{self.pusher.index(REPO, tag, self.entries)}")
        return self.refs[-1]


def tags_of(registry: LocalRegistry) -> set[str]:
    """Every tag of the test repository, read independently."""
    return set(Pusher(registry.host).client.get(f"/v2/{REPO}/tags/list").json().get("tags") or [])


def staging_left(registry: LocalRegistry) -> set[str]:
    """The staging tags still in the test repository."""
    return {tag for tag in tags_of(registry) if tag.startswith(STAGING_PREFIX)}


def per_platform(tag: str) -> tuple[str, ...]:
    """The tags a per-platform stage step makes."""
    return (tag, *(f"{tag}-{p.replace('/', '-')}" for p in PLATFORMS))


def _clear_staging(registry: LocalRegistry) -> None:
    for tag in staging_left(registry):
        Pusher(registry.host).client.delete(f"/v2/{REPO}/manifests/{tag}")


async def test_a_published_run_deletes_its_staging_tags_and_keeps_every_index(
    v3: LocalRegistry,
) -> None:
    """After the tags move, the staging tag and the per-platform ones are deleted; 1.0 and
    latest still name a complete index, reachable by digest too."""
    _clear_staging(v3)
    gate = PerPlatform(v3)
    steps = replace(gate.steps(("1.0", "latest"), cleanup=True), staging_tags=per_platform)
    with capture_logs() as logs:
        result = await publish_gated(f"{v3.host}/{REPO}", steps)
    assert gate.calls == ["stage", "check", "verify", "move", "cleanup"]
    assert staging_left(v3) == set()
    deleted = [e for e in logs if e["event"] == "staging_deleted"]
    assert [e["tags"] for e in deleted] == [list(per_platform(str(result.staged.tag)))]
    tags = Pusher(v3.host).complete_tags(REPO)
    assert tags["1.0"] == tags["latest"] == result.staged.digest
    assert Pusher(v3.host).tag_digest(REPO, str(result.staged.digest)) == result.staged.digest


async def test_a_failed_run_deletes_its_staging_tag_and_moves_no_tag(v3: LocalRegistry) -> None:
    """A failed check: no tag moves, the staging tag is deleted all the same, and the staged
    index stays reachable by the digest the log names."""
    _clear_staging(v3)
    before = existing_release(v3)
    gate = Recorder(v3, check_error=PipelineError("addon failed to load", stage="smoke"))
    with capture_logs() as logs, pytest.raises(PipelineError):
        await publish_gated(f"{v3.host}/{REPO}", gate.steps(("1.0", "candidate"), cleanup=True))
    assert gate.calls == ["stage", "check", "cleanup"]
    assert staging_left(v3) == set()
    assert Pusher(v3.host).tag_digest(REPO, "1.0") == before
    assert "candidate" not in tags_of(v3)
    staged = gate.refs[0].rsplit("@", 1)[1]
    assert Pusher(v3.host).tag_digest(REPO, staged) == staged
    assert [e["event"] for e in logs if e["event"].startswith("staging_")] == ["staging_deleted"]


async def test_a_registry_that_cannot_delete_tags_keeps_them_and_says_so(
    registry: LocalRegistry,
) -> None:
    """docker-registry 2.8 answers a tag delete with 400 DIGEST_INVALID: the publish still
    succeeds, one warning names the kept tag and why, and every tag names a complete index
    (nothing is ever deleted by digest)."""
    gate = Recorder(registry)
    with capture_logs() as logs:
        result = await publish_gated(f"{registry.host}/{REPO}",
                                     gate.steps(("1.0", "latest"), cleanup=True))
    kept = [e for e in logs if e["event"] == "staging_kept"]
    assert len(kept) == 1, logs
    assert kept[0]["tags"] == [result.staged.tag]
    assert kept[0]["reason"] == (f"registry {registry.host} refused to delete a tag (HTTP 400 "
                                 "DIGEST_INVALID): tag deletion is off or unsupported there")
    tags = Pusher(registry.host).complete_tags(REPO)
    assert tags["1.0"] == tags["latest"] == tags[str(result.staged.tag)] == result.staged.digest


def _push_staging(registry: LocalRegistry, tags: list[str]) -> None:
    pusher = Pusher(registry.host)
    entries = [pusher.image(REPO, p, layers=1) for p in PLATFORMS]
    for tag in tags:
        pusher.index(REPO, tag, entries)


def test_gc_deletes_only_staging_tags_older_than_the_age(
    v3: LocalRegistry, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    """`--gc-staging REPO --older-than 2h` deletes the 2020 staging tag and its per-platform
    one; a fresh staging tag (a running publish's), a release tag and a tag that only looks
    like a staging tag stay."""
    _clear_staging(v3)
    existing_release(v3)
    fresh = staging_tag()
    _push_staging(v3, [OLD, f"{OLD}-linux-arm64", fresh, f"{STAGING_PREFIX}notatime"])
    monkeypatch.setenv("NODEPIPE_REGISTRY_USERNAME", USER)
    monkeypatch.setenv("NODEPIPE_REGISTRY_PASSWORD", PASSWORD)
    code = verify.main(["--gc-staging", f"{v3.host}/{REPO}", "--older-than", "2h"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert out.out.splitlines() == [f"deleted {v3.host}/{REPO}:{OLD}",
                                    f"deleted {v3.host}/{REPO}:{OLD}-linux-arm64"]
    assert staging_left(v3) == {fresh, f"{STAGING_PREFIX}notatime"}
    assert "1.0" in Pusher(v3.host).complete_tags(REPO)


def test_gc_on_a_registry_that_cannot_delete_tags_says_so(
    registry: LocalRegistry, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    """On docker-registry 2.8 the stale tag is kept: exit 1, one sentence naming it and the
    registry's answer, and the tag is still there."""
    _push_staging(registry, [OLD])
    monkeypatch.setenv("NODEPIPE_REGISTRY_USERNAME", USER)
    monkeypatch.setenv("NODEPIPE_REGISTRY_PASSWORD", PASSWORD)
    code = verify.main(["--gc-staging", f"{registry.host}/{REPO}"])
    out = capsys.readouterr()
    assert code == 1
    assert out.err.strip().splitlines()[-1] == (
        f"ERROR kept 1 staging tags of {registry.host}/{REPO} ({OLD}): registry "
        f"{registry.host} refused to delete a tag (HTTP 400 DIGEST_INVALID): tag deletion is "
        "off or unsupported there")
    assert OLD in tags_of(registry)


@pytest.mark.parametrize("age", ["30m", "soon", "1h-"])
def test_gc_refuses_an_age_under_an_hour_or_unreadable(
    age: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """An age a running publish could still be inside, or not an age: exit 2, one sentence."""
    assert verify.main(["--gc-staging", "127.0.0.1:9/team/api", "--older-than", age]) == 2
    assert capsys.readouterr().err.startswith("ERROR --older-than")


def test_staging_tags_carry_their_time() -> None:
    """A staging tag's name gives back when it was made; other tags give nothing."""
    assert made_at(OLD) is not None and made_at(OLD).year == 2020  # type: ignore[union-attr]
    assert made_at(f"{OLD}-linux-amd64") == made_at(OLD)
    assert made_at("latest") is None and made_at(f"{STAGING_PREFIX}notatime") is None
    assert made_at(staging_tag()) is not None
