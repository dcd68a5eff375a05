"""Platform value objects: parse `os/arch[/variant]`, normalise, name things for Node and caches."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from pipelines.errors import InputError

Libc = Literal["glibc", "musl"]

# Platforms node-pipelines is verified on; anything else needs an explicit opt-in.
SUPPORTED = ("linux/amd64", "linux/arm64")

# Docker's architecture aliases, normalised the way containerd's `platforms.Normalize` does.
_ARCH_ALIASES = {
    "x86_64": "amd64",
    "x86-64": "amd64",
    "aarch64": "arm64",
    "armhf": "arm",
    "armel": "arm",
    "i386": "386",
}
# Node's `process.arch` for each Docker architecture.
_NODE_ARCH = {"amd64": "x64", "arm64": "arm64", "arm": "arm", "386": "ia32", "ppc64le": "ppc64",
              "s390x": "s390x", "riscv64": "riscv64"}
_DEFAULT_VARIANT = {"arm64": "v8", "arm": "v7"}
_PART = re.compile(r"^[a-z0-9_]+$")


class PlatformError(InputError):
    """A platform string that cannot be used."""


@dataclass(frozen=True, order=True)
class Platform:
    """An OCI platform such as linux/arm64; `variant` is empty unless it changes the binary."""

    os: str
    arch: str
    variant: str = ""

    @classmethod
    def parse(cls, text: str) -> Platform:
        """Parse `os/arch[/variant]`, normalising aliases (`linux/aarch64` is `linux/arm64`)."""
        parts = text.strip().lower().split("/")
        if not 2 <= len(parts) <= 3 or not all(_PART.match(p) for p in parts):
            raise PlatformError(
                f"platform {text!r} is not of the form os/arch[/variant]: "
                "use for example linux/amd64 or linux/arm64"
            )
        os_, arch = parts[0], _ARCH_ALIASES.get(parts[1], parts[1])
        variant = parts[2] if len(parts) == 3 else ""
        # arm64 is always v8 for Node's purposes; dropping it keeps linux/arm64/v8 == linux/arm64.
        if variant == _DEFAULT_VARIANT.get(arch) and arch == "arm64":
            variant = ""
        if os_ != "linux":
            raise PlatformError(
                f"platform {text!r} is not a Linux platform: container images for Node services "
                "run on linux/<arch>"
            )
        if arch not in _NODE_ARCH:
            raise PlatformError(
                f"platform {text!r} has an architecture Node.js does not ship for: "
                "use linux/amd64 or linux/arm64"
            )
        return cls(os_, arch, variant)

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.arch, self.variant) if p)

    @property
    def node_arch(self) -> str:
        """Node's name for this architecture (`process.arch`, npm's `--cpu`)."""
        return _NODE_ARCH[self.arch]

    @property
    def supported(self) -> bool:
        """Whether this platform is one node-pipelines is verified on."""
        return str(self) in SUPPORTED

    @property
    def slug(self) -> str:
        """A name fragment safe for cache keys and file names: `linux-arm64`, `linux-arm-v7`."""
        return str(self).replace("/", "-")


def libc_of_image(image: str) -> Libc:
    """Guess the C library of a base image from its reference: alpine and musl tags are musl."""
    name = image.rsplit("/", 1)[-1].lower()
    return "musl" if "alpine" in name or "musl" in name else "glibc"


# The Debian release of each Node major's official slim image, `node:<major>-<release>-slim`:
# bookworm where the major has it, else the newest Debian release that has it (the tags of
# docker-node's versions.json over its history; a tag, once published, stays).
NODE_SLIM_RELEASES: dict[int, str] = {
    12: "bullseye", 13: "buster", 14: "bullseye", 15: "buster", 16: "bookworm",
    17: "bullseye", 18: "bookworm", 19: "bullseye", 20: "bookworm", 21: "bookworm",
    22: "bookworm", 23: "bookworm", 24: "bookworm", 25: "bookworm", 26: "bookworm",
}


def node_base_image(major: int) -> str | None:
    """The official slim Debian image of a Node major; None when there is none."""
    release = NODE_SLIM_RELEASES.get(major)
    return f"node:{major}-{release}-slim" if release else None


def node_major_refusal(major: int, origin: str, flag: str) -> str | None:
    """One sentence when a Node major has no official image, naming where the major came from
    (`.nvmrc`, `engines.node`, the flag) and the flag and variable that override it."""
    if major in NODE_SLIM_RELEASES:
        return None
    known = f"{min(NODE_SLIM_RELEASES)}-{max(NODE_SLIM_RELEASES)}"
    return (f"Node {major} (from {origin}) has no official node:{major}-*-slim image (Node "
            f"{known} have one): pass {flag} with one of those (NODEPIPE_NODE_MAJOR), or name "
            f"an image that has Node {major} with --base-image (NODEPIPE_BASE_IMAGE)")
