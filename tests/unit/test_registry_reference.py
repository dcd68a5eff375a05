"""parse_reference: the image reference grammar, Docker Hub defaults and one-sentence errors."""

from __future__ import annotations

import pytest

from pipelines.errors import InputError
from pipelines.registry.reference import (
    ImageReference,
    InvalidReferenceError,
    is_loopback,
    parse_reference,
)

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "wanted"),
    [
        ("localhost:5000/app:1.0", ImageReference("localhost:5000", "app", "1.0")),
        ("localhost/app", ImageReference("localhost", "app")),
        ("127.0.0.1:5000/team/app", ImageReference("127.0.0.1:5000", "team/app")),
        ("registry.example/a/b/c:v2", ImageReference("registry.example", "a/b/c", "v2")),
        ("node", ImageReference("docker.io", "library/node")),
        ("node:22-bookworm-slim", ImageReference("docker.io", "library/node", "22-bookworm-slim")),
        ("team/app:x", ImageReference("docker.io", "team/app", "x")),
        ("docker.io/node", ImageReference("docker.io", "library/node")),
        ("index.docker.io/team/app", ImageReference("docker.io", "team/app")),
        (f"ghcr.example/app@{DIGEST}", ImageReference("ghcr.example", "app", None, DIGEST)),
        (f"r.example:443/app:1@{DIGEST}", ImageReference("r.example:443", "app", "1", DIGEST)),
        ("[::1]:5000/app", ImageReference("[::1]:5000", "app")),
        ("r.example/my_app__x.y-z", ImageReference("r.example", "my_app__x.y-z")),
    ],
)
def test_parses(text: str, wanted: ImageReference) -> None:
    """Valid references split into registry, repository, tag and digest."""
    assert parse_reference(text) == wanted


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "the image reference is empty"),
        ("   ", "the image reference is empty"),
        ("localhost:5000/App", "repository 'App' must be lowercase"),
        ("r.example/app:-bad", "tag '-bad'"),
        ("r.example/app:" + "t" * 129, "tag 'tttt"),
        ("r.example/app@sha256:abc", "digest 'sha256:abc'"),
        ("r.example/app@md5:" + "a" * 32, "digest 'md5:"),
        ("r.example:99999/app", "'r.example:99999' is not a valid registry host[:port]"),
        ("bad_host.example/app", "'bad_host.example' is not a valid registry"),
        ("r.example//app", "repository '/app'"),
        ("r.example/app/", "repository 'app/'"),
        ("r.example/" + "a" * 300, "longer than 255 characters"),
    ],
)
def test_rejects_with_one_sentence(text: str, fragment: str) -> None:
    """A malformed reference raises InvalidReferenceError (an InputError) naming the bad part."""
    with pytest.raises(InvalidReferenceError) as caught:
        parse_reference(text)
    assert isinstance(caught.value, InputError) and caught.value.exit_code == 2
    assert fragment in str(caught.value)
    assert "\n" not in str(caught.value)


def test_properties_and_round_trip() -> None:
    """str() gives a reference that parses back; `reference` prefers the digest."""
    ref = parse_reference(f"r.example:5000/team/app:1.0@{DIGEST}")
    assert parse_reference(str(ref)) == ref
    assert ref.reference == DIGEST and ref.name == "r.example:5000/team/app"
    assert parse_reference("r.example/app").reference == "latest"
    assert parse_reference("node").api_host == "registry-1.docker.io"
    assert ref.with_tag("2").reference == "2" and ref.with_tag("2").digest is None
    with pytest.raises(InvalidReferenceError):
        ref.with_digest("sha256:short")


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("localhost:5000", True), ("127.0.0.1:5000", True), ("127.1.2.3", True),
     ("[::1]:5000", True), ("registry.example:5000", False), ("10.0.0.1:5000", False),
     ("localhost.example", False)],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    """Only localhost, 127.0.0.0/8 and ::1 count as loopback."""
    assert is_loopback(host) is loopback
