"""The whole pipeline on a real Dagger engine: build, export and publish the bundled example."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest
from dagger import dag

from pipelines import run
from pipelines.build import make_plan
from pipelines.execute import check_targets, execute
from pipelines.platforms import Platform
from pipelines.report import Report
from pipelines.run import Clock, build_all
from pipelines.settings import load_settings

pytestmark = pytest.mark.engine


async def _plan_and_images(tmp_path: Path, **flags: object):
    settings = load_settings({"export_path": str(tmp_path / "image.oci.tar"), **flags}, {})
    plan = make_plan(settings, await run.engine_platform())
    return settings, plan, run.build_graph(plan, run.source_directory(plan))


async def test_export_writes_a_two_platform_oci_archive(engine: None, tmp_path: Path) -> None:
    """The exported archive's index lists linux/amd64 and linux/arm64, one manifest each."""
    settings, plan, _ = await _plan_and_images(tmp_path)
    path = await execute(settings, Report(plan), {})
    with tarfile.open(path) as archive:
        index = json.load(archive.extractfile("index.json"))  # type: ignore[arg-type]
        if index["manifests"][0]["mediaType"].endswith("image.index.v1+json"):
            digest = index["manifests"][0]["digest"].split(":")[1]
            index = json.load(archive.extractfile(f"blobs/sha256/{digest}"))  # type: ignore[arg-type]
    platforms = sorted(f"{m['platform']['os']}/{m['platform']['architecture']}"
                       for m in index["manifests"])
    assert platforms == ["linux/amd64", "linux/arm64"]
    assert len({m["digest"] for m in index["manifests"]}) == 2


async def test_runtime_image_is_lean_and_non_root(engine: None, tmp_path: Path) -> None:
    """Each runtime image runs as node, has no compiler, and its addons load for its arch."""
    _, plan, images = await _plan_and_images(tmp_path)
    for target in plan.targets:
        runtime = images.runtimes[target.platform]
        assert (await runtime.with_exec(["id", "-un"]).stdout()).strip() == "node"
        probe = runtime.with_exec(["sh", "-c", "command -v gcc g++ make python3 || true"])
        assert (await probe.stdout()).strip() == ""
        script = ("for (const p of ['bcrypt','better-sqlite3','sharp']) require(p);"
                  "console.log(process.arch)")
        arch = await runtime.with_exec(["node", "-e", script]).stdout()
        assert arch.strip() == Platform.parse(str(target.platform)).node_arch


async def test_publish_pushes_one_index(engine: None, tmp_path: Path) -> None:
    """Publishing to a registry service returns REF@sha256 of a two-platform index."""
    registry = dag.container().from_("registry:2").with_exposed_port(5000).as_service()
    _, _, images = await _plan_and_images(tmp_path)
    ref = await dag.container().publish(
        "registry:5000/native-service:test",
        platform_variants=images.variants,
        registry_service=registry,
    )
    assert "@sha256:" in ref


async def test_smoke_probe_and_hygiene_pass_on_the_real_images(
    engine: None, tmp_path: Path
) -> None:
    """Every native addon loads, /healthz answers and hygiene is clean on each runtime image."""
    _, plan, images = await _plan_and_images(tmp_path)
    clock = Clock()
    await build_all(plan, images, clock)
    await check_targets(plan, images, clock, Report(plan))
    for target in plan.targets:
        for stage in ("smoke", "hygiene", "probe"):
            assert f"{stage}:{target.platform}" in clock.durations
