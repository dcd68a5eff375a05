"""Platform packages whose binaries are all for another libc: the tarball file list decides."""

from __future__ import annotations

import dataclasses

from pipelines.audit import DEFAULT_TARGETS, Mechanism, Target, Verdict
from pipelines.audit.audit import conclude
from pipelines.audit.coverage import platform_verdicts
from pipelines.audit.evidence import collect
from pipelines.audit.project import load_project
from pipelines.packagers.lockfiles.entry import LockEntry

from .conftest import LOCKFILES

CASE = LOCKFILES / "msgpackr-extract-musl"
ARM64 = "node_modules/@msgpackr-extract/msgpackr-extract-linux-arm64"
X64 = "node_modules/@msgpackr-extract/msgpackr-extract-linux-x64"
# Hand-built from the real 3.0.3 tarballs: arm64 ships musl binaries only.
FILES: dict[str, tuple[str, ...] | None] = {
    ARM64: ("index.js", "package.json", "node.abi115.musl.node", "node.napi.musl.node"),
    X64: ("index.js", "package.json", "node.abi115.glibc.node", "node.abi115.musl.node",
          "node.napi.glibc.node", "node.napi.musl.node"),
}


def _parent_and_children() -> tuple[LockEntry, list[LockEntry]]:
    project = load_project(CASE)
    evidence = collect(project, DEFAULT_TARGETS)
    (parent_path, children), = evidence.parents.items()
    return project.entries[parent_path], list(children)


def test_musl_only_child_is_missing_without_fallback() -> None:
    """Without a compile fallback, a musl-only arm64 package is missing on glibc, named."""
    parent, children = _parent_and_children()
    verdicts = platform_verdicts(parent, children, {}, DEFAULT_TARGETS,
                                 fallback=False, files=FILES)
    assert verdicts["linux/amd64"].verdict is Verdict.PREBUILT
    arm64 = verdicts["linux/arm64"]
    assert arm64.verdict is Verdict.MISSING
    assert arm64.reason == (
        f"registry tarball: {ARM64} ships only musl binaries (node.abi115.musl.node, "
        "node.napi.musl.node), none for linux/arm64 (glibc)")


def test_musl_only_child_fits_a_musl_target() -> None:
    """The same file list is a prebuilt binary for linux/arm64 musl."""
    parent, children = _parent_and_children()
    musl = (Target("linux/arm64", "musl"),)
    verdicts = platform_verdicts(parent, children, {}, musl,
                                 fallback=False, files=FILES)
    assert verdicts["linux/arm64"].verdict is Verdict.PREBUILT


def test_conclude_uses_the_file_lists_and_the_install_script_fallback() -> None:
    """With file lists, msgpackr-extract's loader script compiles on arm64; without, prebuilt."""
    evidence = collect(load_project(CASE), DEFAULT_TARGETS)
    before = conclude(dataclasses.replace(evidence, files={}), online=False)
    assert {p.targets["linux/arm64"].verdict for p in before.packages} == {Verdict.PREBUILT}
    evidence.files.update(FILES)
    (audit,) = conclude(evidence, online=True).packages
    assert audit.mechanism is Mechanism.PLATFORM_PACKAGES
    assert audit.targets["linux/amd64"].verdict is Verdict.PREBUILT
    arm64 = audit.targets["linux/arm64"]
    assert arm64.verdict is Verdict.COMPILE
    assert "ships only musl binaries" in arm64.reason
    assert any("file lists of 2 platform packages" in line for line in audit.evidence)
