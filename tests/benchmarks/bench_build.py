"""Benchmark on a real Dagger engine: node-pipelines against the seed's per-platform Dockerfile.

    python tests/benchmarks/bench_build.py --cold-reset 'COMMAND' [--json PATH]
    python tests/benchmarks/bench_build.py --system-packages [--json PATH]

Builds examples/native-service (a fresh temp copy) for linux/amd64 and linux/arm64, four
scenarios, each for both designs, in the same run:

    cold         no cached layer and a fresh cache namespace: COMMAND (which must wipe the
                 engine's state, e.g. remove its volume and restart it) runs before each cold leg
    warm         the same build again, nothing changed
    source       a one-line change in src/entrypoint.ts
    lockfile     a dependency added to package.json and package-lock.json (ms@2, by npm)

node-pipelines runs its own plan and stages (`prepare`, `build_graph`); the baseline is the
seed's three-stage Dockerfile below, built per platform with Dagger's `Directory.docker_build`
(the toolchain apt-installed in the build stage, arm64 under QEMU). Timed, for both: every
platform's runtime image built, legs in parallel, as each design runs them; a leg ends when
its platform's image is ready. Not timed: the checks and the export, which the baseline does
not have. Prints a ratio table on stdout and writes the figures as JSON. Exit 2 without an
engine or without --cold-reset, 1 when a build fails.

`--system-packages` runs the runtime system packages scenario instead (bench_system_packages.py:
the arm64 leg and runtime stage against amd64's, unpacked on the engine beside apt under
emulation, in one run); it needs no --cold-reset, each way having a fresh cache namespace.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import dagger
from dagger import dag

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from pipelines.plan.prepare import prepare  # noqa: E402
from pipelines.run import graph as run  # noqa: E402 - the repo is put on the path above
from pipelines.settings import load_settings  # noqa: E402
from tests.benchmarks.bench_system_packages import system_packages, system_table  # noqa: E402

EXAMPLE = REPO / "examples" / "native-service"
PLATFORMS = ("linux/amd64", "linux/arm64")
# The seed's Dockerfile: every stage per platform, the toolchain in the build stage. Like the
# pipeline's own build containers it reads Node's headers from the image (npm_config_nodedir)
# and the system CA bundle, so both reach the same network the same way.
SEED_DOCKERFILE = """\
FROM node:22-bookworm-slim AS build
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt npm_config_nodedir=/usr/local
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ pkg-config \\
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY . .
RUN npm run compile && npm run compile:bindings

FROM node:22-bookworm-slim AS deps
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts

FROM node:22-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules node_modules
COPY --from=build /app/dist dist
COPY --from=build /app/native/build/Release native/build/Release
COPY package.json ./
USER node
CMD ["node", "dist/entrypoint.js"]
"""


class BenchError(Exception):
    """Why the benchmark stopped: str() is the sentence; exit_code 2 for missing input."""

    def __init__(self, sentence: str, exit_code: int = 1) -> None:
        super().__init__(sentence)
        self.exit_code = exit_code


def copy_example(work: Path) -> Path:
    """A fresh copy of the example with the seed's Dockerfile beside it."""
    source = work / "native-service"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("node_modules", "dist",
                                                                   "build"))
    (source / "Dockerfile").write_text(SEED_DOCKERFILE)
    # The Dockerfile's COPY . . must not send it host build output either.
    (source / ".dockerignore").write_text("node_modules\ndist\nnative/build\n")
    return source


async def timed_legs(legs: dict[str, Callable[[], Awaitable[Any]]]) -> dict[str, float]:
    """Run every leg in parallel; seconds from the common start to each leg's end, and total."""
    started = time.monotonic()
    ends: dict[str, float] = {}

    async def one(name: str, leg: Callable[[], Awaitable[Any]]) -> None:
        await leg()
        ends[name] = round(time.monotonic() - started, 1)

    async with anyio.create_task_group() as group:
        for name, leg in legs.items():
            group.start_soon(one, name, leg)
    return {**ends, "total": max(ends.values())}


async def node_pipelines(source: Path, namespace: str) -> dict[str, float]:
    """node-pipelines' own plan and stages: every runtime image, legs in parallel."""
    settings = load_settings({"source": str(source), "cache_namespace": namespace,
                              "audit": "offline"}, {})
    plan = await anyio.to_thread.run_sync(prepare, settings, await run.engine_platform())
    images = run.build_graph(plan, run.source_directory(plan))
    return await timed_legs({str(t.platform): images.runtimes[t.platform].sync
                             for t in plan.targets})


async def seed(source: Path) -> dict[str, float]:
    """The seed's Dockerfile built per platform with Dagger's docker_build."""
    context = dag.host().directory(str(source), exclude=["node_modules", "dist", "native/build"])
    return await timed_legs({
        p: context.docker_build(platform=dagger.Platform(p)).sync for p in PLATFORMS})


async def measure(design: str, source: Path, namespace: str) -> dict[str, float]:
    """One build of `design` in its own engine session (a cold reset restarts the engine)."""
    async with dagger.connection(dagger.Config(log_output=None)):
        if design == "node-pipelines":
            return await node_pipelines(source, namespace)
        return await seed(source)


def reset(command: str) -> None:
    """Wipe the engine's state before a cold leg."""
    done = subprocess.run(command, shell=True, capture_output=True, text=True,  # noqa: S602
                          check=False, timeout=600)
    if done.returncode != 0:
        raise BenchError(f"--cold-reset exited with {done.returncode}: {done.stderr[-300:]}")


def change_source(source: Path) -> None:
    """A one-line change in src/ no earlier run made."""
    entry = source / "src" / "entrypoint.ts"
    entry.write_text(entry.read_text() + f"\n// benchmark change {secrets.token_hex(6)}\n")


def change_lockfile(source: Path) -> None:
    """A dependency added by npm itself: package.json and package-lock.json change."""
    npm = shutil.which("npm")
    if npm is None:
        raise BenchError("npm is not installed: it makes the lockfile change", exit_code=2)
    done = subprocess.run([npm, "install", "--package-lock-only", "--ignore-scripts", "ms@2"],
                          cwd=source, capture_output=True, text=True, check=False, timeout=300)
    if done.returncode != 0:
        raise BenchError(f"npm install ms@2 failed: {done.stderr[-300:]}")


async def scenarios(cold_reset: str, work: Path) -> dict[str, dict[str, dict[str, float]]]:
    """Every scenario for both designs: {scenario: {design: {leg: seconds}}}."""
    sources = {d: copy_example(work / d) for d in ("node-pipelines", "seed")}
    namespace = f"bench-{secrets.token_hex(4)}"
    results: dict[str, dict[str, dict[str, float]]] = {}
    steps: list[tuple[str, Callable[[Path], None] | None]] = [
        ("cold", None), ("warm", None), ("source", change_source), ("lockfile", change_lockfile)]
    # Each design's four scenarios in a row: a cold reset for the other design's cold leg
    # would otherwise wipe what this one's warm legs reuse.
    for design, source in sources.items():
        for scenario, change in steps:
            if scenario == "cold":
                reset(cold_reset)
            if change is not None:
                change(source)
            figures = await measure(design, source, namespace)
            results.setdefault(scenario, {})[design] = figures
            print(f"{scenario:9} {design:15} " + "  ".join(
                f"{k} {v:.1f} s" for k, v in figures.items()), file=sys.stderr, flush=True)
    return results


def table(results: dict[str, dict[str, dict[str, float]]]) -> str:
    """The ratio table: per scenario, both designs' legs and total, and the ratios."""
    cold = results["cold"]["node-pipelines"]["total"]
    lines = ["scenario   design           amd64 s  arm64 s  total s  np/seed  vs np cold  "
             "arm64/amd64"]
    for scenario, designs in results.items():
        seed_total = designs["seed"]["total"]
        for design, f in designs.items():
            ratio = _ratio(f["total"], seed_total) if design == "node-pipelines" else "1.00"
            lines.append(
                f"{scenario:10} {design:15} {f['linux/amd64']:8.1f} {f['linux/arm64']:8.1f} "
                f"{f['total']:8.1f} {ratio:>8} {_ratio(f['total'], cold):>11} "
                f"{_ratio(f['linux/arm64'], f['linux/amd64']):>12}")
    return "\n".join(lines)


def _ratio(part: float, whole: float) -> str:
    """part/whole, or '-' when the whole rounds to nothing (a fully cached warm build)."""
    return f"{part / whole:.2f}" if whole >= 0.05 else "-"


def check_inputs(cold_reset: str | None, system: bool = False) -> None:
    """Refuse, in one sentence, a run that could not measure what it claims."""
    if not cold_reset and not system:
        raise BenchError("a cold build needs --cold-reset COMMAND, which wipes the engine's "
                         "state (its cache volume) and restarts it", exit_code=2)
    if not any(os.environ.get(v) for v in ("DAGGER_SESSION_PORT", "_EXPERIMENTAL_DAGGER_CLI_BIN")):
        raise BenchError("no Dagger engine: run it under `dagger run`, or name a CLI with "
                         "_EXPERIMENTAL_DAGGER_CLI_BIN", exit_code=2)


def main(argv: list[str] | None = None) -> int:
    """Run the scenarios; print the table on stdout and write the JSON."""
    parser = argparse.ArgumentParser(prog="python tests/benchmarks/bench_build.py")
    parser.add_argument("--cold-reset", help="shell command that wipes the engine's state")
    parser.add_argument("--system-packages", action="store_true",
                        help="run the runtime system packages scenario instead")
    parser.add_argument("--on-example", action="store_true",
                        help="with --system-packages: the example service (its own addons, "
                             "dependencies and build) with the same packages, in place of the "
                             "packages-only fixture")
    parser.add_argument("--json", type=Path, default=Path("build/bench-build.json"))
    args = parser.parse_args(argv)
    try:
        check_inputs(args.cold_reset, args.system_packages)
        if args.system_packages:
            figures = anyio.run(system_packages, REPO, args.on_example)
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(figures, indent=2) + "\n")
            print(system_table(figures))
            return 0
        with tempfile.TemporaryDirectory(prefix="bench-build-") as work:
            results = anyio.run(scenarios, args.cold_reset, Path(work))
    except BenchError as error:
        print(f"ERROR {error}", file=sys.stderr)
        return error.exit_code
    except (dagger.DaggerError, ExceptionGroup) as error:
        first = error.exceptions[0] if isinstance(error, ExceptionGroup) else error
        print(f"ERROR a build failed: {str(first).splitlines()[0][:300]}", file=sys.stderr)
        return 1
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
