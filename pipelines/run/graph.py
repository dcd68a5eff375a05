"""Executes a plan on a Dagger engine: the one module that awaits Dagger calls."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import anyio
import dagger
from dagger import dag

from pipelines.engines.connect import close_sessions
from pipelines.errors import EngineUnavailableError, PipelineError, explain
from pipelines.logs import get_logger
from pipelines.plan.model import Plan, Target
from pipelines.platforms import Platform
from pipelines.publish.archive import disk_full, finish_archive, is_disk_full, remove_partials
from pipelines.run.engine_lost import engine_lost, is_engine_lost
from pipelines.stages import (
    app_build,
    app_files,
    bindings_build,
    compiled_deps,
    generated_code,
    generated_for_target,
    generated_modules,
    production_deps,
    rebuilt_deps,
    runtime_image,
)
from pipelines.stages.client import building_on, client
from pipelines.stages.image import oci_archive

T = TypeVar("T")

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
    deps: dict[Platform, dagger.Container]
    rebuilt: dict[Platform, dagger.Container]  # only targets with install scripts to run
    bindings: dict[Platform, dagger.Container]  # empty when the service has no addon of its own
    runtimes: dict[Platform, dagger.Container]
    client: dagger.Client = dag  # the engine the graph was built on (its own, when mapped)
    # The compiles alone, of targets that also run plain scripts after them (the `rebuild`
    # stage, timed and named apart from `scripts`).
    compiled: dict[Platform, dagger.Container] = field(default_factory=dict)

    @property
    def variants(self) -> list[dagger.Container]:
        """One runtime image per target, in plan order: the platform variants of the index."""
        return list(self.runtimes.values())


HEARTBEAT_S = 60.0


@dataclass
class Clock:
    """Runs stages, logs one line per finished stage and platform, and keeps the durations.

    A stage still running after `heartbeat_s` logs `stage_running` every `heartbeat_s`, naming
    the stage, the platform and whether it runs emulated, so a long step never looks hung.
    """

    durations: dict[str, float] = field(default_factory=dict)  # "stage:platform" -> seconds
    heartbeat_s: float = HEARTBEAT_S
    running: set[str] = field(default_factory=set)  # "stage on platform" under way
    default_engine: str = "default"  # how a sentence names the default engine

    async def run(
        self, stage: str, target: Target | None, work: Awaitable[T], engine: str = ""
    ) -> T:
        """Await `work` as `stage` on `target` (or, without one, on the engine at the runner
        host `engine`, empty for the default); Dagger failures become a PipelineError."""
        platform = str(target.platform) if target else None
        ran = target.stage_runs(stage) if target else "native"
        emulated = ran == "emulated"
        engine = target.engine if target else engine
        where = platform or (f"build@{engine}" if engine else "build")
        started = time.monotonic()
        key = f"{stage} on {where}"
        self.running.add(key)
        try:
            result = await self._beating(work, stage, platform, emulated, started)
        except dagger.ExecError as error:
            hint = explain(f"{error.stderr}\n{error.stdout}")
            raise PipelineError(
                f"`{' '.join(error.command)}` exited with {error.exit_code}"
                + (f": {hint}" if hint else ""),
                # pnpm and yarn print their errors on stdout: show it when stderr says nothing.
                stage=stage, platform=platform, stderr=error.stderr.strip() or error.stdout,
            ) from None
        except dagger.QueryError as error:
            if is_engine_lost(str(error)):
                raise self._lost(engine, stage, platform, key, str(error)) from None
            message = (str(error).splitlines() or ["the engine refused the query"])[0]
            hint = explain(str(error))
            raise PipelineError(message + (f": {hint}" if hint else ""), stage=stage,
                                platform=platform) from None
        except (dagger.TransportError, dagger.ClientConnectionError) as error:
            raise self._lost(engine, stage, platform, key, str(error)) from None
        finally:
            self.running.discard(key)
        seconds = round(time.monotonic() - started, 2)
        self.durations[f"{stage}:{where}"] = seconds
        get_logger().info("stage_finished", stage=stage, platform=platform or "build",
                          engine=engine or "default", emulated=emulated, ran=ran,
                          duration_s=seconds)
        return result

    def _lost(
        self, engine: str, stage: str, platform: str | None, key: str, reason: str
    ) -> PipelineError:
        """The lost engine's sentence, naming what else was running and stops with it."""
        return engine_lost(engine or self.default_engine, stage, platform, reason,
                           (other for other in self.running if other != key))

    async def _beating(
        self, work: Awaitable[T], stage: str, platform: str | None, emulated: bool,
        started: float,
    ) -> T:
        """`await work` with the heartbeat beside it; its error is raised as it is, not as
        the exception group a task group would make of it."""
        failure: Exception | None = None
        async with anyio.create_task_group() as group:
            group.start_soon(self._heartbeat, stage, platform, emulated, started)
            try:
                result = await work
            except Exception as error:  # noqa: BLE001 - re-raised below, outside the group
                failure = error
            group.cancel_scope.cancel()
        if failure is not None:
            raise failure
        return result

    async def _heartbeat(
        self, stage: str, platform: str | None, emulated: bool, started: float
    ) -> None:
        while True:
            await anyio.sleep(self.heartbeat_s)
            get_logger().info("stage_running", stage=stage, platform=platform or "build",
                              emulated=emulated,
                              elapsed_s=round(time.monotonic() - started))


def build_graph(
    plan: Plan, source: dagger.Directory, engine: dagger.Client | None = None
) -> Images:
    """Build the whole lazy graph on `engine` (default: the one being built on, `dag` unless
    said otherwise); nothing runs until a leaf is awaited."""
    with building_on(engine or client()) as on:
        return _graph(plan, source, on)


def _graph(plan: Plan, source: dagger.Directory, engine: dagger.Client) -> Images:
    app = app_build(plan, source)
    deps = {t.platform: production_deps(plan, t, source) for t in plan.targets}
    compiled = {t.platform: compiled_deps(plan, t, source, deps[t.platform])
                for t in plan.targets if t.compiled}
    rebuilt = {
        t.platform: rebuilt_deps(plan, t, source, deps[t.platform], compiled.get(t.platform))
        for t in plan.targets
        if t.rebuild
    }
    final = {t.platform: rebuilt.get(t.platform, deps[t.platform]) for t in plan.targets}
    bindings = {
        t.platform: bindings_build(plan, t, source, final[t.platform])
        for t in plan.targets
        if plan.compile_bindings
    }
    files, generated = app_files(plan, app), generated_modules(app)
    code = _generated(plan, app)
    runtimes = {
        t.platform: runtime_image(plan, t, files, generated, final[t.platform],
                                  bindings.get(t.platform), code.get(t.platform))
        for t in plan.targets
    }
    return Images(app=app, deps=deps, rebuilt=rebuilt, bindings=bindings, runtimes=runtimes,
                  client=engine, compiled={t.platform: compiled[t.platform]
                                           for t in plan.targets if t.compiled and t.scripted})


def _generated(plan: Plan, app: dagger.Container) -> dict[Platform, dagger.Directory]:
    """Each target's generated code: its own where it holds the target's engine (Prisma
    before 7), else the build stage's, the same for all."""
    generate = plan.shape.generate
    if generate is None:
        return {}
    if generate.per_target:
        return {t.platform: generated_for_target(plan, t, app) for t in plan.targets}
    return dict.fromkeys((t.platform for t in plan.targets), generated_code(plan, app))


def source_directory(plan: Plan, engine: dagger.Client | None = None) -> dagger.Directory:
    """The project's source as the engine sees it: what the image may ship, and the files the
    install reads even where `.dockerignore` drops them (a workspace package's package.json
    under an ignored folder is still in the lockfile, and a frozen install needs it)."""
    kept = [f"!{pattern}" for pattern in plan.packager.manifests()]
    # The host's installs go last: no manifest pattern may bring back their package.json files.
    exclude = [*plan.shape.files.excludes, *kept, *plan.shape.files.installs]
    return (engine or dag).host().directory(str(plan.source), exclude=exclude)


@asynccontextmanager
async def engine(version: str) -> AsyncIterator[None]:
    """Connect to the default Dagger engine, turning 'no engine' into one sentence; the
    session is closed even when the build was cancelled."""
    stack = AsyncExitStack()
    try:
        await stack.enter_async_context(dagger.connection())
    except tuple(ENGINE_MISSING) as error:
        what = next(text for kind, text in ENGINE_MISSING.items() if isinstance(error, kind))
        raise EngineUnavailableError(f"{what}: {ENGINE_HELP.format(version=version)}") from None
    failed = True
    try:
        yield
        failed = False
    finally:
        await close_sessions(stack, failed=failed)


async def engine_platform() -> Platform:
    """The platform the engine runs natively."""
    return Platform.parse(str(await dag.default_platform()))


async def build_all(plan: Plan, images: Images, clock: Clock) -> None:
    """Evaluate every stage, targets in parallel, so each logs its own duration."""

    async def one_target(target: Target) -> None:
        await clock.run("deps", target, images.deps[target.platform].sync())
        if target.platform in images.compiled:  # the compiles, then the plain scripts
            await clock.run("rebuild", target, images.compiled[target.platform].sync())
        if target.platform in images.rebuilt:
            stage = "scripts" if target.scripted else "rebuild"
            await clock.run(stage, target, images.rebuilt[target.platform].sync())
        if target.platform in images.bindings:
            await clock.run("bindings", target, images.bindings[target.platform].sync())
        await clock.run("runtime", target, images.runtimes[target.platform].sync())

    async with anyio.create_task_group() as group:
        # Each engine builds the platform-independent half itself: named by its runner host.
        engine = plan.targets[0].engine if plan.targets else ""
        group.start_soon(clock.run, "app", None, images.app.sync(), engine)
        for target in plan.targets:
            group.start_soon(one_target, target)


async def export_archive(plan: Plan, parts: Images | list[Images], clock: Clock) -> str:
    """Write one multi-platform OCI archive to the plan's export path, all or nothing; with
    several engines, each exports its own images and the archives are merged into one."""
    assert plan.output.path is not None
    graphs = parts if isinstance(parts, list) else [parts]
    path = await anyio.Path(plan.output.path).resolve()
    await path.parent.mkdir(parents=True, exist_ok=True)
    # Export next to the target and rename: a failed export never leaves a truncated archive
    # where the previous good one was.
    partial = path.with_name(f".{path.name}.partial")
    pieces = [partial.with_name(f"{partial.name}.{n}") for n in range(len(graphs))]
    exports = [mapped_export(clock.run("export", None, oci_archive(images.variants,
                                                                   images.client)
                                       .export(str(piece))), Path(path))
               for images, piece in zip(graphs, pieces, strict=True)]
    try:
        if len(exports) == 1:
            await exports[0]
        else:
            async with anyio.create_task_group() as group:
                for export in exports:
                    group.start_soon(_awaited, export)
        # The engine drops arm64's variant; the index says linux/arm64/v8 as the base does.
        await anyio.to_thread.run_sync(finish_archive, [Path(p) for p in pieces], Path(path),
                                       plan.labels)
    finally:
        # Synchronous: under a cancellation every await would raise before unlinking.
        remove_partials(Path(path))
    return str(path)


async def mapped_export(work: Awaitable[T], path: Path) -> None:
    """Await the engine's export of an archive for `path`; a full disk on this side is said
    as such."""
    try:
        await work
    except PipelineError as error:
        if is_disk_full(error.message):
            raise PipelineError(disk_full(path, "no space left on device"),
                                stage="export") from None
        raise


async def _awaited(work: Awaitable[T]) -> None:
    await work


async def publish_image(
    images: Images,
    clock: Clock,
    address: str,
    auth: Callable[[dagger.Container], dagger.Container],
) -> str:
    """Push one multi-platform index to `address`; returns `REF@sha256:...`."""
    publish = images.client.container().with_(auth).publish(
        address, platform_variants=images.variants)
    return await clock.run("publish", None, publish)
