"""Which target a file or a package name is for: prebuild paths and platform package names."""

from __future__ import annotations

import re
from collections.abc import Iterable

from pipelines.audit.model import Target
from pipelines.packagers.lockfiles.platform_names import (
    WORD_SEPARATORS,
    names_another_platform,
    platform_tag,
)

# Prebuilds for other runtimes load only there (node-gyp-build's runtime tag).
_FOREIGN_RUNTIMES = {"electron", "node-webkit", "nw"}
# NODE_MODULE_VERSION of each Node major (node-abi's registry): a binary built for one ABI does
# not load in another Node. N-API binaries (`napi`) are ABI-stable and load in every Node.
NODE_ABI = {12: 72, 13: 79, 14: 83, 15: 88, 16: 93, 17: 102, 18: 108, 19: 111, 20: 115,
            21: 120, 22: 127, 23: 131, 24: 137, 25: 141, 26: 147, 27: 153}
_MAJOR_OF_ABI = {abi: major for major, abi in NODE_ABI.items()}
# prebuildify `node.abi108.node`, node-gyp-build 3 `node-108.node`, prebuild `node-v108-linux-x64`.
_ABI = re.compile(r"(?:^|[/._\-])(?:abi|node-v|node-)(\d{2,3})(?=[/._\-]|$)")
_NAPI = re.compile(r"(?:^|[/._\-])n-?api(?=[/._\-]|$)|napi-v\d")


def bundled_binaries(files: Iterable[str]) -> list[str]:
    """The `.node` binaries a package ships for Node: all of those under `prebuilds/`, and
    elsewhere those whose path names an os and a cpu (oracledb's
    `build/Release/oracledb-6.8.0-linux-x64.node`, aws-crt's
    `dist/bin/linux-x64-glibc/aws-crt-nodejs.node`). An untagged `.node` outside prebuilds/ is
    a leftover of the publisher's own build, for a machine nobody can tell."""
    found = []
    for name in files:
        lowered = name.lower()
        if not lowered.endswith(".node"):
            continue
        tokens = set(WORD_SEPARATORS.split(lowered.rpartition("/")[2]))
        if tokens & _FOREIGN_RUNTIMES:
            continue
        if "prebuilds/" in lowered or _names_a_platform(lowered):
            found.append(name)
    return found


def _names_a_platform(path: str) -> bool:
    tag = platform_tag(path)
    return tag.os is not None and tag.cpu is not None


def outside_prebuilds(binaries: Iterable[str]) -> list[str]:
    """The binaries of `bundled_binaries` that are not under a `prebuilds/` directory."""
    return [b for b in binaries if "prebuilds/" not in b.lower()]


def node_abi(path: str) -> int | None:
    """The Node ABI a binary's path names (`abi108`, `node-108`, `node-v108`); 0 for N-API
    (`napi`: loads in every Node); None when the path says nothing."""
    lowered = path.lower()
    if _NAPI.search(lowered):
        return 0
    found = _ABI.search(lowered)
    return int(found.group(1)) if found else None


def abi_fits(path: str, node_major: int | None) -> bool:
    """True unless the path names an ABI other than the target Node major's."""
    abi = node_abi(path)
    wanted = NODE_ABI.get(node_major) if node_major is not None else None
    return abi is None or abi == 0 or wanted is None or abi == wanted


def describe_abi(abi: int) -> str:
    """`ABI 108 (Node 18)`, or just `ABI 200` for one this table does not know."""
    major = _MAJOR_OF_ABI.get(abi)
    return f"ABI {abi} (Node {major})" if major else f"ABI {abi}"


def for_target(files: Iterable[str], target: Target) -> list[str]:
    """Bundled binaries for `target`'s os, cpu and libc, whatever their Node ABI.

    A file without a libc tag counts as glibc: prebuildify and better-sqlite3 name musl builds
    explicitly (`.musl.node`, `linuxmusl-`), so the untagged one was built against glibc.
    """
    return [f for f in bundled_binaries(files)
            if platform_tag(f).matches(target, unspecified_libc="glibc")
            and not names_another_platform(f, target)]


def matching_prebuilds(
    files: Iterable[str], target: Target, node_major: int | None = None
) -> list[str]:
    """Bundled binaries in `files` that load on `target` under Node `node_major` (any Node
    when None)."""
    return [f for f in for_target(files, target) if abi_fits(f, node_major)]


def other_libc_only(files: Iterable[str], target: Target) -> tuple[str, ...]:
    """The `.node` files when every one is tagged for a libc other than the target's
    (`node.napi.musl.node` on glibc): such a package holds no binary for `target`.

    Empty when any binary is untagged or for the target's libc, or there are none.
    """
    binaries = tuple(f for f in files if f.lower().endswith(".node"))
    tags = [platform_tag(f).libc for f in binaries]
    if binaries and all(tag is not None and tag != target.libc for tag in tags):
        return binaries
    return ()


def has_binding_gyp(files: Iterable[str]) -> bool:
    """True when the package root (not a vendored dependency) holds binding.gyp."""
    return any(f in ("binding.gyp", "package/binding.gyp") for f in files)
