"""Mounting the plan's cache volumes: the names come from the plan, never made up here."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import dagger

from pipelines.plan.caches import CacheVolume
from pipelines.stages.client import client

_SHARING = {
    "shared": dagger.CacheSharingMode.SHARED,
    "locked": dagger.CacheSharingMode.LOCKED,
    "private": dagger.CacheSharingMode.PRIVATE,
}


def with_caches(caches: Sequence[CacheVolume]) -> Callable[[dagger.Container], dagger.Container]:
    """Mount every cache volume of `caches` at its path."""

    def apply(ctr: dagger.Container) -> dagger.Container:
        for cache in caches:
            ctr = ctr.with_mounted_cache(
                cache.path, client().cache_volume(cache.name), sharing=_SHARING[cache.sharing]
            )
        return ctr

    return apply
