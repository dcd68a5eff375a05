"""pnpm and yarn lockfiles: the same verdicts as npm's lockfile of the same dependencies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.audit import AuditReport, RegistryConfig, Verdict
from pipelines.audit.project import load_project
from pipelines.errors import InputError
from pipelines.packagers.lockfiles.pnpm import store_dir
from pipelines.packagers.lockfiles.yarn_classic import parse_classic
from pipelines.project import NodeProject

from .conftest import LOCKFILES, copy_case, offline, run_cli

AMD64, ARM64 = "linux/amd64", "linux/arm64"
MANAGERS = ("pnpm9", "pnpm10", "yarn1", "yarn4")
CASES = ("platform-packages", "bundled-prebuilds", "download", "compile", "workspace")
PAIRS = [(m, c) for m in MANAGERS for c in CASES] + [
    ("pnpm8", "platform-packages"), ("pnpm8", "bundled-prebuilds")]


def _verdicts(report: AuditReport) -> dict[str, tuple[str, str, str, bool]]:
    return {p.name: (str(p.mechanism), str(p.targets[AMD64].verdict),
                     str(p.targets[ARM64].verdict), p.dev)
            for p in report.packages if p.mechanism.native}


@pytest.mark.parametrize(("manager", "case"), PAIRS)
def test_offline_verdicts_equal_npms(manager: str, case: str, empty_cache: RegistryConfig) -> None:
    """Offline, each manager's lockfile gives npm's mechanisms, verdicts and dev flags."""
    npm = _verdicts(offline(case, empty_cache))
    other = _verdicts(offline(f"{manager}-{case}", empty_cache))
    assert other == npm, f"wanted npm's {npm}, got {other}"


@pytest.mark.npm_registry
@pytest.mark.parametrize(("manager", "case"), [
    (m, c) for m in MANAGERS for c in ("bundled-prebuilds", "platform-packages")])
def test_online_verdicts_equal_npms(manager: str, case: str) -> None:
    """Online, registry documents and tarballs decide alike for every manager."""
    from pipelines.audit import audit_source  # noqa: PLC0415

    npm = _verdicts(audit_source(LOCKFILES / case, offline=False))
    other = _verdicts(audit_source(LOCKFILES / f"{manager}-{case}", offline=False))
    assert other == npm, f"wanted npm's {npm}, got {other}"


def test_pnpm_paths_are_the_real_store_dirs() -> None:
    """Entries sit at node_modules/.pnpm/<escaped name@version>/node_modules/<name>."""
    entries = load_project(LOCKFILES / "pnpm9-platform-packages").entries
    arm = "node_modules/.pnpm/@img+sharp-linux-arm64@0.35.5/node_modules/@img/sharp-linux-arm64"
    assert arm in entries
    assert entries[arm].cpu == ("arm64",) and entries[arm].libc == ("glibc",)
    sharp = entries["node_modules/.pnpm/sharp@0.35.5/node_modules/sharp"]
    assert sharp.links["@img/sharp-linux-arm64"] == arm


def test_store_dir_escapes_like_pnpm() -> None:
    """`/` becomes `+`, peer suffixes become `_`, upper case is hashed (md5/base32, sha256)."""
    assert store_dir("@img/sharp@0.35.5", 9) == "@img+sharp@0.35.5"
    assert store_dir("argon2@0.31.2(encoding@0.1.14)", 9) == "argon2@0.31.2_encoding@0.1.14"
    assert store_dir("/a@1.0.0(b@2.0.0)(c@3.0.0)", 8) == "a@1.0.0_b@2.0.0_c@3.0.0"
    upper9, upper10 = store_dir("JSONStream@1.3.5", 9), store_dir("JSONStream@1.3.5", 10)
    assert upper9.startswith("JSONStream@1.3.5_") and len(upper9) == 17 + 26
    assert upper10.startswith("JSONStream@1.3.5_") and len(upper10) == 17 + 32


def test_pnpm_store_dirs_match_a_real_install(tmp_path: Path) -> None:
    """pnpm's peer-suffixed directory of the download fixture is the one the reader names."""
    entries = load_project(LOCKFILES / "pnpm9-download").entries
    assert ("node_modules/.pnpm/argon2@0.31.2_encoding@0.1.14/node_modules/argon2"
            in entries)


def test_v6_records_scripts_and_v9_does_not() -> None:
    """pnpm 8's requiresBuild is a fact; pnpm 9 records nothing, so it is marked unknown."""
    v6 = load_project(LOCKFILES / "pnpm8-bundled-prebuilds").entries
    v9 = load_project(LOCKFILES / "pnpm9-bundled-prebuilds").entries
    bcrypt6 = next(e for e in v6.values() if e.name == "bcrypt")
    bcrypt9 = next(e for e in v9.values() if e.name == "bcrypt")
    assert bcrypt6.has_install_script and bcrypt6.scripts_known
    assert not bcrypt9.has_install_script and not bcrypt9.scripts_known


def test_berry_conditions_become_os_cpu_libc() -> None:
    """`conditions: os=linux & cpu=arm64 & libc=glibc` is read as npm's fields."""
    entries = load_project(LOCKFILES / "yarn4-platform-packages").entries
    arm = entries["node_modules/@img/sharp-linux-arm64"]
    assert (arm.os, arm.cpu, arm.libc) == (("linux",), ("arm64",), ("glibc",))


def test_classic_platform_packages_by_name() -> None:
    """yarn 1 records no os/cpu: platform package names give them, musl siblings the libc."""
    entries = load_project(LOCKFILES / "yarn1-platform-packages").entries
    arm = entries["node_modules/@img/sharp-linux-arm64"]
    musl = entries["node_modules/@img/sharp-linuxmusl-arm64"]
    assert (arm.os, arm.cpu, arm.libc) == (("linux",), ("arm64",), ("glibc",))
    assert musl.libc == ("musl",)


@pytest.mark.parametrize("manager", ["pnpm9", "yarn1", "yarn4"])
def test_workspace_packages_are_local_and_production(manager: str) -> None:
    """packages/api and packages/lib are local entries; their dependencies are production."""
    entries = load_project(LOCKFILES / f"{manager}-workspace").entries
    assert entries["packages/api"].local and entries["packages/lib"].local
    bcrypt = next(e for e in entries.values() if e.name == "bcrypt")
    esbuild = next(e for e in entries.values() if e.name == "esbuild")
    assert not bcrypt.dev and esbuild.dev


def test_pnpm10_without_an_allow_list_builds_nothing(
    tmp_path: Path, empty_cache: RegistryConfig
) -> None:
    """pnpm 10 runs no dependency scripts unless onlyBuiltDependencies allows them."""
    source = copy_case("pnpm10-compile", tmp_path)
    (source / "pnpm-workspace.yaml").unlink()
    manifest = json.loads((source / "package.json").read_text())
    (source / "package.json").write_text(json.dumps(manifest | {"packageManager": "pnpm@10.34.9"}))
    report = _audit(source, empty_cache)
    libpq = next(p for p in report.packages if p.name == "libpq")
    assert libpq.targets[ARM64].verdict is Verdict.MISSING
    assert "onlyBuiltDependencies" in libpq.targets[ARM64].reason


def test_yarn_4_14_default_builds_nothing(tmp_path: Path, empty_cache: RegistryConfig) -> None:
    """yarn 4.18 without enableScripts: compile packages get no binary, and the reason says so."""
    source = copy_case("yarn4-compile", tmp_path)
    (source / ".yarnrc.yml").write_text("nodeLinker: node-modules\n")
    report = _audit(source, empty_cache)
    assert {p.targets[AMD64].verdict for p in report.packages if p.mechanism.native} == {
        Verdict.MISSING}


def _audit(source: Path, config: RegistryConfig) -> AuditReport:
    from pipelines.audit import audit_source  # noqa: PLC0415

    return audit_source(source, offline=True, registry=config)


def test_pnpm_out_of_sync_is_one_sentence(tmp_path: Path) -> None:
    """A specifier that differs from package.json is refused as pnpm --frozen-lockfile would."""
    source = copy_case("pnpm9-compile", tmp_path)
    manifest = json.loads((source / "package.json").read_text())
    manifest["dependencies"]["libpq"] = "^1.12"
    (source / "package.json").write_text(json.dumps(manifest))
    with pytest.raises(InputError, match=r"out of sync: libpq is '\^1.12' in package.json"):
        load_project(source)


@pytest.mark.parametrize(("case", "lockfile"), [("pnpm9-compile", "pnpm-lock.yaml"),
                                                ("yarn4-compile", "yarn.lock"),
                                                ("yarn1-compile", "yarn.lock")])
def test_truncated_lockfiles_exit_2_in_one_sentence(
    case: str, lockfile: str, tmp_path: Path
) -> None:
    """Half a lockfile: exit 2, one ERROR line, no traceback."""
    source = copy_case(case, tmp_path)
    lock = source / lockfile
    lock.write_bytes(lock.read_bytes()[: len(lock.read_bytes()) // 2])
    result = run_cli(str(source), "--offline")
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith("ERROR "), result.stderr


def test_classic_parser_reads_quoted_multi_keys(tmp_path: Path) -> None:
    """`"a@^1", a@^1.2:` blocks map both descriptors to one entry with its sections."""
    text = ('# yarn lockfile v1\n\n"@s/a@^1", "@s/a@^1.2":\n  version "1.2.0"\n'
            '  dependencies:\n    b "^2"\n')
    entries = parse_classic(text, tmp_path / "yarn.lock")
    assert entries["@s/a@^1"] is entries["@s/a@^1.2"]
    assert entries["@s/a@^1"] == {"version": "1.2.0", "dependencies": {"b": "^2"}}


def test_the_cli_audits_a_pnpm_project() -> None:
    """`python -m pipelines.audit` takes a pnpm project as it is."""
    result = run_cli(str(LOCKFILES / "pnpm9-platform-packages"), "--offline", "--format", "json")
    assert result.returncode == 0, result.stderr
    assert '"sharp"' in result.stdout


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    """A pnpm-lock.yaml that is not YAML is one sentence with its line."""
    source = copy_case("pnpm9-compile", tmp_path)
    (source / "pnpm-lock.yaml").write_text("lockfileVersion: '9.0'\nimporters: [\n  : :\n")
    with pytest.raises(InputError, match=r"pnpm-lock\.yaml is not valid YAML \(line \d+\): "
                                         r"restore it or regenerate it with pnpm"):
        load_project(source)


@pytest.mark.parametrize("case", ["yarn1-compile", "yarn4-compile"])
def test_yarn_out_of_sync_is_one_sentence(case: str, tmp_path: Path) -> None:
    """A range the lockfile lacks is refused as `yarn install --frozen-lockfile` would."""
    source = copy_case(case, tmp_path)
    manifest = json.loads((source / "package.json").read_text())
    manifest["dependencies"]["left-pad"] = "^1.3.0"
    (source / "package.json").write_text(json.dumps(manifest))
    with pytest.raises(InputError, match=r"package\.json and yarn\.lock are out of sync: "
                                         r"left-pad@\^1\.3\.0 is declared but not locked"):
        load_project(source)


def test_a_dangling_pnpm_reference_is_refused(tmp_path: Path) -> None:
    """A dependency with no snapshot of its own means the lockfile is incomplete."""
    source = copy_case("pnpm9-compile", tmp_path)
    lock = source / "pnpm-lock.yaml"
    lock.write_text(lock.read_text().replace("\n  nan@2.30.0: {}\n", "\n"))
    assert "nan@2.30.0: {}" not in lock.read_text()
    with pytest.raises(InputError, match=r"is incomplete: nan@2\.30\.0 \(needed by "):
        load_project(source)


def test_hoisting_nests_a_second_version_under_its_dependent() -> None:
    """Two versions of one name: the one the root names on top, the other nested."""
    from pipelines.packagers.lockfiles.yarn_berry import Package, hoist  # noqa: PLC0415

    packages = {
        "": Package("", "root", "", deps={"a": "a@1", "b": "b@1"}, workspace=""),
        "a@1": Package("a@1", "a", "1.0.0"),
        "b@1": Package("b@1", "b", "1.0.0", deps={"a": "a@2"}),
        "a@2": Package("a@2", "a", "2.0.0"),
    }
    nodes = hoist(packages, scripts_known=False)
    assert nodes["node_modules/a"].version == "1.0.0"
    assert nodes["node_modules/b/node_modules/a"].version == "2.0.0"
    assert nodes["node_modules/b"].links == {"a": "node_modules/b/node_modules/a"}


def test_berry_resolutions_redirect_descriptors() -> None:
    """package.json `resolutions` (name@range and name forms) are followed, as yarn did."""
    entries = load_project(LOCKFILES / "yarn4-resolutions").entries
    cpu = entries["node_modules/cpu-features"]
    assert entries[cpu.links["nan"]].version == "2.26.2"
    compose = next(e for e in entries.values() if e.name == "@types/koa-compose")
    assert entries[compose.links["@types/koa"]].version == "2.15.0"


@pytest.mark.npm_registry
def test_yarn1_platforms_come_from_the_registry_online() -> None:
    """Online, yarn 1's platform packages get os/cpu/libc from their version documents."""
    from pipelines.audit import audit_source  # noqa: PLC0415

    report = audit_source(LOCKFILES / "yarn1-platform-packages", offline=False)
    sharp = next(p for p in report.packages if p.name == "sharp")
    assert any("(the lockfile records none)" in e for e in sharp.evidence), sharp.evidence


def test_yarn1_platforms_come_from_names_offline(empty_cache: RegistryConfig) -> None:
    """Offline, the evidence says the platforms were read from the package names."""
    sharp = next(p for p in offline("yarn1-platform-packages", empty_cache).packages
                 if p.name == "sharp")
    assert any("read from their names" in e for e in sharp.evidence), sharp.evidence


def test_pnpm_hoisted_linker_uses_flat_paths(tmp_path: Path, empty_cache: RegistryConfig) -> None:
    """With node-linker=hoisted, entries sit at node_modules/<name>, with the same verdicts."""
    source = copy_case("pnpm9-download", tmp_path)
    (source / ".npmrc").write_text("node-linker=hoisted\n")
    entries = load_project(source).entries
    assert entries["node_modules/better-sqlite3"].name == "better-sqlite3"
    assert not any(".pnpm" in path for path in entries)
    assert _verdicts(_audit(source, empty_cache)) == _verdicts(offline("download", empty_cache))


def test_yarn_injected_node_gyp_ships_but_is_no_native_evidence() -> None:
    """yarn 4 adds `node-gyp: npm:latest` to packages it guesses build: it is installed, so it
    and its dependencies are production (not devDependencies hygiene would flag), yet it does
    not appear among the package's own dependencies, where it would count as a native hint."""
    source = LOCKFILES / "yarn4-compile"
    project = NodeProject.load(source)
    entries = project.packager.read_lockfile(source, project.manifest)
    node_gyp = entries["node_modules/node-gyp"]
    assert not node_gyp.dev
    assert all(not entries[path].dev for path in node_gyp.links.values())
    assert "node-gyp" not in entries["node_modules/cpu-features"].dependencies
