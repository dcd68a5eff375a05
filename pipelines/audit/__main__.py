"""`python -m pipelines.audit [SOURCE]`: the native-dependency audit on the command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from pipelines.audit.audit import audit_source
from pipelines.audit.model import AuditError, Target, Verdict
from pipelines.audit.prebuilds import NODE_ABI
from pipelines.audit.render import render_json, render_table
from pipelines.errors import EXIT_OK, EXIT_USAGE, NodePipelinesError
from pipelines.platforms import node_major_refusal
from pipelines.project import NodeProject
from pipelines.settings import Settings, load_settings


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is an AuditError: one sentence and exit 2 at the boundary."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise AuditError(f"{message} (see `python -m pipelines.audit --help`)")


def parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    cli = _Parser(
        prog="python -m pipelines.audit",
        description="Which production dependencies are native, and how each target platform "
                    "gets their binaries: prebuilt, download, compile or missing.")
    cli.add_argument("source", nargs="?", type=Path,
                     help="directory with package.json and a lockfile (npm, pnpm or yarn) "
                          "(default: the pipeline's source, NODEPIPE_SOURCE or the example)")
    cli.add_argument("--platform", action="append", dest="platforms", metavar="P",
                     help="target platform, repeatable or comma-separated "
                          "(default: the pipeline's platforms)")
    cli.add_argument("--libc", choices=("glibc", "musl"),
                     help="C library of the runtime image (default: that of the base image)")
    cli.add_argument("--node", type=int, metavar="MAJOR",
                     help="Node major of the runtime image: bundled binaries for another Node "
                          "ABI do not count (default: the pipeline's, else the project's "
                          ".nvmrc, .node-version or engines.node)")
    cli.add_argument("--format", choices=("table", "json"), default="table")
    cli.add_argument("--workspace", metavar="NAME",
                     help="audit one package of a workspace (its name or folder), as its "
                          "focused install sees the lockfile")
    cli.add_argument("--offline", action="store_true",
                     help="no network: lockfile, node_modules and the registry cache only")
    cli.add_argument("--strict", nargs="?", const="missing", choices=("missing", "compile"),
                     help="exit 1 when a production package is missing on a target, an "
                          "optional one included (--strict=compile: also when one compiles)")
    return cli


def run(argv: Sequence[str] | None = None) -> int:
    """Parse, audit, print; raises NodePipelinesError for the boundary in main()."""
    args = parser().parse_args(argv)
    # Whatever is not given comes from the pipeline's own settings (env, config file).
    given_settings: dict[str, object] = {"source": args.source} if args.source else {}
    if args.workspace:
        given_settings["workspace"] = args.workspace
    pipeline = load_settings(given_settings)
    # Repeated flags and Docker's comma-separated list both work.
    given = [p for value in args.platforms or [] for p in value.split(",") if p.strip()]
    platforms = given or [str(p) for p in pipeline.platforms]
    libc = args.libc or pipeline.libc
    targets = [Target.parse(p, libc) for p in dict.fromkeys(platforms)]
    node, origin = _node(args.node, pipeline)
    refusal = None if node is None or pipeline.base_image else node_major_refusal(
        node, origin, "--node")
    if node is not None and not refusal and node not in NODE_ABI:
        known = ", ".join(map(str, NODE_ABI))
        refusal = (f"Node {node} (from {origin}) is not a Node major the audit knows the ABI "
                   f"of (known: {known}): pass --node with one of those (NODEPIPE_NODE_MAJOR)")
    if refusal:
        raise AuditError(refusal)
    report = audit_source(pipeline.source, targets, offline=args.offline,
                          workspace=pipeline.workspace, node_major=node)
    print(render_json(report) if args.format == "json" else render_table(report))
    if args.strict:
        fail_on = [Verdict.MISSING, Verdict.SKIPPED] + (
            [Verdict.COMPILE] if args.strict == "compile" else [])
        report.check(fail_on=fail_on)
    return EXIT_OK


def _node(flag: int | None, pipeline: Settings) -> tuple[int | None, str]:
    """The Node major to audit for and where it came from; None when the project cannot be
    read (the audit then says why)."""
    if flag:
        return flag, "--node"
    if pipeline.node_major:
        return pipeline.node_major, "the node_major setting"
    try:
        found = NodeProject.load(pipeline.source).node
    except NodePipelinesError:
        return None, ""
    return found.major, "package.json engines.node" if found.source == "engines.node" else (
        found.source)


def main(argv: Sequence[str] | None = None) -> int:
    """The one boundary: typed errors become `ERROR <sentence>` on stderr and an exit code."""
    try:
        return run(argv)
    except NodePipelinesError as error:
        print(f"ERROR {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("ERROR interrupted", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
