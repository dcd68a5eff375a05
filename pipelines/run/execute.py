"""One build, start to finish on a connected engine: stages, checks, then export or the gate."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import dagger
from dagger import dag

from pipelines.checks import parse_hygiene, parse_smoke
from pipelines.engines.connect import RUNNER_HOST_ENV, connected_engines, end_sessions
from pipelines.errors import InputError, NodePipelinesError
from pipelines.logs import get_logger
from pipelines.plan.emulation import report_emulation
from pipelines.plan.model import Plan, Target
from pipelines.project.programs import programs_of, start_preloads
from pipelines.publish.archive import platform_sizes
from pipelines.publish.gate import GateSteps, publish_gated
from pipelines.registry.assemble import assemble_index
from pipelines.registry.credentials import Credentials, explicit_credentials, resolve_credentials
from pipelines.registry.push import push_with_retries
from pipelines.registry.reference import parse_reference
from pipelines.registry.signatures import SigningKey
from pipelines.registry.staging import delete_staging_tags
from pipelines.registry.tags import move_tags
from pipelines.registry.variant import add_arm64_variant
from pipelines.registry.verify import verify_index
from pipelines.run.attest import attest_exported, attest_published, build_facts, signing_key
from pipelines.run.engine_lost import EngineLostError, watchable, watched
from pipelines.run.graph import Clock, Images, build_all, export_archive, publish_image
from pipelines.run.legs import (
    Leg,
    leg,
    mapped_hosts,
    needs_default,
    on_each,
    per_platform,
    placed,
    push_by_digest,
)
from pipelines.run.probe import probe_secret_values, probe_target
from pipelines.run.report import Report
from pipelines.settings import Settings
from pipelines.stages.checks import hygiene_container, smoke_container
from pipelines.stages.image import TINI


async def execute(
    settings: Settings, report: Report, environ: Mapping[str, str],
    source: dagger.Directory | None = None,
) -> str:
    """Run the report's plan on its engines, filling in the report; returns stdout.

    `source` is the project as a Dagger directory (the Dagger module passes its argument);
    by default each engine reads it from the plan's source path on the host.
    """
    # Credentials are resolved first: a half-set login fails before anything is built.
    login = _login(settings, environ) if report.plan.output.kind == "publish" else None
    secrets = probe_secret_values(report.plan.probe.secrets, environ)
    key = signing_key(settings) if report.plan.output.kind == "publish" else None
    hosts = mapped_hosts(report.plan)
    if source is not None and hosts:
        raise InputError("a source directory handed in by the Dagger module cannot reach "
                         "engines of their own: build without --engine there")
    async with connected_engines(hosts, default=needs_default(report.plan)) as engines:
        plan = report.plan = placed(report.plan, engines)
        report_emulation(plan, settings.emulation)
        legs = [leg(engine, plan.for_engine(host), source) for host, engine in engines.items()]
        clock = Clock(report.durations, running=report.running,
                      default_engine=default_engine_name(environ))
        # Each engine is watched while it is needed: until the gate verifies in the registry.
        probed = watchable((engine.host or clock.default_engine,
                            engine.host or environ.get(RUNNER_HOST_ENV, ""))
                           for engine in engines.values())
        try:
            return await watched(partial(_on_legs, settings, plan, legs, login, clock, report,
                                         secrets, key),
                                 probed, clock.running,
                                 needed=lambda: report.step not in ("verify", "move"))
        except* EngineLostError:  # also from a stage inside a leg's task group
            # Before the sessions close: closing one waits minutes for a CLI that keeps
            # retrying its dead engine.
            end_sessions()
            raise


async def _on_legs(  # noqa: PLR0917 - what one build carries
    settings: Settings, plan: Plan, legs: list[Leg], login: Credentials | None, clock: Clock,
    report: Report, secrets: Mapping[str, str], key: SigningKey | None,
) -> str:
    """Build every leg, then export, or publish through the gate; returns stdout."""
    await on_each(legs, lambda part: build_all(part.plan, part.images, clock))
    if plan.output.kind == "export":
        return await _export(settings, plan, legs, clock, report, secrets)
    steps = _gate(settings, plan, legs, login, clock, report, secrets, key)
    result = await publish_gated(plan.output.image, steps, staged=report, race=settings.tag_race)
    report.sizes.update({row.platform: row.size for row in result.report.rows})
    _log_sizes(report.sizes)
    return result.pinned


async def _export(  # noqa: PLR0917 - the run values an export uses
    settings: Settings, plan: Plan, legs: list[Leg], clock: Clock, report: Report,
    secrets: Mapping[str, str],
) -> str:
    """Check every target on its engine, then write the one archive (and, unless told not
    to, each platform's SBOM and provenance beside it); returns its path."""
    await on_each(legs, lambda part: check_targets(part.plan, part.images, clock, report,
                                                   secrets))
    path = await export_archive(plan, [part.images for part in legs], clock)
    if settings.attest:
        await attest_exported(path, plan, settings, await build_facts(plan, legs))
    report.sizes.update(await anyio.to_thread.run_sync(platform_sizes, Path(path)))
    _log_sizes(report.sizes)
    return path


def _gate(  # noqa: PLR0917 - what the gate's steps close over
    settings: Settings, plan: Plan, legs: list[Leg], login: Credentials | None, clock: Clock,
    report: Report, secrets: Mapping[str, str], key: SigningKey | None = None,
) -> GateSteps:
    """The gate's steps: one engine publishes its index itself; several push by digest and
    the index is assembled in the registry."""
    def publish(images: Images, address: str) -> Awaitable[str]:
        return publish_image(images, clock, address, _auth(address, login, images.client))

    async def stage(address: str) -> str:
        username = login.username if login else None
        if len(legs) == 1:
            return await push_with_retries(lambda: publish(legs[0].images, address),
                                           registry=parse_reference(address).registry,
                                           username=username)
        pushed = await push_by_digest(legs, address, publish, username)
        return await assemble_index(address, pushed, login)

    async def check() -> None:
        # What is checked is what ships: each platform pulled back from the staged index, on
        # the engine it was built on.
        await on_each(legs, lambda part: check_targets(part.plan, pulled(
            part.plan, part.images, report.staging,
            _auth(settings.image, login, part.images.client)), clock, report, secrets))

    async def attest(ref: str) -> None:
        facts = await build_facts(plan, legs) if settings.attest else None
        await attest_published(ref, plan, settings, facts, login, key=key)

    required = ("sbom", "provenance") if settings.attest else ()
    return GateSteps(
        stage=stage,
        check=check,
        verify=lambda ref: verify_index(ref, [t.platform for t in plan.targets], login,
                                        require=required,
                                        key=key.key.public_key() if key else None),
        move=lambda ref: move_tags(ref, plan.output.tags, login),
        amend=lambda ref: add_arm64_variant(ref, login, annotations=plan.labels),
        **({"attest": attest} if settings.attest or key else {}),
        staging_tags=lambda tag: (tag, *(per_platform(tag, t.platform) for t in plan.targets
                                         if len(legs) > 1)),
        cleanup=lambda tags: delete_staging_tags(plan.output.image, tags, login),
    )


def pulled(
    plan: Plan, images: Images, reference: str,
    auth: Callable[[dagger.Container], dagger.Container],
) -> Images:
    """The same images, each target's runtime read back from the registry at `reference`."""
    runtimes = {
        t.platform: images.client.container(platform=dagger.Platform(str(t.platform)))
        .with_(auth).from_(reference)
        for t in plan.targets
    }
    return replace(images, runtimes=runtimes)


def default_engine_name(environ: Mapping[str, str]) -> str:
    """How a sentence names the default engine: with its runner host when one is set."""
    host = environ.get(RUNNER_HOST_ENV, "")
    return f"default ({host})" if host else "default"


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
    secrets: Mapping[str, str] = field(default_factory=dict)  # the probe's, never logged


async def check_targets(plan: Plan, images: Images, clock: Clock, report: Report,
                        secrets: Mapping[str, str] | None = None) -> None:
    """Smoke, health probe and hygiene for every target, all in parallel; every check runs to
    its end, so the report has each result, and every failure is raised together. `secrets`
    are the probe's secret values (plan.probe.secrets), read from the CI's environment."""
    checking = Checking(plan, images, clock, report, dict(secrets or {}))
    # Native to the engine the images were built on: boots fast.
    probe_base = images.client.container().from_(plan.base_image)
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
    # Absent is no failure for what the audit skipped, nor for npm's devOptional packages,
    # which some npm versions leave out of a production install, nor for an optional package
    # whose compile failed (the package managers go on without it too).
    maybe = {e.path for e in plan.production if e.dev_optional}
    absent_ok = [p for p in checked if p.optional_skipped or p.path in maybe
                 or (p.optional and p.name in target.compiled)]
    packages = [p.path or p.name for p in checked
                if not p.executables and p not in absent_ok]
    addons = [plan.bindings_output] if plan.compile_bindings else []
    generate = plan.shape.generate
    ctr = smoke_container(checking.images.runtimes[target.platform],
                          arch=target.platform.node_arch, libc=target.libc,
                          packages=packages, addons=addons,
                          optional=[p.path or p.name for p in absent_ok],
                          executables=[*(e for p in checked for e in p.executables),
                                       *(generate.engine_globs() if generate else ())],
                          generated=generate.checked() if generate else (),
                          # ENTRYPOINT and CMD: tini under --init, then the start's programs.
                          programs=[*([TINI] if plan.shape.init else []),
                                    *programs_of(plan.shape.start)],
                          preloads=start_preloads(plan.shape.start),
                          # dpkg's record is read: Debian images only (apk keeps its own).
                          system=plan.shape.apt_packages if target.libc == "glibc" else ())
    out, err, code = await checking.clock.run("smoke", target, _outcome(ctr))
    result = parse_smoke(out, str(target.platform), exit_code=code, stderr=err)
    waived = [p.name for p in target.native_packages if p.verdict == "waived"]
    checking.report.record_check(str(target.platform), "smoke",
                                 {**result.describe(), "waived": waived})
    result.raise_for_failure()
    get_logger().info("smoke_passed", platform=str(target.platform), packages=len(result.packages),
                      system_packages=len(result.system))


async def _hygiene(checking: Checking, target: Target) -> None:
    plan = checking.plan
    ctr = hygiene_container(checking.images.runtimes[target.platform],
                            dev_packages=plan.dev_lockfile(), allow=plan.shape.apt_packages,
                            arch=target.platform.node_arch)
    out, err, code = await checking.clock.run("hygiene", target, _outcome(ctr))
    result = parse_hygiene(out, str(target.platform), exit_code=code, stderr=err)
    checking.report.record_check(str(target.platform), "hygiene", result.describe())
    result.raise_for_failure()
    get_logger().info("hygiene_passed", platform=str(target.platform),
                      app_bytes=result.app_bytes, node_modules_bytes=result.node_modules_bytes)


async def _probe(checking: Checking, target: Target, base: dagger.Container) -> None:
    result = await probe_target(checking.plan, checking.images, checking.clock, target, base,
                                checking.secrets)
    checking.report.record_check(str(target.platform), "probe", result.describe())
    result.raise_for_failure()


async def _outcome(ctr: dagger.Container) -> tuple[str, str, int]:
    """stdout, stderr and exit code of a check that runs with expect=ANY."""
    return await ctr.stdout(), await ctr.stderr(), await ctr.exit_code()


def _login(settings: Settings, environ: Mapping[str, str]) -> Credentials | None:
    """The settings' registry login, else Docker's config.json entry for the registry."""
    explicit = explicit_credentials(settings.registry_username, settings.registry_password)
    return resolve_credentials(parse_reference(settings.image).registry, explicit, environ)


def _auth(
    image: str, login: Credentials | None, engine: dagger.Client = dag
) -> Callable[[dagger.Container], dagger.Container]:
    """A transformer adding the registry login as a Dagger secret (never as plain text) of
    the engine the container is on."""

    def apply(ctr: dagger.Container) -> dagger.Container:
        if login is None:
            return ctr
        secret = engine.set_secret("registry-password", login.password.get_secret_value())
        return ctr.with_registry_auth(parse_reference(image).registry, login.username, secret)

    return apply
