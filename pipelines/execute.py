"""One build, start to finish on a connected engine: stages, checks, then export or the gate."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import anyio
import dagger
from dagger import dag

from pipelines.archive import platform_sizes
from pipelines.checks import parse_hygiene, parse_probe, parse_smoke
from pipelines.credentials import Credentials, explicit_credentials, resolve_credentials
from pipelines.emulation import report_emulation
from pipelines.errors import NodePipelinesError, PipelineError
from pipelines.gate import GateSteps, publish_gated
from pipelines.logs import get_logger
from pipelines.plan import Plan, Target
from pipelines.push import push_with_retries
from pipelines.reference import parse_reference
from pipelines.report import Report
from pipelines.run import (
    Clock,
    Images,
    build_all,
    build_graph,
    engine_platform,
    export_archive,
    publish_image,
    source_directory,
)
from pipelines.settings import Settings
from pipelines.stages.checks import health_probe, hygiene_container, smoke_container
from pipelines.tags import move_tags
from pipelines.variant import add_arm64_variant
from pipelines.verify import verify_index

ONCE_TIMEOUT_S = 30  # a service that exits at boot does so long before this
PROBE_TIMEOUT_S = 60  # emulated services boot slowly: Node under QEMU takes seconds to start


async def execute(
    settings: Settings, report: Report, environ: Mapping[str, str],
    source: dagger.Directory | None = None,
) -> str:
    """Run the report's plan on the connected engine, filling in the report; returns stdout.

    `source` is the project as a Dagger directory (the Dagger module passes its argument);
    by default it is read from the plan's source path on the host.
    """
    # Credentials are resolved first: a half-set login fails before anything is built.
    login = _login(settings, environ) if report.plan.output.kind == "publish" else None
    plan = report.plan = report.plan.on_engine(await engine_platform())
    report_emulation(plan, settings.emulation)
    images = build_graph(plan, source if source is not None else source_directory(plan))
    clock = Clock(report.durations)
    await build_all(plan, images, clock)
    if plan.output.kind == "export":
        await check_targets(plan, images, clock, report)
        path = await export_archive(plan, images, clock)
        report.sizes.update(await anyio.to_thread.run_sync(platform_sizes, Path(path)))
        _log_sizes(report.sizes)
        return path
    steps = GateSteps(
        stage=lambda address: push_with_retries(
            lambda: publish_image(images, clock, address, _auth(address, login)),
            registry=parse_reference(address).registry,
            username=login.username if login else None,
        ),
        # What is checked is what ships: each platform pulled back from the staged index.
        check=lambda: check_targets(plan, pulled(plan, images, report.staging,
                                                 _auth(settings.image, login)), clock, report),
        verify=lambda ref: verify_index(ref, [t.platform for t in plan.targets], login),
        move=lambda ref: move_tags(ref, plan.output.tags, login),
        amend=lambda ref: add_arm64_variant(ref, login),
    )
    result = await publish_gated(plan.output.image, steps, staged=report)
    report.sizes.update({row.platform: row.size for row in result.report.rows})
    _log_sizes(report.sizes)
    return result.pinned


def pulled(
    plan: Plan, images: Images, reference: str,
    auth: Callable[[dagger.Container], dagger.Container],
) -> Images:
    """The same images, each target's runtime read back from the registry at `reference`."""
    runtimes = {
        t.platform: dag.container(platform=dagger.Platform(str(t.platform))).with_(auth)
        .from_(reference)
        for t in plan.targets
    }
    return replace(images, runtimes=runtimes)


def _log_sizes(sizes: Mapping[str, int]) -> None:
    for platform, size in sizes.items():
        get_logger().info("image_size", platform=platform, bytes=size)


@dataclass(frozen=True)
class Checking:
    """What every check of one build shares."""

    plan: Plan
    images: Images
    clock: Clock
    report: Report


async def check_targets(plan: Plan, images: Images, clock: Clock, report: Report) -> None:
    """Smoke, health probe and hygiene for every target, all in parallel; every check runs to
    its end, so the report has each result, and every failure is raised together."""
    checking = Checking(plan, images, clock, report)
    probe_base = dag.container().from_(plan.base_image)  # native to the engine: boots fast
    failures: list[NodePipelinesError] = []

    async def finished(check: Callable[..., Awaitable[None]], *args: Any) -> None:
        try:
            await check(checking, *args)
        except NodePipelinesError as error:
            failures.append(error)

    async with anyio.create_task_group() as group:
        for target in plan.targets:
            group.start_soon(finished, _smoke, target)
            group.start_soon(finished, _hygiene, target)
            if plan.shape.health != "none":
                group.start_soon(finished, _probe, target, probe_base)
    if failures:
        raise ExceptionGroup("checks failed", failures)


async def _smoke(checking: Checking, target: Target) -> None:
    plan = checking.plan
    checked = [p for p in target.native_packages if not p.own and p.verdict != "waived"]
    packages = [p.path or p.name for p in checked if not p.executables]
    addons = [plan.bindings_output] if plan.compile_bindings else []
    ctr = smoke_container(checking.images.runtimes[target.platform],
                          arch=target.platform.node_arch, libc=target.libc,
                          packages=packages, addons=addons,
                          executables=[e for p in checked for e in p.executables])
    out, err, code = await checking.clock.run("smoke", target, _outcome(ctr))
    result = parse_smoke(out, str(target.platform), exit_code=code, stderr=err)
    waived = [p.name for p in target.native_packages if p.verdict == "waived"]
    checking.report.record_check(str(target.platform), "smoke",
                                 {**result.describe(), "waived": waived})
    result.raise_for_failure()
    get_logger().info("smoke_passed", platform=str(target.platform), packages=len(result.packages))


async def _hygiene(checking: Checking, target: Target) -> None:
    plan = checking.plan
    ctr = hygiene_container(checking.images.runtimes[target.platform],
                            dev_packages=plan.dev_lockfile(), allow=plan.shape.apt_packages)
    out, err, code = await checking.clock.run("hygiene", target, _outcome(ctr))
    result = parse_hygiene(out, str(target.platform), exit_code=code, stderr=err)
    checking.report.record_check(str(target.platform), "hygiene", result.describe())
    result.raise_for_failure()
    get_logger().info("hygiene_passed", platform=str(target.platform),
                      app_bytes=result.app_bytes, node_modules_bytes=result.node_modules_bytes)


async def _probe(checking: Checking, target: Target, base: dagger.Container) -> None:
    plan = checking.plan
    path = plan.shape.health_path if plan.shape.health == "http" else None
    ctr = health_probe(checking.images.runtimes[target.platform], probe_image=base,
                       port=plan.port, path=path, timeout_s=PROBE_TIMEOUT_S)
    try:
        out, err, code = await checking.clock.run("probe", target, _outcome(ctr))
    except PipelineError as error:
        if "exited" not in error.message:
            raise
        raise PipelineError(
            f"the service exited instead of listening on port {plan.port}; its output when "
            "run once more",
            stage="probe", platform=str(target.platform),
            stderr=await _once(checking.images.runtimes[target.platform], plan),
        ) from None
    result = parse_probe(out, str(target.platform), exit_code=code, stderr=err)
    checking.report.record_check(str(target.platform), "probe", result.describe())
    result.raise_for_failure()


async def _once(runtime: dagger.Container, plan: Plan) -> str:
    """What the image's command prints when run once, bounded: why a service exits."""
    ctr = runtime.with_exec(["timeout", str(ONCE_TIMEOUT_S), *plan.shape.start.cmd],
                            expect=dagger.ReturnType.ANY)
    out, err, code = await _outcome(ctr)
    return f"{out}\n{err}\n(exit code {code})"


async def _outcome(ctr: dagger.Container) -> tuple[str, str, int]:
    """stdout, stderr and exit code of a check that runs with expect=ANY."""
    return await ctr.stdout(), await ctr.stderr(), await ctr.exit_code()


def _login(settings: Settings, environ: Mapping[str, str]) -> Credentials | None:
    """The settings' registry login, else Docker's config.json entry for the registry."""
    explicit = explicit_credentials(settings.registry_username, settings.registry_password)
    return resolve_credentials(parse_reference(settings.image).registry, explicit, environ)


def _auth(image: str, login: Credentials | None) -> Callable[[dagger.Container], dagger.Container]:
    """A transformer adding the registry login as a Dagger secret (never as plain text)."""

    def apply(ctr: dagger.Container) -> dagger.Container:
        if login is None:
            return ctr
        secret = dag.set_secret("registry-password", login.password.get_secret_value())
        return ctr.with_registry_auth(parse_reference(image).registry, login.username, secret)

    return apply
