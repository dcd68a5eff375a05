"""Lockfile forms real monorepos use that frozen installs accept: pnpm `overrides` (the lockfile
records the override's specifier, not package.json's) and yarn berry `patch:` resolutions (keyed
with the locator of the workspace the patch path is relative to). Both were refused as out of
sync or incomplete, seen on logto, growthbook and hedgedoc."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from pipelines.audit import AuditError, audit_source
from pipelines.audit.project import load_project
from pipelines.packagers.lockfiles.pnpm import overridden
from tests.conftest import REPO

LOCKFILES = REPO / "tests" / "fixtures" / "lockfiles"


def test_pnpm_overrides_are_in_sync_and_their_versions_locked() -> None:
    """ms ^2.0.0 overridden to ^2.1.3 and debug 4.3.4 to 4.3.5: pnpm accepts the lockfile."""
    entries = load_project(LOCKFILES / "pnpm10-overrides").entries
    assert {(e.name, e.version) for e in entries.values() if e.name in ("ms", "debug")} == {
        ("ms", "2.1.3"), ("debug", "4.3.5")}
    assert audit_source(LOCKFILES / "pnpm10-overrides").packages == ()


def test_a_specifier_no_override_puts_in_place_is_still_out_of_sync(tmp_path: Path) -> None:
    """Only the specifier an override puts in place is accepted: any other still is the
    mismatch `pnpm install --frozen-lockfile` refuses."""
    app = tmp_path / "app"
    shutil.copytree(LOCKFILES / "pnpm10-overrides", app)
    lock = app / "pnpm-lock.yaml"
    lock.write_text(lock.read_text().replace("specifier: 4.3.5", "specifier: 4.3.9"))
    wanted = "out of sync: debug is '4.3.4' in package.json but '4.3.9' in the lockfile"
    with pytest.raises(AuditError, match=re.escape(wanted)):
        load_project(app)


def test_override_selectors_name_the_package() -> None:
    assert overridden({"vite@<=6.4.2": "^6.4.3", "a>b@1": "2.0.0", "@s/x": "workspace:*"}) == {
        "vite": {"^6.4.3"}, "b": {"2.0.0"}, "@s/x": {"workspace:*"}}


def test_yarn_patch_resolution_with_a_locator_is_found() -> None:
    """debug depends on ms ^2.1.3, which `resolutions` patches: the lockfile keys the patch
    with `::locator=fixture-yarn4-patch%40workspace%3A.`."""
    entries = load_project(LOCKFILES / "yarn4-patch").entries
    (ms,) = [e for e in entries.values() if e.name == "ms"]
    assert ms.version == "2.1.3"
