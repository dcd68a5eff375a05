"""System packages and the compiler toolchain, with apt on Debian bases and apk on Alpine."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import dagger

from pipelines.plan.model import TOOLCHAIN

# Debian's slim images delete downloaded packages after each install; keep them in the cache.
_KEEP_SETTING = """'Binary::apt::APT::Keep-Downloaded-Packages "true";'"""
KEEP_APT_ARCHIVES = (
    f"rm -f /etc/apt/apt.conf.d/docker-clean && echo {_KEEP_SETTING} "
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


# sh -c SCRIPT sh "ARCH..." TOOL... -- PACKAGE...: the tools and packages for the engine's own
# architecture, and each package apt marks `Multi-Arch: same` (a library) also for each ARCH.
_INSTALL_WITH_FOREIGN_LIBRARIES = """set -eu
arches=$1
shift
install=""
while [ "$1" != -- ]; do install="$install $1"; shift; done
shift
apt-get update -qq
for name in "$@"; do
  install="$install $name"
  if apt-cache show --no-all-versions "$name" 2>/dev/null | grep -qx 'Multi-Arch: same'; then
    for arch in $arches; do install="$install $name:$arch"; done
  fi
done
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $install
"""


# The runtime image's own install: apt keeps its archives in the cache volume for this one
# command, and the image is left as the base had it (its docker-clean back, no keep-cache
# setting, no package caches: /var/cache/apt/*.bin alone is some 80 MB).
_RUNTIME_INSTALL = f"""set -eu
conf=/etc/apt/apt.conf.d
kept=/tmp/nodepipe-docker-clean
if [ -f "$conf/docker-clean" ]; then mv "$conf/docker-clean" "$kept"; fi
echo {_KEEP_SETTING} > "$conf/nodepipe-keep-cache"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
rm -f "$conf/nodepipe-keep-cache" /var/cache/apt/*.bin
if [ -f "$kept" ]; then mv "$kept" "$conf/docker-clean"; fi
"""


def with_runtime_system_packages(
    packages: Sequence[str], libc: str
) -> Callable[[dagger.Container], dagger.Container]:
    """Install `packages` in an image that ships: as with_system_packages, leaving no apt
    setting or package cache behind (apt caches must be mounted)."""

    def apply(ctr: dagger.Container) -> dagger.Container:
        if not packages or libc == "musl":
            return ctr.with_(with_system_packages(packages, libc))
        return ctr.with_exec(["sh", "-c", _RUNTIME_INSTALL, "sh", *packages])

    return apply


def with_foreign_libraries(
    tools: Sequence[str], packages: Sequence[str], arches: Sequence[str]
) -> Callable[[dagger.Container], dagger.Container]:
    """Install `tools` and `packages` for the engine's own architecture, and the libraries
    among `packages` (`Multi-Arch: same` in the archive) also for each of `arches`, as
    `NAME:<arch>` through Debian multiarch.

    A build package is a tool (python3, cmake: it runs on the engine, installed once) or a
    library (zlib1g-dev: linked into each target's binaries); only apt knows which, and a tool
    asked for as `python3:arm64` conflicts with the engine's own.
    """

    def apply(ctr: dagger.Container) -> dagger.Container:
        if not arches or not packages:
            return ctr.with_(with_system_packages(tuple(dict.fromkeys([*tools, *packages])),
                                                  "glibc"))
        return ctr.with_exec(["sh", "-c", KEEP_APT_ARCHIVES]).with_exec([
            "sh", "-c", _INSTALL_WITH_FOREIGN_LIBRARIES, "sh", " ".join(arches),
            *tools, "--", *packages])

    return apply


def with_toolchain(
    libc: str, extra: Sequence[str] = ()
) -> Callable[[dagger.Container], dagger.Container]:
    """python3, make, g++ and pkg-config for node-gyp, plus the declared build packages."""
    tools = _APK_TOOLCHAIN if libc == "musl" else TOOLCHAIN
    return with_system_packages(tuple(dict.fromkeys([*tools, *extra])), libc)
