"""Benchmark of the audit on a real 2,600-package npm lockfile and a real 2,300-package
pnpm-lock.yaml of the same package.json (run it, pytest does not collect it).

    python tests/benchmarks/bench_audit.py [--runs N] [--offline-only]

Prints wall-clock medians and ratios against baselines measured in the same run: json.load of
the npm lockfile, a plain yaml.load (PyYAML's C safe loader) of the pnpm one, and one
version-document fetch for the online audit. Exits 1 when either offline audit takes 0.5 s or
more, or either cold online audit 10 s or more. The pnpm lockfile records no install scripts,
so its online audit also asks the registry whether each production package has one.
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from pipelines.audit import DEFAULT_TARGETS, RegistryConfig, audit_source  # noqa: E402
from pipelines.audit.evidence import collect  # noqa: E402  (after sys.path, as above)
from pipelines.audit.install_scripts import scripts_wanted  # noqa: E402
from pipelines.audit.project import load_project  # noqa: E402

FIXTURE = REPO / "tests" / "fixtures" / "lockfiles" / "big"
PNPM_FIXTURE = REPO / "tests" / "fixtures" / "lockfiles" / "big-pnpm"
OFFLINE_BUDGET_S, ONLINE_BUDGET_S = 0.5, 10.0


def _timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def _median(action: Callable[[], object], runs: int) -> float:
    return statistics.median(_timed(action) for _ in range(runs))


def _source(scratch: Path) -> Path:
    """The committed fixture, decompressed: package.json + package-lock.json."""
    source = scratch / "big"
    source.mkdir()
    shutil.copy(FIXTURE / "package.json", source / "package.json")
    with gzip.open(FIXTURE / "package-lock.json.gz", "rb") as packed:
        (source / "package-lock.json").write_bytes(packed.read())
    return source


def main() -> int:
    """Measure, print, and compare with the budgets."""
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--runs", type=int, default=7)
    cli.add_argument("--offline-only", action="store_true")
    args = cli.parse_args()
    failed = False
    with tempfile.TemporaryDirectory() as directory:
        scratch = Path(directory)
        source = _source(scratch)
        lock = source / "package-lock.json"
        count = len(json.loads(lock.read_text())["packages"]) - 1
        base = RegistryConfig.from_env()
        print(f"lockfile: {count} packages, {lock.stat().st_size / 1e6:.2f} MB")
        load = _median(lambda: json.loads(lock.read_bytes()), args.runs)
        print(f"baseline json.load of the lockfile:   {load * 1000:8.1f} ms")
        empty = dataclasses.replace(base, cache_dir=scratch / "empty-cache")
        offline = _median(lambda: audit_source(source, offline=True, registry=empty), args.runs)
        failed |= offline >= OFFLINE_BUDGET_S
        print(f"offline audit (median of {args.runs}):       {offline * 1000:8.1f} ms  "
              f"= {offline / load:5.1f}x json.load   budget {OFFLINE_BUDGET_S} s: "
              f"{'ok' if offline < OFFLINE_BUDGET_S else 'OVER'}")
        failed |= _pnpm(scratch, empty, args.runs)
        if not args.offline_only:
            failed |= _online(source, scratch, base, load, min(args.runs, 3))
            failed |= _online_pnpm(scratch, base, min(args.runs, 3))
    return 1 if failed else 0


def _pnpm(scratch: Path, empty: RegistryConfig, runs: int) -> bool:
    """The offline audit of the pnpm lockfile against a plain yaml.load of it."""
    source = scratch / "big-pnpm"
    source.mkdir()
    shutil.copy(PNPM_FIXTURE / "package.json", source / "package.json")
    with gzip.open(PNPM_FIXTURE / "pnpm-lock.yaml.gz", "rb") as packed:
        (source / "pnpm-lock.yaml").write_bytes(packed.read())
    text = (source / "pnpm-lock.yaml").read_text()
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    data = yaml.load(text, Loader=loader)  # noqa: S506 - the safe loader
    count = len(data.get("snapshots") or {})
    print(f"pnpm lockfile: {count} packages, {len(text) / 1e6:.2f} MB")
    load = _median(lambda: yaml.load(text, Loader=loader), runs)  # noqa: S506
    print(f"baseline yaml.load of the lockfile:   {load * 1000:8.1f} ms")
    offline = _median(lambda: audit_source(source, offline=True, registry=empty), runs)
    print(f"offline pnpm audit (median of {runs}):  {offline * 1000:8.1f} ms  "
          f"= {offline / load:5.1f}x yaml.load   budget {OFFLINE_BUDGET_S} s: "
          f"{'ok' if offline < OFFLINE_BUDGET_S else 'OVER'}")
    return offline >= OFFLINE_BUDGET_S


def _online(source: Path, scratch: Path, base: RegistryConfig, load: float, runs: int) -> bool:
    """Cold-cache online audits (each with a fresh cache), then one warm run."""
    with httpx.Client(verify=base.ssl_context(), timeout=30) as client:
        client.get(f"{base.url}bcrypt/6.0.0")  # open the connection before timing one request
        one = _median(lambda: client.get(f"{base.url}bcrypt/6.0.0").raise_for_status(), 5)
    print(f"baseline one version document fetch:  {one * 1000:8.1f} ms")
    colds = []
    for run in range(runs):
        config = dataclasses.replace(base, cache_dir=scratch / f"cold-{run}")
        colds.append(_timed(lambda c=config: audit_source(source, offline=False, registry=c)))
    cold = statistics.median(colds)
    cache = scratch / "cold-0"
    fetched = sum(1 for _ in cache.rglob("*.json"))
    listed = sum(1 for _ in (cache / "files").rglob("*.json"))
    print(f"online audit, cold cache (median of {runs}): {cold * 1000:8.1f} ms  "
          f"= {cold / load:5.1f}x json.load = {cold / one:5.1f}x one fetch   "
          f"budget {ONLINE_BUDGET_S} s: {'ok' if cold < ONLINE_BUDGET_S else 'OVER'}")
    print(f"  fetched {fetched - listed} version documents and {listed} tarball listings")
    warm_config = dataclasses.replace(base, cache_dir=cache)
    warm = _timed(lambda: audit_source(source, offline=False, registry=warm_config))
    print(f"online audit, warm cache:             {warm * 1000:8.1f} ms  "
          f"= {warm / load:5.1f}x json.load")
    return cold >= ONLINE_BUDGET_S


def _online_pnpm(scratch: Path, base: RegistryConfig, runs: int) -> bool:
    """Cold-cache online audits of the pnpm lockfile (install scripts asked of the registry),
    against the offline audit of the same lockfile in the same run."""
    source = scratch / "big-pnpm"
    offline = _median(lambda: audit_source(
        source, offline=True, registry=dataclasses.replace(base, cache_dir=scratch / "none")), runs)
    colds = []
    for run in range(runs):
        config = dataclasses.replace(base, cache_dir=scratch / f"pnpm-cold-{run}")
        colds.append(_timed(lambda c=config: audit_source(source, offline=False, registry=c)))
    cold = statistics.median(colds)
    evidence = collect(load_project(source, None), DEFAULT_TARGETS)
    asked = sum(len(versions) for versions in scripts_wanted(evidence).values())
    report = audit_source(source, offline=False,
                          registry=dataclasses.replace(base, cache_dir=scratch / "pnpm-cold-0"))
    print(f"online pnpm audit, cold cache (median of {runs}): {cold * 1000:8.1f} ms  "
          f"= {cold / offline:5.1f}x its offline audit   budget {ONLINE_BUDGET_S} s: "
          f"{'ok' if cold < ONLINE_BUDGET_S else 'OVER'}")
    print(f"  install scripts of {asked} production name@version unknown to the lockfile; "
          f"{len(report.packages)} packages listed; notes: {len(report.notes)}")
    return cold >= ONLINE_BUDGET_S


if __name__ == "__main__":
    sys.exit(main())
