"""detect(): the manager and its version from the lockfile and packageManager, or one sentence."""

from __future__ import annotations

import importlib
import json
import shutil
from pathlib import Path

import pytest

from pipelines.packagers import Npm, PackagerError, Pnpm, YarnBerry, YarnClassic, detect

LOCKFILES = Path(__file__).resolve().parents[2] / "fixtures" / "lockfiles"


def _case(case: str, tmp_path: Path, **manifest: object) -> tuple[Path, dict[str, object]]:
    root = tmp_path / case
    shutil.copytree(LOCKFILES / case, root)
    data = json.loads((root / "package.json").read_text()) | manifest
    (root / "package.json").write_text(json.dumps(data))
    return root, data


@pytest.mark.parametrize(("case", "kind", "version"), [
    ("compile", Npm, ""),
    ("pnpm8-platform-packages", Pnpm, "8.15.9"),
    ("pnpm9-compile", Pnpm, "9.15.9"),
    ("pnpm10-compile", Pnpm, "10.34.9"),  # pnpm-workspace.yaml carries onlyBuiltDependencies
    ("yarn1-compile", YarnClassic, "1.22.22"),
    ("yarn4-compile", YarnBerry, "4.18.1"),
])
def test_manager_and_version_from_the_lockfile(
    case: str, kind: type, version: str, tmp_path: Path
) -> None:
    """Without packageManager the lockfile picks the manager and a version that reads it."""
    root, manifest = _case(case, tmp_path)
    packager = detect(root, manifest)
    assert isinstance(packager, kind), f"wanted {kind.__name__}, got {packager!r}"
    assert packager.version == version


def test_package_manager_pins_version_and_hash(tmp_path: Path) -> None:
    """packageManager's version wins, and its +sha512 hash reaches corepack prepare."""
    root, manifest = _case("pnpm9-compile", tmp_path, packageManager="pnpm@9.12.0+sha512.abc")
    packager = detect(root, manifest)
    assert packager.version == "9.12.0"
    assert packager.setup()[-1] == ("corepack", "prepare", "pnpm@9.12.0+sha512.abc",
                                    "--activate")


@pytest.mark.parametrize(("case", "change", "words"), [
    ("pnpm9-compile", {"packageManager": "yarn@4.18.1"},
     "packageManager is yarn@4.18.1 but the lockfile is pnpm-lock.yaml (pnpm)"),
    ("yarn1-compile", {"packageManager": "yarn@4.18.1"},
     "packageManager is yarn@4.18.1 but yarn.lock is a yarn 1 lockfile"),
    ("yarn4-compile", {"packageManager": "yarn@1.22.22"},
     "packageManager is yarn@1.22.22 but yarn.lock is a yarn 2+ lockfile"),
    ("compile", {"packageManager": "bun@1.2.0"}, "names bun, which is not supported"),
    ("compile", {"packageManager": "pnpm"}, "is not name@version"),
])
def test_disagreements_are_one_sentence(
    case: str, change: dict[str, object], words: str, tmp_path: Path
) -> None:
    """A packageManager that disagrees with the lockfile, or names an unknown tool: exit 2."""
    root, manifest = _case(case, tmp_path, **change)
    with pytest.raises(PackagerError) as caught:
        detect(root, manifest)
    assert words in str(caught.value), str(caught.value)
    assert "\n" not in str(caught.value)
    assert caught.value.exit_code == 2


def test_two_lockfiles_are_refused(tmp_path: Path) -> None:
    """package-lock.json next to pnpm-lock.yaml names both and asks to delete one."""
    root, manifest = _case("pnpm9-compile", tmp_path)
    shutil.copy(LOCKFILES / "compile" / "package-lock.json", root)
    with pytest.raises(PackagerError, match=r"two package managers \(package-lock\.json and "
                                            r"pnpm-lock\.yaml\): delete"):
        detect(root, manifest)


@pytest.mark.parametrize("yarnrc", [None, "nodeLinker: pnp\n"])
def test_plug_n_play_asks_for_the_node_modules_linker(yarnrc: str | None, tmp_path: Path) -> None:
    """Berry without nodeLinker (PnP by default) or with pnp: set nodeLinker: node-modules."""
    root, manifest = _case("yarn4-compile", tmp_path)
    if yarnrc is None:
        (root / ".yarnrc.yml").unlink()
    else:
        (root / ".yarnrc.yml").write_text(yarnrc)
    with pytest.raises(PackagerError, match=r"yarn's pnp linker .*`nodeLinker: node-modules`"):
        detect(root, manifest)


def test_no_lockfile_names_the_pinned_manager(tmp_path: Path) -> None:
    """Without any lockfile the sentence says which install to run."""
    root, manifest = _case("pnpm9-compile", tmp_path, packageManager="pnpm@9.15.9")
    (root / "pnpm-lock.yaml").unlink()
    with pytest.raises(PackagerError, match=r"has no lockfile: run `pnpm install`"):
        detect(root, manifest)


def test_a_garbled_yarn_lock_is_refused(tmp_path: Path) -> None:
    """A yarn.lock that is neither format is one sentence."""
    root, manifest = _case("yarn1-compile", tmp_path)
    (root / "yarn.lock").write_text("hello: world\n")
    with pytest.raises(PackagerError, match="neither a yarn 1 nor a yarn 2"):
        detect(root, manifest)


def test_host_setup_installs_the_default_versions() -> None:
    """tests/host-setup.sh installs exactly the versions detect() picks without packageManager."""
    # The package re-exports the function detect(), which hides the module of that name.
    module = importlib.import_module("pipelines.packagers.detect")

    setup = (LOCKFILES.parents[1] / "host-setup.sh").read_text()
    for spec in (f"pnpm@{module.PNPM_FOR_LOCKFILE['9']}", f"pnpm@{module.PNPM_10}",
                 f"yarn@{module.YARN_CLASSIC}", f"@yarnpkg/cli-dist@{module.YARN_4}"):
        assert spec in setup, f"wanted {spec} in tests/host-setup.sh"
