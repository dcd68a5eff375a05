"""Benchmark of the SBOM on the real 2,600-package npm lockfile of bench_audit.py (run it,
pytest does not collect it): once for its production closure as the build installs it, and
once with every package of the lockfile counted as installed (a service of 2,599 packages).

    python tests/benchmarks/bench_sbom.py [--runs N]

Prints wall-clock medians of one platform's SBOM (CycloneDX JSON through
cyclonedx-python-lib) and of its provenance, with a same-run baseline: json.dumps of the parsed
lockfile. Exits 1 when the SBOM takes 2 s or more.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from pipelines.attest import Subject, provenance, sbom  # noqa: E402  (after sys.path)
from pipelines.plan.model import TargetAudit  # noqa: E402
from pipelines.plan.prepare import prepare  # noqa: E402
from pipelines.platforms import Platform  # noqa: E402
from pipelines.settings import load_settings, public_view  # noqa: E402

FIXTURE = REPO / "tests" / "fixtures" / "lockfiles" / "big"
BUDGET_S = 2.0


def _median(action: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    """Measure, print, and compare with the budget."""
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--runs", type=int, default=7)
    args = cli.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        source = Path(directory) / "big"
        source.mkdir()
        shutil.copy(FIXTURE / "package.json", source / "package.json")
        with gzip.open(FIXTURE / "package-lock.json.gz", "rb") as packed:
            (source / "package-lock.json").write_bytes(packed.read())
        (source / "server.js").write_text("")  # the project reader wants a start file
        # Its @prisma/client is generated from a schema, which the plan looks for.
        (source / "schema.prisma").write_text('generator client {\n  provider = '
                                              '"prisma-client-js"\n}\n')
        settings = load_settings({"source": str(source), "start_command": "node,server.js"}, {})
        plan = prepare(settings, Platform.parse("linux/amd64"),
                       audit=dict.fromkeys(settings.platforms, TargetAudit()))
        target = plan.targets[-1]
        subject = Subject("registry.example/team/api", "sha256:" + "ab" * 32, target.platform)
        lock = json.loads((source / "package-lock.json").read_bytes())
        document = sbom(plan, target, subject, tool_version="bench")
        components = len(json.loads(document)["components"])
        print(f"lockfile: {len(lock['packages']) - 1} packages, {len(plan.production)} "
              f"production; SBOM of {target.platform}: {components} components, "
              f"{len(document) / 1e6:.2f} MB")
        baseline = _median(lambda: json.dumps(lock), args.runs)
        print(f"baseline json.dumps of the lockfile:  {baseline * 1000:8.1f} ms")
        made = _median(lambda: sbom(plan, target, subject, tool_version="bench"), args.runs)
        print(f"SBOM, production (median of {args.runs}):  {made * 1000:8.1f} ms  "
              f"= {made / baseline:5.1f}x json.dumps")
        everything = tuple(e for e in plan.packager.read_lockfile(
            source, json.loads((source / "package.json").read_text())).values() if e.path)
        thousand = replace(plan, production=everything[:1000])
        first = _median(lambda: sbom(thousand, target, subject, tool_version="bench"), args.runs)
        print(f"SBOM, the lockfile's first 1,000 packages (median of {args.runs}): "
              f"{first * 1000:8.1f} ms  = {first / baseline:5.1f}x json.dumps")
        whole = replace(plan, production=everything)
        count = len(json.loads(sbom(whole, target, subject, tool_version="b"))["components"])
        big = _median(lambda: sbom(whole, target, subject, tool_version="bench"), args.runs)
        print(f"SBOM, all {len(everything)} packages, {count} components (median of "
              f"{args.runs}): {big * 1000:8.1f} ms  = {big / baseline:5.1f}x json.dumps   "
              f"budget {BUDGET_S} s: {'ok' if big < BUDGET_S else 'OVER'}")
        stated = _median(lambda: provenance(plan, target, subject, settings=public_view(settings),
                                            versions={"node-pipelines": "bench"}), args.runs)
        print(f"provenance (median of {args.runs}):        {stated * 1000:8.1f} ms")
    return 1 if big >= BUDGET_S else 0


if __name__ == "__main__":
    sys.exit(main())
