"""Each manager's commands, environment and caches, as the stages will run them."""

from __future__ import annotations

import pytest

from pipelines.packagers import Npm, Packager, Pnpm, TargetSpec, YarnBerry, YarnClassic

ARM64 = TargetSpec("linux", "arm64", "glibc")


def test_install_all_is_frozen_with_scripts_off() -> None:
    """The build stage's install: frozen lockfile, dev included, dependency scripts off."""
    assert Pnpm().install_all().commands == (
        ("pnpm", "install", "--frozen-lockfile", "--ignore-scripts"),)
    assert YarnBerry().install_all().commands == (
        ("yarn", "install", "--immutable", "--mode=skip-build"),)
    assert YarnClassic().install_all().commands[0][:4] == (
        "yarn", "install", "--frozen-lockfile", "--ignore-scripts")


def test_pnpm_is_told_the_target_and_restores_package_json() -> None:
    """pnpm gets supportedArchitectures for the one install; package.json is put back."""
    setting, install, restore = Pnpm().install_production(ARM64).commands
    assert setting[:2] == ("node", "-e") and setting[2:] != () and setting[-3:] == (
        "linux", "arm64", "glibc")
    assert install == ("pnpm", "install", "--frozen-lockfile", "--prod", "--ignore-scripts")
    assert restore == ("mv", ".package.json.nodepipe", "package.json")


def test_berry_focuses_production_with_the_target_in_the_home_rc() -> None:
    """Berry: supportedArchitectures in ~/.yarnrc.yml, focus --production, scripts off."""
    install = YarnBerry().install_production(ARM64)
    setting, focus = install.commands
    assert setting[:5] == ("yarn", "config", "set", "--home", "supportedArchitectures")
    assert '"cpu": ["arm64"]' in setting[-1]
    assert focus == ("yarn", "workspaces", "focus", "--all", "--production")
    assert install.env == {"YARN_ENABLE_SCRIPTS": "false",
                           "YARN_ENABLE_IMMUTABLE_INSTALLS": "true"}


def test_classic_installs_every_platform_then_prunes() -> None:
    """yarn 1 cannot be told a platform: --ignore-platform, then a prune for the target."""
    install, prune = YarnClassic().install_production(ARM64).commands
    assert "--production" in install and install[-1] == "--ignore-platform"
    assert prune[:2] == ("node", "-e") and prune[-3:] == ("linux", "arm64", "glibc")


@pytest.mark.parametrize(("packager", "shared", "per_target"), [
    (Npm(), {"npm-cacache"}, {"npm-prebuilds"}),
    (Pnpm(), {"corepack", "pnpm-store"}, set()),
    (YarnBerry(), {"corepack", "yarn-berry"}, set()),
    (YarnClassic(), {"corepack"}, {"yarn-classic"}),
])
def test_cache_sharing_follows_content_addressing(
    packager: Packager, shared: set[str], per_target: set[str]
) -> None:
    """Content-addressed stores are shared by targets; yarn 1's cache is per target."""
    caches = packager.caches()
    assert {c.key for c in caches if not c.per_target} == shared
    assert {c.key for c in caches if c.per_target} == per_target


def test_pnpm_env_turns_the_side_effects_cache_off() -> None:
    """A shared store must never hand one arch another's built binaries."""
    env = Pnpm().env()
    assert env["npm_config_side_effects_cache"] == "false"
    assert env["npm_config_store_dir"] == "/cache/pnpm/store"
    assert env["COREPACK_ENABLE_DOWNLOAD_PROMPT"] == "0"


@pytest.mark.parametrize(("version", "enabled"), [("4.13.0", True), ("4.14.0", False),
                                                  ("3.8.7", True)])
def test_berry_scripts_default_by_version(version: str, enabled: bool) -> None:
    """yarn 4.14 and later run no dependency build scripts unless enableScripts says so."""
    assert YarnBerry(version).scripts_enabled is enabled
    assert YarnBerry(version, enable_scripts=True).scripts_enabled


def test_setup_activates_the_pinned_version_with_corepack() -> None:
    """corepack enable NAME, then prepare NAME@VERSION --activate."""
    assert YarnClassic("1.22.22").setup() == (
        ("corepack", "enable", "yarn"), ("corepack", "prepare", "yarn@1.22.22", "--activate"))
