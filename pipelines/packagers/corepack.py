"""Corepack: the package manager at the version `packageManager` pins, in any Node 22 image."""

from __future__ import annotations

from pipelines.packagers.base import CacheDir, Command

COREPACK_HOME = "/cache/corepack"
# Corepack fetches yarn 2+ from repo.yarnpkg.com unless told to use the npm registry, where
# the same release is published as @yarnpkg/cli-dist: one registry to reach, not two.
COREPACK_ENV = {
    "COREPACK_HOME": COREPACK_HOME,
    "COREPACK_ENABLE_DOWNLOAD_PROMPT": "0",
    "COREPACK_NPM_REGISTRY": "https://registry.npmjs.org",
}
# The managers' own JavaScript, by version: the same bytes for every target.
COREPACK_CACHE = CacheDir("corepack", COREPACK_HOME, per_target=False)


def corepack_setup(name: str, reference: str) -> tuple[Command, ...]:
    """`corepack enable NAME` and `corepack prepare NAME@REFERENCE --activate` (a +sha512
    suffix in `reference` makes corepack check the download against it)."""
    return (("corepack", "enable", name),
            ("corepack", "prepare", f"{name}@{reference}", "--activate"))


def major(version: str, default: int) -> int:
    """The major version of `version` (`9.15.9` -> 9), or `default` when it has none."""
    head = version.split(".", 1)[0]
    return int(head) if head.isdigit() else default
