"""Which platform a name is for: the os, cpu and libc words in a package name or a file path.

npm's platform packages (`@img/sharp-linux-arm64`), prebuild paths
(`prebuilds/linux-arm64/x.musl.node`) and yarn 1's lockfile (which records no os or cpu) all
say it only in their names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol


class NamedPlatform(Protocol):
    """A target as Node names it."""

    @property
    def os(self) -> str: ...
    @property
    def cpu(self) -> str: ...
    @property
    def libc(self) -> str: ...


WORD_SEPARATORS = re.compile(r"[/._+\-@]")
# node-gyp-build 3 (dd-trace's @datadog/* packages) names directories `<platform><libc>-<arch>`.
_OS = {"linux": ("linux", None), "linuxmusl": ("linux", "musl"), "alpine": ("linux", "musl"),
       "linuxglibc": ("linux", "glibc"),
       "darwin": ("darwin", None), "macos": ("darwin", None), "win32": ("win32", None),
       "windows": ("win32", None), "freebsd": ("freebsd", None), "android": ("android", None),
       "openbsd": ("openbsd", None), "netbsd": ("netbsd", None), "sunos": ("sunos", None),
       "aix": ("aix", None), "openharmony": ("openharmony", None)}
# The same words as elf.js's OSES, CPUS and LIBCS (a test keeps them equal).
_CPU = {"x64": "x64", "amd64": "x64", "x86_64": "x64", "arm64": "arm64", "aarch64": "arm64",
        "arm": "arm", "armv7": "arm", "armhf": "arm", "ia32": "ia32", "x86": "ia32",
        "ppc64": "ppc64", "ppc64le": "ppc64", "s390x": "s390x", "riscv64": "riscv64",
        "loong64": "loong64", "mips64el": "mips64el", "wasm32": "wasm32"}
_LIBC = {"gnu": "glibc", "glibc": "glibc", "gnueabihf": "glibc", "musl": "musl",
         "musleabihf": "musl"}

@dataclass(frozen=True, slots=True)
class PlatformTag:
    """The os, cpu and libc a name mentions; None where it says nothing."""

    os: str | None
    cpu: str | None
    libc: str | None

    def matches(self, target: NamedPlatform, *, unspecified_libc: str | None) -> bool:
        """True when the name is for `target`; `unspecified_libc` is what no libc tag means."""
        if self.os != target.os or self.cpu != target.cpu:
            return False
        libc = self.libc or unspecified_libc
        return libc is None or libc == target.libc


def words(text: str) -> list[str]:
    """The words of a name or path, as elf.js splits them (`x86_64` is one word, x64)."""
    return WORD_SEPARATORS.split(text.lower().replace("x86_64", "x64"))


def names_another_platform(path: str, target: NamedPlatform, *, libc: bool = True) -> bool:
    """True when a word of `path` names an os, cpu or (with `libc`) C library other than the
    target's: the one rule for which binaries are a target's, which elf.js's `foreign` also
    applies inside the image (tests/components/test_target_rule.py runs both on one table)."""
    for token in words(path):
        if token in _OS:
            os_name, implied = _OS[token]
            if os_name != target.os or (libc and implied and implied != target.libc):
                return True
        elif token in _CPU:
            if _CPU[token] != target.cpu:
                return True
        elif libc and token in _LIBC and _LIBC[token] != target.libc:
            return True
    return False


def platform_tag(text: str) -> PlatformTag:
    """Read os/cpu/libc tokens from a path or name like `prebuilds/linux-arm64/x.musl.node`."""
    os_name = cpu = libc = None
    for token in words(text):
        if token in _OS and os_name is None:
            os_name, implied = _OS[token]
            libc = libc or implied
        elif token in _CPU and cpu is None:
            cpu = _CPU[token]
        elif token in _LIBC:
            libc = _LIBC[token]
    return PlatformTag(os_name, cpu, libc)


