"""The engines setting (PLATFORM=RUNNER_HOST) and the plan of a build across engines."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pipelines.build import main
from pipelines.plan.describe import describe_plan
from pipelines.plan.emulation import EmulationRefusedError, report_emulation
from pipelines.plan.prepare import prepare
from pipelines.platforms import Platform
from pipelines.run.report import Report
from pipelines.settings import SettingsError, load_settings
from tests.conftest import EXAMPLE

AMD64, ARM64 = Platform.parse("linux/amd64"), Platform.parse("linux/arm64")
ARM_HOST = "tcp://arm-builder:1234"


def test_flags_env_and_config_file_map_platforms_to_runner_hosts(tmp_path: Path) -> None:
    """--engine (repeatable), NODEPIPE_ENGINES (comma-separated) and the config file (a list or
    a table) all give the same mapping; flags beat the environment, which beats the file."""
    flags = load_settings({"engines": [f"linux/arm64={ARM_HOST}"]}, {})
    env = load_settings({}, {"NODEPIPE_ENGINES": f"linux/aarch64={ARM_HOST}"})
    assert flags.engine_hosts == env.engine_hosts == {ARM64: ARM_HOST}
    source = tmp_path / "svc"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("node_modules"))
    (source / "node-pipelines.toml").write_text(
        '[engines]\n"linux/arm64" = "kube-pod://builder?namespace=ci"\n'
        '"linux/amd64" = "unix:///run/dagger/engine.sock"\n')
    table = load_settings({"source": str(source)}, {})
    assert table.engine_hosts == {ARM64: "kube-pod://builder?namespace=ci",
                                  AMD64: "unix:///run/dagger/engine.sock"}
    env_wins = load_settings({"source": str(source)},
                             {"NODEPIPE_ENGINES": f"linux/arm64={ARM_HOST}"})
    assert env_wins.engine_hosts == {ARM64: ARM_HOST}
    assert load_settings({}, {}).engine_hosts == {}


def test_every_bad_engine_is_named_in_one_sentence() -> None:
    """A platform outside the build, a host without scheme, an unknown scheme, a malformed
    item and a platform given twice are all named at once."""
    items = ["linux/riscv64=tcp://rv:1234", "linux/arm64=arm-builder:1234",
             "linux/amd64=tpc://x86:1234", "arm64", f"linux/arm64={ARM_HOST}"]
    with pytest.raises(SettingsError) as caught:
        load_settings({"engines": items, "platforms": "linux/amd64,linux/arm64"}, {})
    text = str(caught.value)
    for part in ("linux/riscv64 is not one of the build's platforms (linux/amd64, linux/arm64)",
                 "'arm-builder:1234' for linux/arm64 has no scheme such as tcp://",
                 "'tpc://x86:1234' for linux/amd64 has the scheme tpc://",
                 "'arm64' is not PLATFORM=RUNNER_HOST", "linux/arm64 is given two engines",
                 "NODEPIPE_ENGINES"):
        assert part in text, text
    assert "\n" not in text and caught.value.exit_code == 2


def test_a_bad_engine_flag_exits_2_with_one_error_line(capsys: pytest.CaptureFixture[str]) -> None:
    """On the command line, a bad --engine is one ERROR line and exit code 2, no traceback."""
    code = main(["--print", "--audit", "offline", "--engine", "linux/arm64=builder:1234",
                 "--engine", "linux/s390x=tcp://z:1"])
    err = capsys.readouterr().err
    assert code == 2
    lines = [line for line in err.splitlines() if line.startswith("ERROR")]
    assert len(lines) == 1 and "builder:1234" in lines[0] and "linux/s390x" in lines[0], err
    assert "Traceback" not in err


def plan_with_arm_engine(engine: Platform = AMD64, **flags: object):
    settings = load_settings({"engines": [f"linux/arm64={ARM_HOST}"], **flags}, {})
    return prepare(settings, engine, audit={})


def test_a_mapped_target_is_native_on_its_own_engine_in_the_plan() -> None:
    """On an amd64 default engine, linux/arm64 mapped to its own engine is not emulated: its
    compiles run on that engine, natively, and --print says which engine and platform."""
    plan = plan_with_arm_engine()
    amd, arm = plan.targets
    assert (amd.engine, amd.emulated) == ("", False)
    assert (arm.engine, arm.engine_platform, arm.emulated) == (ARM_HOST, ARM64, False)
    assert arm.compiles_on_engine and not arm.cross and not arm.runs_emulated("smoke")
    described = describe_plan(plan)
    assert described["engines"] == {"linux/arm64": ARM_HOST}
    assert described["build"]["engines"] == ["default", ARM_HOST]
    targets = {t["platform"]: t for t in described["targets"]}
    assert (targets["linux/arm64"]["engine"], targets["linux/arm64"]["engine_platform"],
            targets["linux/arm64"]["emulated"]) == (ARM_HOST, "linux/arm64", False)
    assert (targets["linux/amd64"]["engine"], targets["linux/amd64"]["engine_platform"]) == (
        "default", "linux/amd64")
    bindings = [s for s in targets["linux/arm64"]["stages"] if s["name"] == "bindings"]
    assert bindings and bindings[0]["platform"] is None and not bindings[0]["cross"]
    json.dumps(described)


def test_emulation_fail_passes_with_a_native_engine_and_names_it_when_not() -> None:
    """--emulation fail accepts arm64 on its own arm64 engine; an engine that reports another
    platform makes the target emulated there, and the refusal names that engine (runtime apt
    packages on an Alpine base are installed by apk on the target)."""
    plan = plan_with_arm_engine(apt_packages="jq", base_image="node:22-alpine")
    report_emulation(plan, "fail")  # nothing emulated: no error
    wrong = plan.on_engine(AMD64, {ARM_HOST: AMD64})
    arm = wrong.targets[1]
    assert arm.emulated and arm.engine_platform == AMD64
    with pytest.raises(EmulationRefusedError) as caught:
        report_emulation(wrong, "fail")
    wanted = ("linux/arm64 would run bindings, system packages emulated on the linux/amd64 "
              "engine at "
              f"{ARM_HOST}")
    assert wanted in str(caught.value), str(caught.value)


def test_each_engine_gets_its_own_part_of_the_plan() -> None:
    """for_engine cuts the plan per engine: the default engine keeps amd64, the mapped engine
    gets arm64 with its build caches keyed to its own platform."""
    plan = plan_with_arm_engine()
    assert plan.engines == ("", ARM_HOST)
    default, mapped = plan.for_engine(""), plan.for_engine(ARM_HOST)
    assert [str(t.platform) for t in default.targets] == ["linux/amd64"]
    assert [str(t.platform) for t in mapped.targets] == ["linux/arm64"]
    assert mapped.engine_platform == ARM64 and default.engine_platform == AMD64
    assert {c.name for c in mapped.build_caches} != {c.name for c in default.build_caches}


def test_the_report_says_which_engine_each_target_ran_on() -> None:
    """The step summary says `native on <host>` for a mapped target; the JSON has the engine."""
    report = Report(plan_with_arm_engine())
    markdown = report.to_markdown()
    assert f"| linux/arm64 | native on {ARM_HOST} |" in markdown, markdown
    assert "| linux/amd64 | native |" in markdown
    targets = report.to_json()["plan"]["targets"]
    assert [t["engine"] for t in targets] == ["default", ARM_HOST]


def test_print_shows_the_engines_without_contacting_any(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`--print --engine ...` exits 0 with the mapping in the plan; nothing is connected to
    (the host named does not exist)."""
    code = main(["--print", "--audit", "offline", "--engine", f"linux/arm64={ARM_HOST}"])
    out = capsys.readouterr().out
    assert code == 0
    plan = json.loads(out)
    assert plan["engines"] == {"linux/arm64": ARM_HOST}
    arm = next(t for t in plan["targets"] if t["platform"] == "linux/arm64")
    assert (arm["engine"], arm["engine_platform"], arm["emulated"]) == (ARM_HOST, "linux/arm64",
                                                                        False)
