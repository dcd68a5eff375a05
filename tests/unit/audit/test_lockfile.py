"""Bad input: every broken source tree ends in one AuditError sentence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.audit import AuditError, RegistryConfig
from pipelines.audit.project import load_project
from pipelines.errors import InputError

from .conftest import LOCKFILES, copy_case, offline


def test_audit_error_is_input_error() -> None:
    """AuditError maps to exit 2 through InputError."""
    assert issubclass(AuditError, InputError)
    assert AuditError("x").exit_code == 2


def test_bun_is_refused_in_one_sentence(tmp_path: Path, empty_cache: RegistryConfig) -> None:
    """A bun lockfile is named and declared unsupported, in one sentence (exit 2)."""
    source = copy_case("pure-js", tmp_path)
    (source / "package-lock.json").unlink()
    (source / "bun.lock").write_text("{}")
    with pytest.raises(InputError) as caught:
        load_project(source)
    assert "uses bun (bun.lock), which is not supported" in str(caught.value)
    assert "\n" not in str(caught.value)
    assert caught.value.exit_code == 2


def test_lockfile_version_1_asks_for_a_newer_npm(empty_cache: RegistryConfig) -> None:
    """A real npm 6 lockfile is refused with the fix."""
    assert json.loads((LOCKFILES / "lockfile-v1/package-lock.json").read_text())[
        "lockfileVersion"] == 1
    with pytest.raises(AuditError, match=r"lockfile version 1 .*npm 7 or later"):
        offline("lockfile-v1", empty_cache)


def test_truncated_lockfile_names_the_line(tmp_path: Path, empty_cache: RegistryConfig) -> None:
    """A lockfile cut in half is reported as invalid JSON with its line."""
    source = copy_case("compile", tmp_path)
    text = (source / "package-lock.json").read_text()
    (source / "package-lock.json").write_text(text[: len(text) // 2])
    with pytest.raises(AuditError, match=r"is not valid JSON \(line \d+"):
        load_project(source)


@pytest.mark.parametrize("content", ["[]", '{"lockfileVersion": 3, "packages": []}',
                                     '{"lockfileVersion": 7, "packages": {}}',
                                     '{"lockfileVersion": 3, "packages": {"": {}, "x": 3}}'])
def test_malformed_lockfiles_are_input_errors(tmp_path: Path, content: str) -> None:
    """Valid JSON in the wrong shape is an AuditError, not a crash."""
    source = copy_case("compile", tmp_path)
    (source / "package-lock.json").write_text(content)
    with pytest.raises(AuditError):
        load_project(source)


def test_out_of_sync_names_the_package(empty_cache: RegistryConfig) -> None:
    """A dependency added to package.json but not locked is named."""
    with pytest.raises(AuditError, match="out of sync: left-pad is declared but not locked"):
        offline("out-of-sync", empty_cache)


def test_changed_range_is_out_of_sync(tmp_path: Path) -> None:
    """A range edited in package.json after locking is reported with both values."""
    source = copy_case("compile", tmp_path)
    manifest = json.loads((source / "package.json").read_text())
    manifest["dependencies"]["libpq"] = "^0.1.0"
    (source / "package.json").write_text(json.dumps(manifest))
    with pytest.raises(AuditError, match=r"libpq is '\^0.1.0' in package.json but '[^']+' in"):
        load_project(source)


def test_removed_dependency_is_out_of_sync(tmp_path: Path) -> None:
    """A locked dependency no longer declared is reported."""
    source = copy_case("compile", tmp_path)
    manifest = json.loads((source / "package.json").read_text())
    del manifest["dependencies"]["libpq"]
    (source / "package.json").write_text(json.dumps(manifest))
    with pytest.raises(AuditError, match="libpq is locked but no longer declared"):
        load_project(source)


def test_missing_lockfile_and_missing_manifest(tmp_path: Path) -> None:
    """No lockfile, no package.json and no directory each get their own sentence."""
    source = copy_case("compile", tmp_path)
    (source / "package-lock.json").unlink()
    with pytest.raises(InputError, match=r"has no lockfile: run `npm install`"):
        load_project(source)
    (source / "package.json").unlink()
    with pytest.raises(AuditError, match=r"has no package\.json"):
        load_project(source)
    with pytest.raises(AuditError, match="is not a directory"):
        load_project(tmp_path / "absent")


def test_entries_carry_lockfile_flags() -> None:
    """dev, optional, os/cpu/libc and hasInstallScript are read from the lockfile."""
    project = load_project(LOCKFILES / "platform-packages")
    esbuild = project.entries["node_modules/esbuild"]
    arm = project.entries["node_modules/@img/sharp-linux-arm64"]
    assert esbuild.dev and esbuild.has_install_script and not esbuild.optional
    assert arm.optional and arm.os == ("linux",) and arm.cpu == ("arm64",)
    assert arm.libc == ("glibc",)
    assert project.packager.name == "npm"


def test_npm_dev_optional_is_optional_production_and_said_so() -> None:
    """prisma is @prisma/client's optional peer and a devDependency: npm writes devOptional;
    the entry is production, optional, and marked dev_optional (the smoke check may not
    require it); @prisma/client itself is none of these."""
    project = load_project(LOCKFILES / "prisma6-client")
    prisma, client = (project.entries[f"node_modules/{n}"] for n in ("prisma", "@prisma/client"))
    assert (prisma.dev, prisma.optional, prisma.dev_optional) == (False, True, True)
    assert (client.dev, client.optional, client.dev_optional) == (False, False, False)
