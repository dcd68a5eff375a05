"""The system-packages scenario of the build benchmark (`bench_build.py --system-packages`).

Builds tests/fixtures/services/apt-imaging (runtime apt packages jq and imagemagick: shared
libraries and maintainer scripts) for linux/amd64 and linux/arm64 on one engine, both ways in
the same run:

    cross      arm64's packages resolved, downloaded and unpacked on the engine's platform;
               only ldconfig and the maintainer scripts run on arm64 (the pipeline's way)
    emulated   apt-get install on arm64 itself, under emulation (the old way, kept for targets
               the cross way cannot serve)

Each way gets a fresh cache namespace, so its apt lists, archives and every stage that mounts
a cache run cold (the base images stay pulled, alike for both). Timed per platform, legs in
parallel: the leg (start to that platform's runtime image ready) and the runtime stage alone
(from its production dependencies ready to its runtime image ready). The bars: the arm64 leg
at most 1.15x the amd64 leg, the arm64 runtime stage at most 1.3x amd64's.
"""

from __future__ import annotations

import secrets
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import dagger

from pipelines.plan.prepare import prepare
from pipelines.run import graph as run
from pipelines.settings import load_settings

SERVICE = "tests/fixtures/services/apt-imaging"
# --on-example: the bundled example (dependencies with addons, a TypeScript build, its own
# addon) with the fixture's packages, a service's shape rather than packages alone.
EXAMPLE = "examples/native-service"
PACKAGES = "jq,imagemagick"
WAYS = ("cross", "emulated")
LEG_BAR, STAGE_BAR = 1.15, 1.3


async def one_way(repo: Path, way: str, namespace: str,
                  on_example: bool = False) -> dict[str, float]:
    """Build every runtime image `way`; seconds per platform: `leg` and `runtime` stage."""
    flags = {"source": str(repo / (EXAMPLE if on_example else SERVICE)),
             "cache_namespace": namespace, "audit": "offline"}
    if on_example:
        flags["apt_packages"] = PACKAGES
    settings = load_settings(flags, {})
    plan = await anyio.to_thread.run_sync(prepare, settings, await run.engine_platform())
    if way == "emulated":
        plan = replace(plan, targets=tuple(replace(t, unpack_on_engine=False)
                                           for t in plan.targets))
    images = run.build_graph(plan, run.source_directory(plan))
    started = time.monotonic()
    figures: dict[str, float] = {}

    async def leg(platform: Any) -> None:
        await images.deps[platform].sync()
        ready = time.monotonic()
        await images.runtimes[platform].sync()
        figures[f"leg {platform}"] = round(time.monotonic() - started, 1)
        figures[f"runtime {platform}"] = round(time.monotonic() - ready, 1)

    async with anyio.create_task_group() as group:
        for target in plan.targets:
            group.start_soon(leg, target.platform)
    return figures


async def system_packages(repo: Path, on_example: bool = False) -> dict[str, dict[str, float]]:
    """Both ways, one after the other, each in its own session and cache namespace."""
    token = secrets.token_hex(4)
    results = {}
    for way in WAYS:
        async with dagger.connection(dagger.Config(log_output=None)):
            results[way] = await one_way(repo, way, f"bench-sys-{token}-{way}", on_example)
        print(f"{way:9} " + "  ".join(f"{k} {v:.1f} s" for k, v in results[way].items()),
              file=sys.stderr, flush=True)
    return results


def system_table(results: dict[str, dict[str, float]]) -> str:
    """Legs and runtime stages per way, the arm64/amd64 ratios and whether each bar holds."""
    lines = ["way        amd64 leg  arm64 leg  leg ratio (<=1.15)  amd64 runtime  arm64 runtime  "
             "runtime ratio (<=1.3)"]
    for way, f in results.items():
        leg = f["leg linux/arm64"] / f["leg linux/amd64"]
        stage = f["runtime linux/arm64"] / max(f["runtime linux/amd64"], 0.05)
        lines.append(
            f"{way:10} {f['leg linux/amd64']:9.1f} {f['leg linux/arm64']:10.1f} "
            f"{leg:8.2f} {'ok' if leg <= LEG_BAR else 'over':>9}  "
            f"{f['runtime linux/amd64']:13.1f} {f['runtime linux/arm64']:14.1f} "
            f"{stage:8.2f} {'ok' if stage <= STAGE_BAR else 'over':>9}")
    return "\n".join(lines)
