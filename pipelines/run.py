"""Executes a plan on a Dagger engine: the one module that awaits Dagger calls."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import anyio
import dagger
from dagger import dag

from pipelines.errors import EngineUnavailableError, PipelineError
from pipelines.logs import get_logger
from pipelines.plan import Plan, Target
from pipelines.platforms import Platform
from pipelines.reference import parse_reference
from pipelines.settings import Settings
from pipelines.stages import app_build, dist, native_build, runtime_image
from pipelines.stages.app import SOURCE_EXCLUDES
from pipelines.stages.image import oci_archive

ENGINE_HELP = (
    "install the Dagger CLI {version} (https://docs.dagger.io/install) and a container runtime "
    "such as Docker for its engine, then run `dagger run python -m pipelines.build`"
)
ENGINE_MISSING = {
    dagger.ProvisionError: "no Dagger session is active and the Dagger CLI could not be fetched",
    dagger.SessionError: "the Dagger CLI could not start an engine session",
    dagger.ClientConnectionError: "the Dagger session named by DAGGER_SESSION_PORT does not answer",
}


@dataclass(frozen=True)
class Images:
    """The lazy graph of one plan: the build-platform app and one runtime image per target."""

    app: dagger.Container
    natives: dict[Platform, dagger.Container]
    runtimes: dict[Platform, dagger.Container]

    @property
    def variants(self) -> list[dagger.Container]:
        """One runtime image per target, in plan order: the platform variants of the index."""
        return list(self.runtimes.values())


@dataclass
class Result:
    """What a run produced, for the report and stdout."""

    output: str = ""  # the exported path, or REF@sha256:... when published
    durations: dict[str, float] = field(default_factory=dict)


def build_graph(plan: Plan, source: dagger.Directory) -> Images:
    """Build the whole lazy graph; nothing runs until a leaf is awaited."""
    app = app_build(plan, source)
    natives = {t.platform: native_build(plan, t, source) for t in plan.targets}
    runtimes = {
        t.platform: runtime_image(plan, t, dist(app), natives[t.platform]) for t in plan.targets
    }
    return Images(app=app, natives=natives, runtimes=runtimes)


def source_directory(plan: Plan) -> dagger.Directory:
    """The project's source as the engine sees it, without host build output."""
    return dag.host().directory(str(plan.source), exclude=SOURCE_EXCLUDES)


@asynccontextmanager
async def engine(version: str) -> AsyncIterator[None]:
    """Connect to the Dagger engine, turning 'no engine' into one sentence."""
    try:
        async with dagger.connection():
            yield
    except tuple(ENGINE_MISSING) as error:
        what = next(text for kind, text in ENGINE_MISSING.items() if isinstance(error, kind))
        raise EngineUnavailableError(f"{what}: {ENGINE_HELP.format(version=version)}") from None


async def engine_platform() -> Platform:
    """The platform the engine runs natively."""
    return Platform.parse(str(await dag.default_platform()))


async def timed(
    durations: dict[str, float], stage: str, target: Target | None, work: Awaitable[object]
) -> None:
    """Await one stage, log one line with its duration, map exec failures to PipelineError."""
    platform = str(target.platform) if target else None
    started = time.monotonic()
    try:
        await work
    except dagger.ExecError as error:
        raise PipelineError(
            f"`{' '.join(error.command)}` exited with {error.exit_code}",
            stage=stage, platform=platform, stderr=error.stderr,
        ) from None
    except dagger.QueryError as error:
        raise PipelineError(str(error).splitlines()[0], stage=stage, platform=platform) from None
    seconds = round(time.monotonic() - started, 2)
    durations[f"{stage}:{platform or 'build'}"] = seconds
    get_logger().info("stage_finished", stage=stage, platform=platform or "build",
                      emulated=target.emulated if target else False, duration_s=seconds)


async def build_all(plan: Plan, images: Images, durations: dict[str, float]) -> None:
    """Evaluate every stage, targets in parallel, so each logs its own duration."""

    async def one_target(target: Target) -> None:
        await timed(durations, "native", target, images.natives[target.platform].sync())
        await timed(durations, "runtime", target, images.runtimes[target.platform].sync())

    async with anyio.create_task_group() as group:
        group.start_soon(timed, durations, "app", None, images.app.sync())
        for target in plan.targets:
            group.start_soon(one_target, target)


async def export_archive(plan: Plan, images: Images, durations: dict[str, float]) -> str:
    """Write one multi-platform OCI archive to the plan's export path."""
    assert plan.output.path is not None
    path = await anyio.Path(plan.output.path).resolve()
    await path.parent.mkdir(parents=True, exist_ok=True)
    result: list[str] = []

    async def export() -> None:
        result.append(await oci_archive(images.variants).export(str(path)))

    await timed(durations, "export", None, export())
    return result[0]


async def publish_image(
    plan: Plan,
    images: Images,
    durations: dict[str, float],
    address: str,
    auth: Callable[[dagger.Container], dagger.Container],
) -> str:
    """Push one multi-platform index to `address`; returns `REF@sha256:...`."""
    result: list[str] = []

    async def publish() -> None:
        ctr = dag.container().with_(auth)
        result.append(await ctr.publish(address, platform_variants=images.variants))

    await timed(durations, "publish", None, publish())
    return result[0]


async def execute(settings: Settings, plan: Plan) -> str:
    """Run `plan` on the connected engine; returns what goes to stdout."""
    plan = plan.on_engine(await engine_platform())
    report_emulation(plan, settings.emulation)
    images = build_graph(plan, source_directory(plan))
    durations: dict[str, float] = {}
    await build_all(plan, images, durations)
    if plan.output.kind == "export":
        return await export_archive(plan, images, durations)
    password = dag.set_secret("registry-password", settings.registry_password.get_secret_value())
    host = parse_reference(plan.output.image).registry

    def auth(ctr: dagger.Container) -> dagger.Container:
        if not settings.registry_username:
            return ctr
        return ctr.with_registry_auth(host, settings.registry_username, password)

    refs = [
        await publish_image(plan, images, durations, f"{plan.output.image}:{tag}", auth)
        for tag in plan.output.tags
    ]
    return refs[0]


def report_emulation(plan: Plan, policy: str) -> None:
    """Say, per target, whether it runs natively or emulated; fail if the policy says so."""
    log = get_logger()
    emulated = [t for t in plan.targets if t.emulated]
    for target in plan.targets:
        event = "platform_emulated" if target.emulated else "platform_native"
        level = log.warning if target.emulated and policy == "warn" else log.info
        level(event, platform=str(target.platform), engine=str(plan.engine_platform),
              toolchain=target.toolchain)
    if emulated and policy == "fail":
        raise PipelineError(
            f"{', '.join(str(t.platform) for t in emulated)} would run emulated on this "
            f"{plan.engine_platform} engine and the emulation policy is 'fail': use a native "
            "engine for it or pass --emulation warn",
            stage="plan",
        )
