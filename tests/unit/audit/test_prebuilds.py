"""Reading targets out of prebuild paths and platform package names."""

from __future__ import annotations

import pytest

from pipelines.audit import Target
from pipelines.audit.prebuilds import matching_prebuilds, other_libc_only, platform_tag

ARM64, AMD64 = Target("linux/arm64"), Target("linux/amd64")
ARM64_MUSL = Target("linux/arm64", "musl")

# Real paths from the bcrypt 6, argon2 0.45, bufferutil 4.1 and better-sqlite3 13 tarballs.
BCRYPT = ["prebuilds/linux-arm64/bcrypt.glibc.node", "prebuilds/linux-arm64/bcrypt.musl.node",
          "prebuilds/linux-x64/bcrypt.glibc.node", "prebuilds/darwin-arm64/bcrypt.node"]
ARGON2 = ["prebuilds/linux-arm/argon2.armv7.glibc.node",
          "prebuilds/linux-arm64/argon2.armv8.glibc.node",
          "prebuilds/darwin-arm64/argon2.armv8.glibc.node"]
BUFFERUTIL = ["prebuilds/darwin-arm64/bufferutil.node", "prebuilds/linux-x64/bufferutil.node"]
BETTER_SQLITE3 = ["prebuilds/linux-arm64.node", "prebuilds/linuxmusl-arm64.node",
                  "prebuilds/darwin-arm64.node", "binding.gyp"]


@pytest.mark.parametrize(("files", "target", "expected"), [
    (BCRYPT, ARM64, ["prebuilds/linux-arm64/bcrypt.glibc.node"]),
    (BCRYPT, ARM64_MUSL, ["prebuilds/linux-arm64/bcrypt.musl.node"]),
    (ARGON2, ARM64, ["prebuilds/linux-arm64/argon2.armv8.glibc.node"]),
    (BUFFERUTIL, ARM64, []),
    (BUFFERUTIL, AMD64, ["prebuilds/linux-x64/bufferutil.node"]),
    (BETTER_SQLITE3, ARM64, ["prebuilds/linux-arm64.node"]),
    (BETTER_SQLITE3, ARM64_MUSL, ["prebuilds/linuxmusl-arm64.node"]),
    (BETTER_SQLITE3, AMD64, []),
])
def test_matching_prebuilds(files: list[str], target: Target, expected: list[str]) -> None:
    """Only binaries for the target's os, cpu and libc match; untagged means glibc."""
    assert matching_prebuilds(files, target) == expected


def test_electron_prebuilds_do_not_count() -> None:
    """A prebuild for Electron's ABI does not load in Node."""
    assert matching_prebuilds(["prebuilds/linux-arm64/electron.abi118.node"], ARM64) == []


@pytest.mark.parametrize(("name", "os", "cpu", "libc"), [
    ("@node-rs/argon2-linux-arm64-gnu", "linux", "arm64", "glibc"),
    ("lightningcss-linux-x64-musl", "linux", "x64", "musl"),
    ("@img/sharp-linuxmusl-arm64", "linux", "arm64", "musl"),
    ("@esbuild/linux-arm64", "linux", "arm64", None),
    ("@esbuild/darwin-x64", "darwin", "x64", None),
])
def test_platform_tag_of_names(name: str, os: str, cpu: str, libc: str | None) -> None:
    """Platform package names reveal os, cpu and libc the way their publishers spell them."""
    tag = platform_tag(name)
    assert (tag.os, tag.cpu, tag.libc) == (os, cpu, libc)


# The file lists of @msgpackr-extract/msgpackr-extract-linux-{arm64,x64}@3.0.3's tarballs.
MSGPACKR_ARM64 = ["index.js", "package.json", "README.md", "node.abi115.musl.node",
                  "node.napi.musl.node"]
MSGPACKR_X64 = ["index.js", "package.json", "README.md", "node.abi115.glibc.node",
                "node.abi115.musl.node", "node.napi.glibc.node", "node.napi.musl.node"]


@pytest.mark.parametrize(("files", "target", "expected"), [
    (MSGPACKR_ARM64, ARM64, ("node.abi115.musl.node", "node.napi.musl.node")),
    (MSGPACKR_ARM64, ARM64_MUSL, ()),
    (MSGPACKR_X64, AMD64, ()),
    (["argon2.linux-arm64-gnu.node"], ARM64_MUSL, ("argon2.linux-arm64-gnu.node",)),
    (["lib/sharp-linux-arm64.node"], ARM64, ()),  # untagged: not known to be foreign
    (["bin/esbuild", "package.json"], ARM64, ()),  # no addon at all
])
def test_other_libc_only(files: list[str], target: Target, expected: tuple[str, ...]) -> None:
    """A file list is foreign to a target only when every `.node` in it names another libc."""
    assert other_libc_only(files, target) == expected
