"""Which target a file or a package name is for: prebuild paths and platform package names."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from pipelines.audit.model import Target

_SPLIT = re.compile(r"[/._+\-@]")
_OS = {"linux": ("linux", None), "linuxmusl": ("linux", "musl"), "alpine": ("linux", "musl"),
       "darwin": ("darwin", None), "macos": ("darwin", None), "win32": ("win32", None),
       "windows": ("win32", None), "freebsd": ("freebsd", None), "android": ("android", None),
       "openbsd": ("openbsd", None), "netbsd": ("netbsd", None), "sunos": ("sunos", None),
       "aix": ("aix", None), "openharmony": ("openharmony", None)}
_CPU = {"x64": "x64", "amd64": "x64", "x86_64": "x64", "arm64": "arm64", "aarch64": "arm64",
        "arm": "arm", "armv7": "arm", "armhf": "arm", "ia32": "ia32", "x86": "ia32",
        "ppc64": "ppc64", "ppc64le": "ppc64", "s390x": "s390x", "riscv64": "riscv64",
        "loong64": "loong64", "mips64el": "mips64el", "wasm32": "wasm32"}
_LIBC = {"gnu": "glibc", "glibc": "glibc", "gnueabihf": "glibc", "musl": "musl",
         "musleabihf": "musl"}
# Prebuilds for other runtimes load only there (node-gyp-build's runtime tag).
_FOREIGN_RUNTIMES = {"electron", "node-webkit", "nw"}


@dataclass(frozen=True, slots=True)
class PlatformTag:
    """The os, cpu and libc a name mentions; None where it says nothing."""

    os: str | None
    cpu: str | None
    libc: str | None

    def matches(self, target: Target, *, unspecified_libc: str | None) -> bool:
        """True when the name is for `target`; `unspecified_libc` is what no libc tag means."""
        if self.os != target.os or self.cpu != target.cpu:
            return False
        libc = self.libc or unspecified_libc
        return libc is None or libc == target.libc


def platform_tag(text: str) -> PlatformTag:
    """Read os/cpu/libc tokens from a path or name like `prebuilds/linux-arm64/x.musl.node`."""
    os_name = cpu = libc = None
    for token in _SPLIT.split(text.lower()):
        if token in _OS and os_name is None:
            os_name, implied = _OS[token]
            libc = libc or implied
        elif token in _CPU and cpu is None:
            cpu = _CPU[token]
        elif token in _LIBC:
            libc = _LIBC[token]
    return PlatformTag(os_name, cpu, libc)


def prebuild_files(files: Iterable[str]) -> list[str]:
    """The `.node` binaries under a `prebuilds/` directory, for runtimes Node loads."""
    found = []
    for name in files:
        lowered = name.lower()
        if not lowered.endswith(".node") or "prebuilds/" not in lowered:
            continue
        tokens = set(_SPLIT.split(lowered.rpartition("/")[2]))
        if tokens & _FOREIGN_RUNTIMES:
            continue
        found.append(name)
    return found


def matching_prebuilds(files: Iterable[str], target: Target) -> list[str]:
    """Prebuilt binaries in `files` that load on `target`.

    A file without a libc tag counts as glibc: prebuildify and better-sqlite3 name musl builds
    explicitly (`.musl.node`, `linuxmusl-`), so the untagged one was built against glibc.
    """
    return [f for f in prebuild_files(files)
            if platform_tag(f).matches(target, unspecified_libc="glibc")]


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
