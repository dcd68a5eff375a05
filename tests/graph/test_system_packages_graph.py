"""The runtime stage's system packages in the lazy graph: native apt on the engine's own
platform, unpacked on the engine for a foreign glibc target, apt on the target otherwise."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from dagger import dag

from pipelines.plan.prepare import prepare
from pipelines.platforms import Platform
from pipelines.run import graph as run
from pipelines.settings import load_settings
from pipelines.stages.debs import UNPACKED, WORK_DIR
from tests.conftest import REPO
from tests.graph import query

APT_TOOL = REPO / "tests/fixtures/services/apt-tool"


def plan_for(**flags: Any) -> Any:
    """The apt-tool service (jq at runtime) planned on an amd64 engine."""
    settings = load_settings({"source": str(APT_TOOL), **flags}, {})
    return prepare(settings, Platform.parse("linux/amd64"), audit={})


def unpacking(runtime: Any) -> Any:
    """The engine-side container whose output the runtime image merges at `/`."""
    (merge,) = [c for c in query.named(runtime, "withDirectory") if c.args["path"] == "/"]
    return merge.args["source"]


def test_amd64_installs_its_packages_natively_with_apt_as_before() -> None:
    """On the engine's own platform the runtime image runs apt-get install itself, with its
    own target's apt caches, and merges nothing unpacked elsewhere."""
    plan = plan_for()
    amd = plan.targets[0]
    runtime = run.build_graph(plan, dag.directory()).runtimes[amd.platform]
    assert query.platform(runtime) == "linux/amd64"
    assert any("apt-get install" in " ".join(c) and "jq" in c[-1] for c in query.execs(runtime))
    assert {key for _, key, _ in query.cache_mounts(runtime)} == {
        c.name for c in amd.caches if c.is_apt}
    assert not [c for c in query.named(runtime, "withDirectory") if c.args["path"] == "/"]


def test_arm64_unpacks_on_the_engine_and_runs_only_configure_on_the_target() -> None:
    """arm64 on an amd64 engine: apt resolves and downloads for arm64 on the engine's platform
    with arm64's own apt caches (none of amd64's), against the arm64 image's dpkg status read
    without running it; the arm64 image merges the result and runs one command: the
    maintainer scripts and ldconfig, its tools mounted so they never ship."""
    plan = plan_for()
    amd, arm = plan.targets
    runtime = run.build_graph(plan, dag.directory()).runtimes[arm.platform]
    assert query.platform(runtime) == "linux/arm64"
    assert query.execs(runtime) == [["sh", f"{WORK_DIR}/configure.sh", WORK_DIR]]
    assert query.cache_mounts(runtime) == []
    mounted = [c.args["path"] for c in query.named(runtime, "withMountedDirectory")]
    unmounted = [c.args["path"] for c in query.named(runtime, "withoutMount")]
    assert mounted == unmounted == [WORK_DIR]
    unpack = unpacking(runtime)
    assert query.calls(unpack)[-1].args["path"] == "root"
    engine_side = next(o for o in query.objects_in(runtime) if query.calls(o)[0].name ==
                       "container" and any(c.name == "withExec" for c in query.calls(o)))
    assert query.platform(engine_side) is None
    assert query.execs(engine_side)[-1] == [
        "sh", f"{WORK_DIR}/unpack.sh", "arm64", f"{WORK_DIR}/status", UNPACKED, "jq"]
    keys = {key for _, key, _ in query.cache_mounts(engine_side)}
    assert keys == {c.name for c in arm.caches if c.is_apt}
    assert not keys & {c.name for c in amd.caches}
    (status,) = [c for c in query.named(engine_side, "withFile")
                 if c.args["path"] == f"{WORK_DIR}/status"]
    target_base = status.args["source"]
    assert query.platform(target_base) == "linux/arm64"
    assert query.named(target_base, "withExec") == []


def test_unpacking_turned_off_runs_apt_on_the_target_as_the_old_way() -> None:
    """With unpacking on the engine off (the benchmark's other leg), arm64 runs apt-get
    install in its own arm64 container, under emulation."""
    plan = plan_for()
    arm = replace(plan.targets[1], unpack_on_engine=False)
    plan = replace(plan, targets=(plan.targets[0], arm))
    runtime = run.build_graph(plan, dag.directory()).runtimes[arm.platform]
    assert query.platform(runtime) == "linux/arm64"
    assert any("apt-get install" in " ".join(c) for c in query.execs(runtime))
    assert not [c for c in query.named(runtime, "withDirectory") if c.args["path"] == "/"]
