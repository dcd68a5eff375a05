"""Image references: `[host[:port]/]repository[:tag][@digest]`, parsed and validated in one place.

The grammar follows the distribution reference grammar (the one Docker uses): the first path
component names a registry only when it holds a `.` or a `:` or is `localhost`; otherwise the
image lives on Docker Hub and a one-component name gets the `library/` prefix.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, replace

from pipelines.errors import InputError

DOCKER_HUB = "docker.io"
# Docker Hub is named docker.io in references but served from another host.
DOCKER_HUB_API = "registry-1.docker.io"
LOOPBACK_NAMES = frozenset({"localhost"})

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DIGEST = re.compile(r"sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128}")
_HOST_LABEL = r"(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])"
_HOST = re.compile(rf"(?:{_HOST_LABEL}(?:\.{_HOST_LABEL})*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{{1,5}})?")
_MAX_NAME = 255


class InvalidReferenceError(InputError):
    """An image reference that cannot be parsed; the sentence says which part is wrong."""


@dataclass(frozen=True)
class ImageReference:
    """A parsed image reference; `registry` is as written (docker.io for Docker Hub)."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """Registry and repository, without tag or digest."""
        return f"{self.registry}/{self.repository}"

    @property
    def reference(self) -> str:
        """What the manifests endpoint is asked for: the digest if any, else the tag."""
        return self.digest or self.tag or "latest"

    @property
    def api_host(self) -> str:
        """The host[:port] that serves the registry API for this reference."""
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry

    def with_digest(self, digest: str) -> ImageReference:
        """The same repository pinned to `digest` (the tag is kept for display)."""
        return replace(self, digest=validate_digest(digest))

    def with_tag(self, tag: str) -> ImageReference:
        """The same repository under `tag`, without a digest."""
        return replace(self, tag=validate_tag(tag), digest=None)

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def parse_reference(text: str) -> ImageReference:
    """Parse `text` into an ImageReference or raise InvalidReferenceError with one sentence."""
    original = text
    text = text.strip()
    if not text:
        raise InvalidReferenceError(
            "the image reference is empty: give one such as localhost:5000/app:1.0"
        )
    rest, digest = _split_digest(text, original)
    registry, path = _split_registry(rest, original)
    repository, tag = _split_tag(path)
    if not _REPOSITORY.fullmatch(repository):
        raise InvalidReferenceError(
            f"invalid image reference {original!r}: repository {repository!r} must be lowercase "
            "letters, digits and single separators (. _ -) between '/'-separated parts"
        )
    if tag is not None and not _TAG.fullmatch(tag):
        raise InvalidReferenceError(
            f"invalid image reference {original!r}: tag {tag!r} must be 1-128 letters, digits, "
            "'_', '.' or '-' and not start with '.' or '-'"
        )
    if registry == DOCKER_HUB and "/" not in repository:
        repository = f"library/{repository}"
    if len(f"{registry}/{repository}") > _MAX_NAME:
        raise InvalidReferenceError(
            f"invalid image reference {original!r}: the name is longer than {_MAX_NAME} characters"
        )
    return ImageReference(registry=registry, repository=repository, tag=tag, digest=digest)


def validate_tag(tag: str) -> str:
    """Return `tag` if it is a valid tag, else raise InvalidReferenceError."""
    if not _TAG.fullmatch(tag):
        raise InvalidReferenceError(
            f"invalid tag {tag!r}: a tag is 1-128 letters, digits, '_', '.' or '-' "
            "and does not start with '.' or '-'"
        )
    return tag


def validate_digest(digest: str) -> str:
    """Return `digest` if it is a sha256/sha512 digest, else raise InvalidReferenceError."""
    if not _DIGEST.fullmatch(digest):
        raise InvalidReferenceError(
            f"invalid digest {digest!r}: wanted sha256: followed by 64 lowercase hex digits"
        )
    return digest


def is_loopback(host: str) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1, with or without a port."""
    bare = _strip_port(host)
    if bare.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(bare).is_loopback
    except ValueError:
        return False


def _strip_port(host: str) -> str:
    if host.startswith("["):
        return host[1 : host.index("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if ":" in host else host


def _split_digest(text: str, original: str) -> tuple[str, str | None]:
    if "@" not in text:
        return text, None
    rest, digest = text.split("@", 1)
    if not _DIGEST.fullmatch(digest):
        raise InvalidReferenceError(
            f"invalid image reference {original!r}: digest {digest!r} must be sha256: "
            "followed by 64 lowercase hex digits"
        )
    return rest, digest


def _split_registry(text: str, original: str) -> tuple[str, str]:
    first, sep, path = text.partition("/")
    if not sep or not ("." in first or ":" in first or first.lower() in LOOPBACK_NAMES):
        return DOCKER_HUB, text
    if not _HOST.fullmatch(first) or not _port_ok(first):
        raise InvalidReferenceError(
            f"invalid image reference {original!r}: {first!r} is not a valid registry host[:port]"
        )
    if first in {"index.docker.io", DOCKER_HUB_API}:
        first = DOCKER_HUB
    return first, path


def _port_ok(host: str) -> bool:
    tail = host.rsplit("]", 1)[-1]
    if ":" not in tail:
        return True
    return 0 < int(tail.rsplit(":", 1)[1]) < 65536


def _split_tag(path: str) -> tuple[str, str | None]:
    # A ':' after the last '/' starts the tag; a ':' before it would be a registry port.
    last = path.rsplit("/", 1)[-1]
    if ":" not in last:
        return path, None
    repository, tag = path.rsplit(":", 1)
    return repository, tag
