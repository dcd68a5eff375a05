"""move_tags against a real local registry: tags end at the exact digest, or nothing changes."""

from __future__ import annotations

import pytest

from pipelines.errors import InputError
from pipelines.registry.client import AuthRefusedError
from pipelines.registry.credentials import Credentials
from pipelines.registry.reference import InvalidReferenceError
from pipelines.registry.tags import TagMoveError, move_tags
from tests.components.registry import (
    PASSWORD,
    USER,
    LocalRegistry,
    Pusher,
    assert_no_secret,
    digest_of,
)

pytestmark = pytest.mark.registry

CREDENTIALS = Credentials.of(USER, PASSWORD)


def push_index(pusher: Pusher, repo: str, tag: str, layers: int = 2) -> str:
    """Push a two-platform index under `tag`; return its digest."""
    entries = [pusher.image(repo, "linux/amd64", layers=layers),
               pusher.image(repo, "linux/arm64", layers=layers)]
    return pusher.index(repo, tag, entries)


@pytest.mark.parametrize("docker_types", [False, True], ids=["oci", "docker"])
async def test_tags_point_at_the_digest(registry: LocalRegistry, docker_types: bool) -> None:
    """Every tag resolves to the digest afterwards, including one that pointed elsewhere."""
    pusher = Pusher(registry.host, docker_types=docker_types)
    repo = f"moves-{'docker' if docker_types else 'oci'}"
    old = push_index(pusher, repo, "latest", layers=1)
    new = push_index(pusher, repo, "build-2")
    moved = await move_tags(f"{registry.host}/{repo}@{new}", ["latest", "2.0", "2"], CREDENTIALS)
    assert {m.tag: (m.previous, m.digest) for m in moved} == {
        "latest": (old, new), "2.0": (None, new), "2": (None, new)}
    for tag in ("latest", "2.0", "2"):
        assert pusher.tag_digest(repo, tag) == new


async def test_moved_tag_serves_identical_bytes_and_type(registry: LocalRegistry) -> None:
    """The tag serves the very bytes and Content-Type stored under the digest."""
    pusher = Pusher(registry.host, docker_types=True)
    digest = push_index(pusher, "same-bytes", "build")
    await move_tags(f"{registry.host}/same-bytes@{digest}", ["stable"], CREDENTIALS)
    accept = {"Accept": "application/vnd.docker.distribution.manifest.list.v2+json"}
    by_digest = pusher.client.get(f"/v2/same-bytes/manifests/{digest}", headers=accept)
    by_tag = pusher.client.get("/v2/same-bytes/manifests/stable", headers=accept)
    assert by_tag.content == by_digest.content and digest_of(by_tag.content) == digest
    assert by_tag.headers["content-type"] == by_digest.headers["content-type"]


async def test_missing_digest_changes_no_tag(registry: LocalRegistry) -> None:
    """A digest the registry lacks raises TagMoveError and leaves every tag as it was."""
    pusher = Pusher(registry.host)
    old = push_index(pusher, "no-digest", "latest")
    absent = digest_of(b"never pushed")
    with pytest.raises(TagMoveError, match="is not in the registry; no tag was changed"):
        await move_tags(f"{registry.host}/no-digest@{absent}", ["latest", "new"], CREDENTIALS)
    assert pusher.tag_digest("no-digest", "latest") == old
    assert pusher.tag_digest("no-digest", "new") is None


async def test_reference_without_digest_is_input_error(registry: LocalRegistry) -> None:
    """move_tags refuses a tag-only reference: it must name the exact digest."""
    with pytest.raises(InputError, match="needs an @sha256: digest"):
        await move_tags(f"{registry.host}/app:v1", ["latest"], CREDENTIALS)


async def test_invalid_tag_is_refused_before_any_write(registry: LocalRegistry) -> None:
    """A malformed tag among good ones raises before any tag is written."""
    pusher = Pusher(registry.host)
    digest = push_index(pusher, "bad-tag", "build")
    with pytest.raises(InvalidReferenceError, match="invalid tag '-oops'"):
        await move_tags(f"{registry.host}/bad-tag@{digest}", ["good", "-oops"], CREDENTIALS)
    assert pusher.tag_digest("bad-tag", "good") is None


async def test_wrong_password_moves_nothing(registry: LocalRegistry) -> None:
    """Refused credentials stop before any write, and the message holds no password."""
    pusher = Pusher(registry.host)
    digest = push_index(pusher, "refused", "build")
    wrong = Credentials.of(USER, "wrong-" + PASSWORD)
    with pytest.raises(AuthRefusedError, match="refused user 'pipeline'") as caught:
        await move_tags(f"{registry.host}/refused@{digest}", ["latest"], wrong)
    assert_no_secret(str(caught.value), wrong.password.get_secret_value())
    assert pusher.tag_digest("refused", "latest") is None
