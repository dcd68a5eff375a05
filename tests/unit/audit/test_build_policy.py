"""The project's own build policy decides whether a package's install script runs, and the
verdict's reason names the setting that decided (pnpm allowBuilds, dangerouslyAllowAllBuilds,
onlyBuiltDependencies, never/ignoredBuiltDependencies; npm ignore-scripts; yarn enableScripts
and dependenciesMeta built)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.audit import AuditReport, RegistryConfig, Verdict, audit_source
from pipelines.packagers.lockfiles.policy import berry_policy, pnpm_policy

from .conftest import copy_case

ARM64 = "linux/arm64"


def audited(source: Path, config: RegistryConfig) -> dict[str, tuple[Verdict, str]]:
    """Each native package's arm64 verdict and reason, offline."""
    report: AuditReport = audit_source(source, offline=True, registry=config)
    return {p.name: (p.targets[ARM64].verdict, p.targets[ARM64].reason)
            for p in report.native()}


def pnpm_case(tmp_path: Path, workspace_yaml: str, major: int = 10) -> Path:
    """pnpm10-compile (libpq and cpu-features compile) with this pnpm-workspace.yaml."""
    source = copy_case("pnpm10-compile", tmp_path)
    (source / "pnpm-workspace.yaml").write_text(workspace_yaml)
    manifest = json.loads((source / "package.json").read_text())
    pin = {"packageManager": f"pnpm@{major}.0.0"}
    (source / "package.json").write_text(json.dumps(manifest | pin))
    return source


def test_allow_builds_true_lets_a_package_build(
    tmp_path: Path, empty_cache: RegistryConfig
) -> None:
    """pnpm 11's allowBuilds map: true builds (compile), false does not (missing), and the
    reason names allowBuilds in pnpm-workspace.yaml."""
    source = pnpm_case(tmp_path, "allowBuilds:\n  libpq: true\n  cpu-features: false\n", 11)
    found = audited(source, empty_cache)
    assert found["libpq"][0] is Verdict.COMPILE
    verdict, reason = found["cpu-features"]
    assert verdict is Verdict.MISSING
    assert "(pnpm: allowBuilds in pnpm-workspace.yaml sets cpu-features: false)" in reason


def test_dangerously_allow_all_builds_builds_everything(
    tmp_path: Path, empty_cache: RegistryConfig
) -> None:
    """dangerouslyAllowAllBuilds: every compile stays a compile."""
    found = audited(pnpm_case(tmp_path, "dangerouslyAllowAllBuilds: true\n"), empty_cache)
    assert {v for v, _ in found.values()} == {Verdict.COMPILE}


def test_an_allow_list_that_does_not_name_a_package_says_so(
    tmp_path: Path, empty_cache: RegistryConfig
) -> None:
    """onlyBuiltDependencies without the package: missing, naming the list and its file."""
    found = audited(pnpm_case(tmp_path, "onlyBuiltDependencies:\n  - libpq\n"), empty_cache)
    assert found["libpq"][0] is Verdict.COMPILE
    assert ("(pnpm: onlyBuiltDependencies in pnpm-workspace.yaml does not list it)"
            in found["cpu-features"][1])


def test_ignored_built_dependencies_wins_over_allow_all(
    tmp_path: Path, empty_cache: RegistryConfig
) -> None:
    """ignoredBuiltDependencies names a package never built, even with allow-all."""
    yaml = "dangerouslyAllowAllBuilds: true\nignoredBuiltDependencies:\n  - libpq\n"
    found = audited(pnpm_case(tmp_path, yaml), empty_cache)
    assert found["libpq"][0] is Verdict.MISSING
    assert "ignoredBuiltDependencies in pnpm-workspace.yaml lists it" in found["libpq"][1]
    assert found["cpu-features"][0] is Verdict.COMPILE


def test_pnpm_10_without_any_setting_names_its_default(
    tmp_path: Path, empty_cache: RegistryConfig
) -> None:
    """No policy at all: pnpm 10 builds nothing, and the reason says that is its default."""
    found = audited(pnpm_case(tmp_path, "packages: []\n"), empty_cache)
    assert all(v is Verdict.MISSING and "pnpm 10 builds no dependency unless allowed" in r
               for v, r in found.values())


def test_pnpm_11_reads_no_package_json_field() -> None:
    """pnpm 11 reads its settings from pnpm-workspace.yaml only; pnpm 10 reads both."""
    manifest = {"pnpm": {"onlyBuiltDependencies": ["libpq"]}}
    assert pnpm_policy(Path("/nonexistent"), manifest, {}, 10)("libpq").build
    eleven = pnpm_policy(Path("/nonexistent"), manifest, {}, 11)("libpq")
    assert not eleven.build and "pnpm 11 builds no dependency" in eleven.setting


def test_pnpm_versioned_allow_builds_keys_name_the_package() -> None:
    """`esbuild@0.25.0: true` allows esbuild."""
    assert pnpm_policy(Path("/nonexistent"), {}, {"allowBuilds": {"esbuild@0.25.0": "true"}},
                       11)("esbuild").build


@pytest.mark.parametrize("manager_case", ["compile", "pnpm9-compile"])
def test_ignore_scripts_in_npmrc_builds_nothing(
    manager_case: str, tmp_path: Path, empty_cache: RegistryConfig
) -> None:
    """`ignore-scripts=true` in .npmrc: npm and pnpm 9 run no install script, so each compile
    is missing, and the reason names .npmrc."""
    source = copy_case(manager_case, tmp_path)
    (source / ".npmrc").write_text("ignore-scripts=true\n")
    found = audited(source, empty_cache)
    assert found and all(v is Verdict.MISSING and "ignore-scripts=true in .npmrc" in r
                         for v, r in found.values())


def test_yarn_reasons_name_enable_scripts_and_dependencies_meta(
    tmp_path: Path, empty_cache: RegistryConfig
) -> None:
    """yarn 4: enableScripts false in .yarnrc.yml, with dependenciesMeta built for libpq."""
    source = copy_case("yarn4-compile", tmp_path)
    (source / ".yarnrc.yml").write_text("nodeLinker: node-modules\nenableScripts: false\n")
    manifest = json.loads((source / "package.json").read_text())
    meta = {"dependenciesMeta": {"libpq": {"built": True}}}
    (source / "package.json").write_text(json.dumps(manifest | meta))
    found = audited(source, empty_cache)
    assert found["libpq"][0] is Verdict.COMPILE
    assert found["cpu-features"] == (Verdict.MISSING, (
        "the package manager is told not to run its install script (yarn: enableScripts: "
        "false in .yarnrc.yml): allow its build"))


def test_yarn_dependencies_meta_built_false_is_named() -> None:
    """dependenciesMeta built: false beats enableScripts, and says so."""
    decide = berry_policy({"dependenciesMeta": {"x": {"built": False}}}, True, "enableScripts")
    assert decide("x").build is False
    assert decide("x").setting == "yarn: package.json dependenciesMeta.x.built is false"
    assert decide("y").build is True
