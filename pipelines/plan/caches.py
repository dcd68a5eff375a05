"""Cache volumes as data: which exist, where they mount, and the rule that keys them.

Anything that may hold a compiled binary or a package list for one platform (prebuild
downloads, node-gyp's headers dir, apt) is keyed by os, arch, variant, libc and Node major and
never shared between targets; only content-addressed package stores are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pipelines.packagers import Packager
from pipelines.platforms import Platform

Sharing = Literal["shared", "locked", "private"]

NODE_GYP_DIR = "/cache/node-gyp"


@dataclass(frozen=True)
class CacheVolume:
    """A named cache volume and where a stage mounts it."""

    name: str
    path: str
    sharing: Sharing = "shared"

    @property
    def is_apt(self) -> bool:
        """Whether this is one of apt's own directories (its lists or downloaded archives)."""
        return self.path.startswith(("/var/lib/apt", "/var/cache/apt"))



def cache_key(platform: Platform, libc: str, node_major: int) -> str:
    """The name fragment of every arch-specific cache: os, arch, variant, libc, Node major."""
    return f"{platform.slug}-{libc}-node{node_major}"


def packager_caches(namespace: str, packager: Packager, key: str) -> tuple[CacheVolume, ...]:
    """The package manager's caches: content-addressed stores shared, the rest keyed."""
    return tuple(
        CacheVolume(f"{namespace}-{c.key}-{key}" if c.per_target else f"{namespace}-{c.key}",
                    c.path)
        for c in packager.caches()
    )


def system_caches(namespace: str, key: str) -> tuple[CacheVolume, ...]:
    """node-gyp's headers dir and apt's lists and archives, per target; apt's LOCKED because
    apt refuses concurrent writers."""
    return (
        CacheVolume(f"{namespace}-node-gyp-{key}", NODE_GYP_DIR),
        CacheVolume(f"{namespace}-apt-lists-{key}", "/var/lib/apt/lists", "locked"),
        CacheVolume(f"{namespace}-apt-archives-{key}", "/var/cache/apt/archives", "locked"),
    )


def build_caches(
    namespace: str, packager: Packager, engine: Platform, libc: str, node_major: int
) -> tuple[CacheVolume, ...]:
    """The build stage's caches: it runs on the engine's platform, so they are keyed by it."""
    key = cache_key(engine, libc, node_major)
    return (*packager_caches(namespace, packager, key), *system_caches(namespace, key))


def target_caches(
    namespace: str, packager: Packager, platform: Platform, libc: str, node_major: int
) -> tuple[CacheVolume, ...]:
    """Caches of one target. The rule: anything that may hold a compiled binary or a package
    list for one platform (prebuild downloads, node-gyp, apt) is never shared between targets;
    only content-addressed package stores are."""
    key = cache_key(platform, libc, node_major)
    return (*packager_caches(namespace, packager, key), *system_caches(namespace, key))
