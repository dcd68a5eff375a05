"""`python -m pipelines.build`: flags -> settings -> plan -> run -> exit code.

stdout carries the machine-readable result (the plan with --print, the exported path or the
published `REF@sha256:...`); everything else goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import platform as host
import signal
import sys
from collections.abc import Sequence
from contextlib import nullcontext
from functools import partial
from importlib.metadata import version as dist_version
from typing import Any

import anyio

from pipelines.errors import (
    EXIT_OK,
    NodePipelinesError,
    PipelineError,
    distinct,
)
from pipelines.logs import configure_logging, get_logger
from pipelines.plan.describe import describe_plan
from pipelines.plan.emulation import report_emulation
from pipelines.plan.model import platform_warnings
from pipelines.plan.prepare import prepare
from pipelines.platforms import Platform
from pipelines.publish.archive import remove_partials
from pipelines.run.cancel import cancellable, signal_name
from pipelines.run.report import Report, write_report
from pipelines.settings import Settings, load_settings


def parser() -> argparse.ArgumentParser:
    """The command line; every flag defaults to None so lower-precedence sources can fill it."""
    # Every list flag is repeatable as well as comma-separated (settings_from_args joins them).
    p = argparse.ArgumentParser(
        prog="python -m pipelines.build",
        description="Build a Node.js service with native addons into one multi-platform image.",
        argument_default=None,
    )
    p.add_argument("source", nargs="?", help="the service's directory (default: bundled example)")
    p.add_argument("--print", dest="print_plan", action="store_true",
                   help="print the plan as JSON and exit, without contacting an engine")
    p.add_argument("--platforms", action="append",
                   help="comma-separated, default linux/amd64,linux/arm64")
    p.add_argument("--allow-unsupported-platforms", action="store_const", const=True,
                   help="opt in to platforms other than linux/amd64 and linux/arm64")
    p.add_argument("--node-major", type=int,
                   help="Node.js major (default: .nvmrc, .node-version, engines.node, else 22)")
    p.add_argument("--base-image",
                   help="default node:<major>-bookworm-slim (bullseye or buster for majors "
                        "that have no bookworm image)")
    p.add_argument("--image", help="image reference to publish to, REGISTRY/REPO")
    p.add_argument("--tags", action="append",
                   help="comma-separated tags to move after publishing (default latest)")
    p.add_argument("--publish", action=argparse.BooleanOptionalAction,
                   help="publish to --image instead of exporting an OCI archive")
    p.add_argument("--export-path", help="OCI archive path (default build/<name>.oci.tar)")
    p.add_argument("--cache-namespace", help="prefix of every cache volume name")
    p.add_argument("--registry-username",
                   help="registry user (the password comes from NODEPIPE_REGISTRY_PASSWORD)")
    p.add_argument("--workspace",
                   help="build one package of an npm, pnpm or yarn workspace (its name or "
                        "folder); SOURCE is the workspace root, where the lockfile is")
    p.add_argument("--build-script",
                   help="package.json script that builds the app (default build, else compile; "
                        "none for no build step)")
    p.add_argument("--start-command", action="append",
                   help="comma-separated command of the image (default: from package.json)")
    p.add_argument("--include", action="append",
                   help="comma-separated paths to ship that .dockerignore drops")
    p.add_argument("--exclude", action="append",
                   help="comma-separated .dockerignore patterns to drop as well")
    p.add_argument("--apt-packages", action="append",
                   help="comma-separated system packages of the runtime image")
    p.add_argument("--build-apt-packages", action="append",
                   help="comma-separated system packages of the build and compile stages")
    p.add_argument("--runtime-package-manager", action=argparse.BooleanOptionalAction,
                   help="put the project's package manager, at its pinned version, in the "
                        "runtime image (for a start command that runs pnpm or yarn)")
    p.add_argument("--init", action=argparse.BooleanOptionalAction,
                   help="run the service under tini as PID 1 (for services that spawn children)")
    p.add_argument("--build-env", action="append",
                   help="comma-separated NAME=value for the build containers only (not secrets)")
    p.add_argument("--env", action="append",
                   help="comma-separated NAME=value for the runtime image's environment "
                        "(baked into the image: never a secret)")
    p.add_argument("--probe-env", action="append",
                   help="comma-separated NAME=value for the health probe's run of the service "
                        "only (never in the image)")
    p.add_argument("--probe-secret", dest="probe_secrets", action="append",
                   help="comma-separated names of environment variables passed to the probe's "
                        "run of the service as Dagger secrets (never logged, never in the image)")
    p.add_argument("--probe-service", dest="probe_services", action="append",
                   metavar="NAME=IMAGE[,VAR=value...]",
                   help="a backing service the probe starts and the service reaches by NAME, "
                        "e.g. db=postgres:16-bookworm,POSTGRES_PASSWORD=x (repeatable)")
    p.add_argument("--port", type=int, help="port the service listens on (default 8080)")
    p.add_argument("--health", choices=["auto", "http", "tcp", "none"],
                   help="health check: HTTP GET of --health-path, or a TCP connect to the port "
                        "(auto: http when --health-path is set)")
    p.add_argument("--health-path", help="health endpoint the probe GETs, such as /healthz")
    p.add_argument("--node-options", help="NODE_OPTIONS in the runtime image")
    p.add_argument("--bindings-output", help="where compile:bindings leaves its .node files")
    p.add_argument("--allow-missing", action="append",
                   help="comma-separated packages the service accepts without a binary on a "
                        "target (shown as waived, never as passed)")
    p.add_argument("--strict", action=argparse.BooleanOptionalAction,
                   help="an optional native dependency with no binary on a target blocks the "
                        "build too (default: it is skipped, with a warning)")
    p.add_argument("--emulation", choices=["allow", "warn", "fail"],
                   help="what to do when a target runs emulated (default warn)")
    p.add_argument("--tag-race", choices=["warn", "fail"],
                   help="when another publish moves the same tags right after this one: warn "
                        "and exit 0 (default), or fail with exit 1")
    p.add_argument("--audit", choices=["online", "offline"],
                   help="ask the npm registry for prebuild coverage, or read the lockfile only")
    p.add_argument("--report-dir",
                   help="write node-pipelines-report.json and .md (a CI step summary) here")
    p.add_argument("--log-format", choices=["auto", "console", "json"])
    p.add_argument("--timeout", dest="timeout_s", type=float, help="overall timeout in seconds")
    p.add_argument("--engine", dest="engines", action="append", metavar="PLATFORM=RUNNER_HOST",
                   help="build, check and push that platform on its own Dagger engine, e.g. "
                        "linux/arm64=tcp://arm-builder:1234 (repeatable; any runner host "
                        "_EXPERIMENTAL_DAGGER_RUNNER_HOST accepts)")
    p.add_argument("--label", dest="labels", action="append", metavar="NAME=VALUE",
                   help="an image label and annotation over the derived "
                        "org.opencontainers.image.* ones (repeatable; NAME without a dot is "
                        "org.opencontainers.image.NAME)")
    p.add_argument("--source-url", help="the source repository's URL (default: git's origin, "
                                        "or the CI's repository)")
    p.add_argument("--revision", help="the commit built (default: git's HEAD, or the CI's)")
    p.add_argument("--attest", action=argparse.BooleanOptionalAction,
                   help="make, attach and require an SBOM and provenance per platform "
                        "(default on)")
    p.add_argument("--sign-key", metavar="PATH",
                   help="sign the index and each attestation with this cosign private key "
                        "(its password in NODEPIPE_SIGN_PASSWORD)")
    return p


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Settings from parsed flags, the environment and the config file.

    A list flag accumulates: given twice (`--allow-missing a --allow-missing b`) it is `a,b`,
    as one comma-separated value is.
    """
    flags: dict[str, Any] = {
        # A probe service's own settings are comma-separated: services are `;`-separated.
        k: (";" if k == "probe_services" else ",").join(v) if isinstance(v, list) else v
        for k, v in vars(args).items() if k != "print_plan"}
    return load_settings(flags)


def host_platform() -> Platform:
    """This machine's platform: where a local engine would run natively."""
    return Platform.parse(f"linux/{host.machine()}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return the exit code: the one error boundary."""
    args = parser().parse_args(argv)
    errors: list[NodePipelinesError] = []
    early: int = 0
    # Until the build's own handling takes over, SIGTERM ends the run as Ctrl-C does.
    previous = signal.signal(signal.SIGTERM, _cancelled_early)
    try:
        output = _main(args)
    except* NodePipelinesError as group:  # task groups raise groups; plain errors land here too
        errors = distinct(leaves(group))
    except* (KeyboardInterrupt, CancelledEarly) as group:
        early = getattr(group.exceptions[0], "signum", signal.SIGINT)
    finally:
        signal.signal(signal.SIGTERM, previous)
    if early:
        print(f"ERROR cancelled by {signal_name(early)} before the build started: no tag was "
              "moved", file=sys.stderr)
        return 128 + early
    if errors:
        for error in errors:
            print(f"ERROR {error}", file=sys.stderr)
        return max(error.exit_code for error in errors)
    return _emit(output)


class CancelledEarly(BaseException):
    """SIGTERM before the build's own cancellation handling is in place."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _cancelled_early(signum: int, _frame: object) -> None:
    raise CancelledEarly(signum)


def _main(args: argparse.Namespace) -> str:
    """Settings, plan, and either the plan as JSON or the build's result."""
    settings = settings_from_args(args)
    configure_logging(settings.log_format)
    for warning in platform_warnings(settings):
        get_logger().warning("platform_unsupported", detail=warning)
    plan = prepare(settings, host_platform())
    for warning in plan.shape.warnings:  # the platform warnings are logged above already
        get_logger().warning("plan_warning", detail=warning)
    if args.print_plan:
        report_emulation(plan, settings.emulation)  # refuses as the build would
        return json.dumps(describe_plan(plan), indent=2)
    report = Report(plan)
    try:
        report.output = anyio.run(_run, settings, report)
    except* NodePipelinesError as failed:
        report.error = "; ".join(str(e).splitlines()[0] for e in distinct(leaves(failed)))
        raise
    finally:
        # The outcome is decided: a late SIGTERM ends the process as it would by default,
        # never with the sentence of a build that had not started.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if settings.report_dir is not None:
            for path in write_report(report, settings.report_dir):
                get_logger().info("report_written", path=str(path))
    return report.output


def _emit(text: str) -> int:
    """Print the result on stdout; a closed pipe (`| head`) is not an error."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return EXIT_OK


def leaves(group: BaseExceptionGroup[NodePipelinesError]) -> list[NodePipelinesError]:
    """The errors inside a (nested) exception group, in order."""
    found: list[NodePipelinesError] = []
    for error in group.exceptions:
        if isinstance(error, BaseExceptionGroup):
            found.extend(leaves(error))
        else:
            found.append(error)
    return found


async def _run(settings: Settings, report: Report) -> str:
    """The build on its engines, cancelled as a whole by SIGINT or SIGTERM."""
    publishing = report.plan.output.kind == "publish"
    try:
        return await cancellable(partial(_on_engines, settings, report), report,
                                 publishing=publishing)
    finally:
        if report.plan.output.path is not None:  # once more, now the session is closed
            remove_partials(report.plan.output.path.resolve())


async def _on_engines(settings: Settings, report: Report) -> str:
    # Imported here: --print and bad input never load the Dagger SDK.
    from pipelines.run.execute import execute  # noqa: PLC0415
    from pipelines.run.graph import engine  # noqa: PLC0415

    try:
        with anyio.fail_after(settings.timeout_s):
            # With every target on an engine of its own, the default one is not needed.
            on_default = any(not t.engine for t in report.plan.targets)
            default = engine(dist_version("dagger-io")) if on_default else nullcontext()
            async with default:
                return await execute(settings, report, os.environ)
    except TimeoutError:
        raise PipelineError(
            f"the build did not finish within {settings.timeout_s:g} s: raise --timeout, "
            "or look at which stage was still running",
            stage="build",
        ) from None


if __name__ == "__main__":
    sys.exit(main())
