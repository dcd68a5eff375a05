"""Benchmark: build once natively versus once per platform (run it; pytest does not collect it).

    python tests/benchmarks/bench_build_once.py [--runs N]

Times, on this machine, the saving behind node-pipelines' central design choice with the real
examples/native-service in fresh temp copies, Node 22 from tests/.tools (x64 natively, arm64 via
QEMU binfmt) and the host's npm-cli.js run under that Node (its bin dir first on PATH, for tsc).

    A  seed-style arm64 leg, all under QEMU: npm ci --ignore-scripts, npm run compile, then
       npm ci --omit=dev --ignore-scripts in a fresh copy (what every stage costs per platform).
    B  seed-style amd64 leg: the same natively (the baseline, measured in the same run).
    C  node-pipelines, as its plan for the example says (`python -m pipelines.build --print`):
       npm ci --ignore-scripts + npm run compile once natively, then per target the plan's
       production install, natively when the plan puts it on the build platform (scripts off,
       npm told --os/--cpu/--libc), else under that target's Node.

An untimed warm-up fills a shared npm cache; timed steps run --offline (no network). Legs run
interleaved; each total is the median over rounds. Not measured, as both designs pay them:
apt/toolchain, the addon compile (compile:bindings), image assembly, push. Exit 2 when a tool
is missing, 1 when an npm step fails or produces nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "native-service"
TOOLS = REPO / "tests" / ".tools"
QUIET = ("--no-audit", "--no-fund", "--loglevel=error")
FULL = ("ci", "--ignore-scripts", *QUIET)
PROD = ("ci", "--omit=dev", "--ignore-scripts", *QUIET)


class BenchError(Exception):
    """Why the benchmark stopped: str() is the one sentence the user reads; 2 = missing tool."""

    def __init__(self, sentence: str, exit_code: int = 1) -> None:
        super().__init__(sentence)
        self.exit_code = exit_code


@dataclasses.dataclass(frozen=True)
class Round:
    """Seconds measured in one round: legs A and B, and leg C's three steps."""
    seed_arm64: float
    seed_amd64: float
    once: float
    amd64: float
    arm64: float


@dataclasses.dataclass(frozen=True)
class Npm:
    """The host's npm CLI run under one Node binary, sharing one npm cache."""
    node: Path
    arch: str
    cli: Path
    cache: Path
    offline: bool = True

    def run(self, cwd: Path, *args: str) -> None:
        """Run `npm ARGS` in cwd; raise BenchError on a non-zero exit."""
        path = f"{self.node.parent}{os.pathsep}{os.environ.get('PATH', '')}"
        env = dict(os.environ, PATH=path, npm_config_cache=str(self.cache),
                   npm_config_offline=str(self.offline).lower(), npm_config_update_notifier="false")
        done = subprocess.run([str(self.node), str(self.cli), *args], cwd=cwd, env=env,
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            tail = (done.stderr.strip().splitlines() or ["(no stderr)"])[-1]
            raise BenchError(f"npm {' '.join(args[:3])} under {self.node} "
                             f"exited {done.returncode}: {tail}")


def _toolchain(cache: Path) -> tuple[Npm, Npm]:
    """npm under x64 Node and under arm64 Node, each checked to run as that architecture."""
    npm_command = shutil.which("npm")  # links to npm's JavaScript entry point, npm-cli.js
    cli = Path(npm_command).resolve() if npm_command else Path("npm")
    if cli.name != "npm-cli.js":
        raise BenchError(f"npm's npm-cli.js was not found (host npm: {cli}); install npm.", 2)
    pair = tuple(Npm(TOOLS / f"node-{arch}" / "bin" / "node", arch, cli, cache)
                 for arch in ("x64", "arm64"))
    for npm in pair:
        # Running each Node once also puts its 120 MB binary in the page cache before timing.
        done = subprocess.run([str(npm.node), "-p", "process.arch"], capture_output=True,
                              text=True, check=False) if npm.node.is_file() else None
        if done is None or done.stdout.strip() != npm.arch:
            raise BenchError(f"{npm.node} is missing or does not run as {npm.arch}; "
                             "run `bash tests/host-setup.sh` (Node, QEMU binfmt) first.", 2)
    return pair[0], pair[1]


def _expect(*outputs: tuple[Path, str]) -> None:
    """Fail unless each step really produced its output: dist/, or sharp's prebuilt for an arch."""
    for directory, arch in outputs:
        wanted = "dist/entrypoint.js" if arch == "dist" else f"node_modules/@img/sharp-linux-{arch}"
        if not (directory / wanted).exists():
            raise BenchError(f"{directory / wanted} is missing after its npm step.")


def _copy(scratch: Path) -> Path:
    """A fresh copy of the example's sources (not timed)."""
    target = Path(tempfile.mkdtemp(dir=scratch))
    # A local dev build of the example may have left outputs behind; they must not be reused.
    skip = shutil.ignore_patterns("node_modules", "dist", "build")
    return Path(shutil.copytree(EXAMPLE, target, ignore=skip, dirs_exist_ok=True))


def _seed_leg(npm: Npm, scratch: Path) -> float:
    """Seconds for one platform's stages, seed-style: full install, compile, production install."""
    build, runtime = _copy(scratch), _copy(scratch)
    start = time.perf_counter()
    npm.run(build, *FULL)
    npm.run(build, "run", "compile", "--silent")
    npm.run(runtime, *PROD)
    seconds = time.perf_counter() - start
    _expect((build, "dist"), (runtime, npm.arch))
    return seconds


def _plan_installs() -> dict[str, tuple[bool, tuple[str, ...]]]:
    """Per Node arch, from the build's own plan: (runs on the build platform, npm arguments)."""
    sys.path.insert(0, str(REPO))
    from pipelines.plan.prepare import prepare  # noqa: PLC0415
    from pipelines.platforms import Platform  # noqa: PLC0415
    from pipelines.settings import load_settings  # noqa: PLC0415

    plan = prepare(load_settings({}, {}), Platform.parse("linux/amd64"))
    return {t.platform.node_arch: (not t.rebuild, (*plan.install_production(t).commands[0][1:],
                                                    *QUIET))
            for t in plan.targets}


def _build_once(
    native: Npm, arm: Npm, scratch: Path, installs: dict[str, tuple[bool, tuple[str, ...]]]
) -> tuple[float, float, float]:
    """Seconds for node-pipelines' schedule: (once natively, amd64 install, arm64 install)."""
    build, amd64, arm64 = _copy(scratch), _copy(scratch), _copy(scratch)
    start = time.perf_counter()
    native.run(build, *FULL)
    native.run(build, "run", "compile", "--silent")
    once = time.perf_counter()
    native.run(amd64, *installs["x64"][1])
    amd = time.perf_counter()
    (native if installs["arm64"][0] else arm).run(arm64, *installs["arm64"][1])
    parts = (once - start, amd - once, time.perf_counter() - amd)
    _expect((build, "dist"), (amd64, "x64"), (arm64, "arm64"))
    return parts


def _warm_up(native: Npm, scratch: Path) -> None:
    """Fill the shared cache with every tarball the timed steps install (untimed, online)."""
    online = dataclasses.replace(native, offline=False)
    online.run(_copy(scratch), *FULL)
    for cpu in ("x64", "arm64"):
        online.run(_copy(scratch), *PROD, "--os=linux", f"--cpu={cpu}")


def _report(runs: int, rounds: list[Round], arm_native: bool) -> None:
    """Print the table of medians and the two ratios."""
    a, b, once, amd, arm = (statistics.median(getattr(r, field.name) for r in rounds)
                            for field in dataclasses.fields(Round))
    c = statistics.median(r.once + r.amd64 + r.arm64 for r in rounds)
    print(f"examples/native-service, Node 22 x64 native + arm64 under QEMU, median of {runs} runs,"
          f" warm shared npm cache, timed npm steps --offline (no network)\n{'leg':<64}seconds")
    for label, seconds in (
        ("A  seed-style arm64 leg (QEMU): ci + compile + ci --omit=dev", a),
        ("B  seed-style amd64 leg (native): same steps", b),
        ("   A+B  seed-style total, sequential", a + b),
        ("C  node-pipelines total, sequential", c),
        ("     once, native: ci --ignore-scripts + compile", once),
        ("     amd64, native: ci --omit=dev --cpu=x64", amd),
        ("     arm64, " + ("native: " if arm_native else "QEMU:   ")
         + "ci --omit=dev --cpu=arm64", arm),
    ):
        print(f"{label:<64}{seconds:>7.1f}")
    print(f"{'A/B      emulation factor for this work':<64}{a / b:>6.2f}x")
    print(f"{'(A+B)/C  node-pipelines speed-up, same outputs':<64}{(a + b) / c:>6.2f}x")
    print("not included (both designs pay them): apt/toolchain, npm run compile:bindings "
          "(addon), image assembly, push; no parallelism, no Dagger/BuildKit overhead")


def main() -> int:
    """Warm the cache, time the legs interleaved, print the table."""
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--runs", type=int, default=3, help="rounds to take the median of")
    args = cli.parse_args()
    rounds: list[Round] = []
    with tempfile.TemporaryDirectory(prefix="bench-build-once-") as directory:
        scratch = Path(directory)
        try:
            native, arm = _toolchain(scratch / "npm-cache")
            installs = _plan_installs()
            _warm_up(native, scratch)
            for _ in range(args.runs):
                rounds.append(Round(_seed_leg(arm, scratch), _seed_leg(native, scratch),
                                    *_build_once(native, arm, scratch, installs)))
                print(f"round {len(rounds)}/{args.runs}: {rounds[-1]}", file=sys.stderr)
        except BenchError as error:
            print(f"ERROR {error}", file=sys.stderr)
            return error.exit_code
    _report(args.runs, rounds, arm_native=installs["arm64"][0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
