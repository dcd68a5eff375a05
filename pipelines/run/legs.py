"""A build across engines: each engine's part of the plan (a leg), its graph, and running the
same step on every leg at once, each on its own engine."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace

import anyio
import dagger

from pipelines.engines.connect import Engine
from pipelines.logs import get_logger
from pipelines.plan.model import Plan
from pipelines.platforms import Platform
from pipelines.registry.push import push_with_retries
from pipelines.registry.reference import parse_reference
from pipelines.run.graph import Images, build_graph, source_directory

Publish = Callable[[Images, str], Awaitable[str]]


@dataclass(frozen=True)
class Leg:
    """One engine's part of the build: its engine, its targets' plan and their graph."""

    engine: Engine
    plan: Plan
    images: Images


def mapped_hosts(plan: Plan) -> dict[str, str]:
    """Each runner host of the plan, with the platforms given for it (for messages)."""
    hosts: dict[str, list[str]] = {}
    for target in plan.targets:
        if target.engine:
            hosts.setdefault(target.engine, []).append(str(target.platform))
    return {host: ", ".join(platforms) for host, platforms in hosts.items()}


def needs_default(plan: Plan) -> bool:
    """Whether any target runs on the default engine."""
    return any(not t.engine for t in plan.targets)


def placed(plan: Plan, engines: Mapping[str, Engine]) -> Plan:
    """The plan with each engine's real platform; a mapped engine that is not native to its
    platform is said so (the target then runs emulated there, and the report shows it)."""
    default = engines[""].platform if "" in engines else plan.engine_platform
    placed_plan = plan.on_engine(default, {h: e.platform for h, e in engines.items() if h})
    for target in placed_plan.targets:
        if target.engine and target.emulated:
            get_logger().warning("engine_not_native", platform=str(target.platform),
                                 engine=target.engine, engine_platform=str(target.engine_platform))
    return placed_plan


def leg(engine: Engine, plan: Plan, source: dagger.Directory | None) -> Leg:
    """The leg of `engine`: its plan and its graph, built with that engine's client."""
    directory = source if source is not None else source_directory(plan, engine.client)
    return Leg(engine, plan, build_graph(plan, directory, engine.client))


async def on_each(legs: list[Leg], work: Callable[[Leg], Awaitable[None]]) -> None:
    """Run `work` for every leg at once; one leg runs it without a task group, so its error
    is raised as it is."""
    if len(legs) == 1:
        await work(legs[0])
        return

    async def one(part: Leg) -> None:
        await work(part)

    async with anyio.create_task_group() as group:
        for part in legs:
            group.start_soon(one, part)


def per_platform(staging: str, platform: Platform) -> str:
    """The tag (or address) a platform's image is pushed under when engines push apart."""
    return f"{staging}-{platform.slug}"


async def push_by_digest(
    legs: list[Leg], address: str, publish: Publish, username: str | None
) -> list[tuple[Platform, str]]:
    """Push every target's image from its own engine to `address-<platform>`; return each
    platform with the `REPO...@sha256:...` it was pushed as, in plan order."""
    pushed: dict[Platform, str] = {}
    registry = parse_reference(address).registry

    async def one(images: Images, platform: Platform) -> None:
        single = replace(images, runtimes={platform: images.runtimes[platform]})
        to = per_platform(address, platform)
        pushed[platform] = await push_with_retries(lambda: publish(single, to),
                                                   registry=registry, username=username)
        get_logger().info("image_pushed", platform=str(platform), reference=pushed[platform])

    async with anyio.create_task_group() as group:
        for part in legs:
            for target in part.plan.targets:
                group.start_soon(one, part.images, target.platform)
    order = [t.platform for part in legs for t in part.plan.targets]
    return [(platform, pushed[platform]) for platform in order]
