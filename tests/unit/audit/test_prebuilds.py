"""Reading targets out of prebuild paths and platform package names."""

from __future__ import annotations

import pytest

from pipelines.audit import Target
from pipelines.audit.prebuilds import (
    NODE_ABI,
    bundled_binaries,
    matching_prebuilds,
    node_abi,
    other_libc_only,
)
from pipelines.packagers.lockfiles.platform_names import platform_tag

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


# Real paths from the @datadog/native-appsec 11.0.3 (node-gyp-build 3), aws-crt 1.33.2 and
# oracledb 26.0.0 tarballs.
APPSEC = ["prebuilds/darwin-arm64/node-napi.node", "prebuilds/linuxglibc-arm64/node-napi.node",
          "prebuilds/linuxglibc-x64/node-napi.node", "prebuilds/linuxmusl-arm64/node-napi.node",
          "prebuilds/linuxmusl-x64/node-napi.node", "prebuilds/win32-x64/node-napi.node"]
AWS_CRT = ["dist/bin/darwin-arm64-cruntime/aws-crt-nodejs.node",
           "dist/bin/linux-arm64-glibc/aws-crt-nodejs.node",
           "dist/bin/linux-arm64-musl/aws-crt-nodejs.node",
           "dist/bin/linux-x64-glibc/aws-crt-nodejs.node",
           "dist/bin/linux-x64-musl/aws-crt-nodejs.node",
           "dist/bin/win32-x64-cruntime/aws-crt-nodejs.node", "scripts/install.js"]
ORACLEDB = ["build/Release/oracledb-26.0.0-darwin-arm64.node",
            "build/Release/oracledb-26.0.0-linux-arm64.node",
            "build/Release/oracledb-26.0.0-linux-x64.node",
            "build/Release/oracledb-26.0.0-win32-x64.node", "package/install.js"]
AMD64_MUSL = Target("linux/amd64", "musl")


@pytest.mark.parametrize(("files", "target", "expected"), [
    (APPSEC, AMD64, ["prebuilds/linuxglibc-x64/node-napi.node"]),
    (APPSEC, ARM64, ["prebuilds/linuxglibc-arm64/node-napi.node"]),
    (APPSEC, ARM64_MUSL, ["prebuilds/linuxmusl-arm64/node-napi.node"]),
    (AWS_CRT, ARM64, ["dist/bin/linux-arm64-glibc/aws-crt-nodejs.node"]),
    (AWS_CRT, AMD64_MUSL, ["dist/bin/linux-x64-musl/aws-crt-nodejs.node"]),
    (ORACLEDB, ARM64, ["build/Release/oracledb-26.0.0-linux-arm64.node"]),
    (ORACLEDB, AMD64, ["build/Release/oracledb-26.0.0-linux-x64.node"]),
    (ORACLEDB, ARM64_MUSL, []),  # untagged means glibc: no musl build ships
])
def test_layouts_beyond_prebuildify(files: list[str], target: Target, expected: list[str]) -> None:
    """node-gyp-build 3's `linuxglibc-`/`linuxmusl-` and platform-named binaries outside
    prebuilds/ give one binary per target, the libc told apart."""
    assert matching_prebuilds(files, target) == expected


def test_untagged_binaries_outside_prebuilds_are_not_bundled() -> None:
    """A leftover build/Release/x.node names no platform: it is no binary for any target."""
    assert bundled_binaries(["build/Release/addon.node", "lib/index.js"]) == []
    assert bundled_binaries(ORACLEDB) == ORACLEDB[:4]


@pytest.mark.parametrize(("path", "abi"), [
    ("prebuilds/linux-x64/node.abi108.node", 108),  # prebuildify
    ("prebuilds/linux-x64/dd_pprof.musl.node.abi127.node", 127),  # @datadog/pprof 5
    ("prebuilds/linuxglibc-x64/node-115.node", 115),  # node-gyp-build 3
    ("node-v108-linux-x64/binding.node", 108),  # prebuild's tarball directory
    ("prebuilds/linux-x64/node.napi.glibc.node", 0),
    ("prebuilds/linuxglibc-x64/node-napi.node", 0),
    ("lib/binding/napi-v6-linux-glibc-x64/sqlite3.node", 0),
    ("build/Release/oracledb-26.0.0-linux-x64.node", None),
])
def test_node_abi_from_the_name(path: str, abi: int | None) -> None:
    """Every ABI spelling in use is read; N-API is 0 (any Node); no tag is unknown."""
    assert node_abi(path) == abi


# @datadog/native-iast-taint-tracking 1.6.4's linux-x64 binaries: ABI 72 to 120, none for 127.
IAST_164 = [f"prebuilds/linux-x64/node-{abi}.node"
            for abi in (72, 79, 83, 88, 93, 102, 108, 111, 115, 120)]


def test_a_binary_for_another_node_abi_does_not_count() -> None:
    """Node 22 needs ABI 127: the 1.6.4 binaries cover Node 20 (115), not Node 22."""
    assert matching_prebuilds(IAST_164, AMD64, 22) == []
    assert matching_prebuilds(IAST_164, AMD64, 20) == ["prebuilds/linux-x64/node-115.node"]
    assert matching_prebuilds(IAST_164, AMD64) == IAST_164  # Node unknown: any ABI counts
    assert matching_prebuilds(APPSEC, AMD64, 22) == ["prebuilds/linuxglibc-x64/node-napi.node"]
    assert NODE_ABI[18] == 108 and NODE_ABI[22] == 127 and NODE_ABI[24] == 137
