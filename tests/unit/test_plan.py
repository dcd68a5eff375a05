"""The plan as data: targets, cache names, toolchain decisions, describe()."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from pipelines.errors import InputError
from pipelines.logs import configure_logging
from pipelines.plan.describe import describe_plan
from pipelines.plan.emulation import EmulationRefusedError, report_emulation
from pipelines.plan.model import NativePackage, TargetAudit
from pipelines.plan.prepare import prepare
from pipelines.platforms import Platform
from pipelines.settings import load_settings
from tests.conftest import EXAMPLE

AMD64, ARM64 = Platform.parse("linux/amd64"), Platform.parse("linux/arm64")


def plan_for(flags: dict | None = None, engine: Platform = AMD64, native=None):
    settings = load_settings(flags or {}, {})
    return prepare(settings, engine, audit=native or {})


def test_arch_specific_caches_are_disjoint_and_keyed() -> None:
    """Per-target caches differ by platform and name os, arch, libc and Node major."""
    amd, arm = plan_for().targets
    shared = {"nodepipe-npm-cacache"}
    amd_own = {c.name for c in amd.caches} - shared
    arm_own = {c.name for c in arm.caches} - shared
    assert amd_own and arm_own and not amd_own & arm_own
    assert all("linux-arm64-glibc-node22" in name for name in arm_own)


def test_variant_and_node_major_change_cache_names() -> None:
    """Changing Node major or the platform variant gives different volumes."""
    a = {c.name for c in plan_for().targets[1].caches}
    b = {c.name for c in plan_for({"node_major": 20}).targets[1].caches}
    assert a & b == {"nodepipe-npm-cacache"}
    arm7 = plan_for({"platforms": "linux/arm/v7", "allow_unsupported_platforms": True})
    assert any("linux-arm-v7-glibc" in c.name for c in arm7.targets[0].caches)


def test_emulation_follows_the_engine_platform() -> None:
    """A target is emulated exactly when it differs from the engine's platform."""
    plan = plan_for()
    assert [t.emulated for t in plan.targets] == [False, True]
    assert [t.emulated for t in plan.on_engine(ARM64).targets] == [True, False]


def test_toolchain_and_target_work_only_where_something_compiles(tmp_path: Path) -> None:
    """All prebuilt and no own addon: no toolchain and nothing rebuilt; a compile rebuilds
    exactly that package, with the toolchain. Production installs always run told the target."""
    src = tmp_path / "svc"
    shutil.copytree(EXAMPLE, src, ignore=shutil.ignore_patterns("node_modules", "native"))
    manifest = json.loads((src / "package.json").read_text())
    del manifest["scripts"]["compile:bindings"]
    (src / "package.json").write_text(json.dumps(manifest))
    prebuilt = TargetAudit((NativePackage("sharp", "0.35.5", "prebuilt"),))
    compiles = TargetAudit((NativePackage("sharp", "0.35.5", "prebuilt"),
                            NativePackage("bcrypt", "6.0.0", "compile")))
    plan = plan_for({"source": str(src)}, native={AMD64: prebuilt, ARM64: compiles})
    assert [t.toolchain for t in plan.targets] == [False, True]
    assert [t.rebuild for t in plan.targets] == [(), ("bcrypt",)]
    assert [plan.install_production(t).commands for t in plan.targets] == [
        (("npm", "ci", "--omit=dev", "--ignore-scripts", "--os=linux", "--cpu=x64",
          "--libc=glibc"),),
        (("npm", "ci", "--omit=dev", "--ignore-scripts", "--os=linux", "--cpu=arm64",
          "--libc=glibc"),),
    ]
    assert plan.targets[1].reasons == ("bcrypt: compile on this target",)


def test_plain_install_script_is_rebuilt_without_a_toolchain() -> None:
    """A production package with a non-native install script runs it, and needs no compiler."""
    audit = TargetAudit((NativePackage("sharp", "0.35.5", "prebuilt"),), scripted=("core-js",))
    assert audit.rebuild == ("core-js",)
    assert not audit.compiles
    assert not TargetAudit((NativePackage("own", "1", "compile", own=True),)).rebuild


def test_describe_has_the_documented_shape() -> None:
    """--print JSON: targets with platform and cache_volumes, build stages, output."""
    data = describe_plan(plan_for())
    assert json.loads(json.dumps(data)) == data
    assert [t["platform"] for t in data["targets"]] == ["linux/amd64", "linux/arm64"]
    assert all(t["cache_volumes"] for t in data["targets"])
    assert data["build"]["platform"] is None
    assert [s["name"] for s in data["build"]["stages"]] == ["deps", "build"]
    assert data["build"]["stages"][1]["run"] == ["npm", "run", "compile"]
    assert data["package_manager"]["name"] == "npm"
    assert data["image"]["cmd"] == ["node", "dist/entrypoint.js"]
    assert "src/" in data["image"]["files"]["top_level"]
    assert data["output"] == {"kind": "export", "path": "build/native-service.oci.tar"}
    published = plan_for({"publish": True, "image": "localhost:5000/svc", "tags": "1,latest"})
    assert describe_plan(published)["output"] == {
        "kind": "publish", "image": "localhost:5000/svc", "tags": ["1", "latest"]}


@pytest.mark.parametrize(
    ("remove", "wanted"),
    [("package.json", "has no package.json"), ("package-lock.json", "has no lockfile")],
)
def test_source_without_manifest_or_lockfile(tmp_path: Path, remove: str, wanted: str) -> None:
    """A source without package.json or lockfile is refused with one sentence."""
    src = tmp_path / "svc"
    shutil.copytree(EXAMPLE, src, ignore=shutil.ignore_patterns("node_modules"))
    (src / remove).unlink()
    with pytest.raises(InputError, match=wanted):
        plan_for({"source": str(src)})


def test_cross_built_targets_are_not_emulated_work(capsys: pytest.CaptureFixture[str]) -> None:
    """The example's arm64 addon cross-compiles on the amd64 engine: no emulated build work,
    so even --emulation fail accepts it, and the log says `platform_cross`."""
    configure_logging("json")
    plan = plan_for()
    assert plan.targets[1].cross and plan.targets[1].compiles_on_engine
    report_emulation(plan, "fail")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(e["event"], e["platform"]) for e in lines] == [
        ("platform_native", "linux/amd64"), ("platform_cross", "linux/arm64")]


def test_emulation_policy_fail_stops_emulated_targets(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Work that must run on a foreign target (plain install scripts) is emulated: warn says
    so and why, fail refuses with exit 2; the runtime system packages are not among it (they
    are unpacked on the engine)."""
    configure_logging("json")
    audit = TargetAudit((), scripted=("core-js",))
    plan = plan_for({"apt_packages": "ffmpeg"}, native={AMD64: audit, ARM64: audit})
    report_emulation(plan, "warn")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(e["event"], e["platform"]) for e in lines] == [
        ("platform_native", "linux/amd64"), ("platform_emulated", "linux/arm64")]
    assert lines[1]["stages"] == ["scripts"]
    assert "core-js: install script runs on the target" in lines[1]["why"]
    with pytest.raises(EmulationRefusedError, match="linux/arm64 would run scripts") as caught:
        report_emulation(plan, "fail")
    assert caught.value.exit_code == 2
    report_emulation(plan.on_engine(ARM64), "allow")  # amd64 emulated now, and allowed


def test_foreign_system_packages_are_cross_and_fail_accepts_them(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Runtime apt packages on a foreign glibc target are unpacked on the engine: the target
    is `platform_cross` with what still runs on it, --emulation fail accepts the build, and
    the runtime stage runs cross (native on amd64)."""
    configure_logging("json")
    plan = plan_for({"apt_packages": "imagemagick"})
    amd, arm = plan.targets
    assert arm.packages_cross and arm.debian_arch == "arm64" and not amd.packages_cross
    assert arm.emulated_work(plan.compile_bindings, True) == ()
    assert (amd.stage_runs("runtime"), arm.stage_runs("runtime")) == ("native", "cross")
    assert not arm.runs_emulated("runtime") and arm.runs_emulated("smoke")
    report_emulation(plan, "fail")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(e["event"], e["platform"]) for e in lines] == [
        ("platform_native", "linux/amd64"), ("platform_cross", "linux/arm64")]
    assert "ldconfig" in lines[1]["system_packages"]


def test_system_packages_fall_back_to_the_target_where_unpacking_cannot_apply() -> None:
    """On Alpine (apk) the packages install on the target, emulated, and fail refuses it; the
    benchmark's switch turns the engine path off the same way."""
    plan = plan_for({"apt_packages": "jq", "base_image": "node:22-alpine"})
    arm = plan.targets[1]
    assert not arm.packages_cross and arm.stage_runs("runtime") == "emulated"
    assert arm.emulated_work(plan.compile_bindings, True)[-1] == "system packages"
    with pytest.raises(EmulationRefusedError, match=r"linux/arm64 would run .*system packages"):
        report_emulation(plan, "fail")
    off = replace(plan_for({"apt_packages": "jq"}).targets[1], unpack_on_engine=False)
    assert not off.packages_cross and off.stage_runs("runtime") == "emulated"


def test_print_says_how_the_system_packages_reach_each_target() -> None:
    """--print: the runtime stage says native on amd64 and cross on arm64 (Debian's arch
    name, what still runs on the target), emulated with the reason on Alpine."""
    described = describe_plan(plan_for({"apt_packages": "jq"}))
    runtime = {t["platform"]: t["stages"][-1] for t in described["targets"]}
    assert runtime["linux/amd64"]["runs"] == "native"
    assert runtime["linux/amd64"]["system_packages"] == {"apt": ["jq"], "runs": "native"}
    arm = runtime["linux/arm64"]["system_packages"]
    assert (runtime["linux/arm64"]["runs"], arm["runs"], arm["debian_arch"]) == (
        "cross", "cross", "arm64")
    assert "maintainer scripts" in arm["how"]
    assert described["targets"][1]["emulated_work"] == []
    alpine = describe_plan(plan_for({"apt_packages": "jq", "base_image": "node:22-alpine"}))
    arm = alpine["targets"][1]["stages"][-1]["system_packages"]
    assert (arm["runs"], arm["why"]) == ("emulated",
                                         "musl: installed by the target's own package manager")
    assert "system_packages" not in describe_plan(plan_for())["targets"][1]["stages"][-1]
