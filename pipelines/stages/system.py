"""System packages and the compiler toolchain, with apt on Debian bases and apk on Alpine."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import dagger

from pipelines.plan.model import TOOLCHAIN

# Debian's slim images delete downloaded packages after each install; keep them in the cache.
KEEP_APT_ARCHIVES = (
    "rm -f /etc/apt/apt.conf.d/docker-clean && "
    "echo 'Binary::apt::APT::Keep-Downloaded-Packages \"true\";' "
    "> /etc/apt/apt.conf.d/keep-cache"
)
_APK_TOOLCHAIN = ("python3", "make", "g++", "pkgconf")


def with_system_packages(
    packages: Sequence[str], libc: str
) -> Callable[[dagger.Container], dagger.Container]:
    """Install `packages` with the base image's package manager (apt caches must be mounted)."""

    def apply(ctr: dagger.Container) -> dagger.Container:
        if not packages:
            return ctr
        if libc == "musl":
            return ctr.with_exec(["apk", "add", "--no-cache", *packages])
        return ctr.with_exec(["sh", "-c", KEEP_APT_ARCHIVES]).with_exec([
            "sh", "-c",
            "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
            "--no-install-recommends " + " ".join(packages),
        ])

    return apply


def with_toolchain(
    libc: str, extra: Sequence[str] = ()
) -> Callable[[dagger.Container], dagger.Container]:
    """python3, make, g++ and pkg-config for node-gyp, plus the declared build packages."""
    tools = _APK_TOOLCHAIN if libc == "musl" else TOOLCHAIN
    return with_system_packages(tuple(dict.fromkeys([*tools, *extra])), libc)
