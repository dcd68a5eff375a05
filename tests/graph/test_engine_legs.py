"""A build across two engines, offline: each target's work is built on, pushed from and
checked on the connection of its own engine; nothing of one engine's graph reaches the other."""

from __future__ import annotations

from typing import Any

import dagger
import pytest
from dagger import dag

from pipelines.engines.connect import Engine
from pipelines.plan.model import Plan
from pipelines.plan.prepare import prepare
from pipelines.platforms import Platform
from pipelines.run.execute import pulled
from pipelines.run.graph import Clock, Images, publish_image
from pipelines.run.legs import Leg, leg, mapped_hosts, needs_default, placed, push_by_digest
from pipelines.settings import load_settings
from tests.graph import query
from tests.graph.conftest import EXAMPLE_AUDIT

AMD64, ARM64 = Platform.parse("linux/amd64"), Platform.parse("linux/arm64")
HOST = "tcp://arm-builder:1234"


@pytest.fixture
def second() -> Any:
    """The client of the second engine (never connected)."""
    return query.offline_client()


def legs_of(second: Any, engines_for: str = "linux/arm64") -> tuple[Plan, list[Leg]]:
    settings = load_settings({"engines": [f"{engines_for}={HOST}"]}, {})
    plan = prepare(settings, AMD64, audit=dict.fromkeys(settings.platforms, EXAMPLE_AUDIT))
    engines = {"": Engine("", dag, AMD64), HOST: Engine(HOST, second, ARM64)}
    plan = placed(plan, engines)
    return plan, [leg(e, plan.for_engine(h), None) for h, e in engines.items()]


def every_object(images: Images) -> list[Any]:
    """Every lazy object of a graph: its containers and whatever they take as input."""
    roots = [images.app, *images.deps.values(), *images.rebuilt.values(),
             *images.bindings.values(), *images.runtimes.values()]
    return [o for root in roots for o in (root, *query.objects_in(root))]


def test_each_target_is_built_on_the_connection_of_its_own_engine(second: Any) -> None:
    """The arm64 graph (app build, deps, bindings, runtime, every directory and cache volume
    they use) is on the second engine's connection, the amd64 graph on the default one."""
    plan, (default, mapped) = legs_of(second)
    assert [str(t.platform) for t in default.plan.targets] == ["linux/amd64"]
    assert [str(t.platform) for t in mapped.plan.targets] == ["linux/arm64"]
    assert mapped.images.client is second and default.images.client is dag
    mine, theirs = query.connection(second), query.connection(dag)
    assert mine is not theirs
    arm = every_object(mapped.images)
    amd = every_object(default.images)
    assert len(arm) > 10 and len(amd) > 10
    assert {id(query.connection(o)) for o in arm} == {id(mine)}
    assert {id(query.connection(o)) for o in amd} == {id(theirs)}
    # Native on its own engine: the arm64 runtime and bindings are built for arm64 there,
    # with no cross compiler.
    assert query.platform(mapped.images.runtimes[ARM64]) == "linux/arm64"
    assert not any("aarch64-linux-gnu" in " ".join(c)
                   for c in query.execs(mapped.images.bindings[ARM64]))
    assert needs_default(plan)


async def test_each_platform_is_pushed_by_digest_from_its_own_engine(
    second: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Staging with two engines pushes one image per platform, each from the connection of
    the engine that built it, to its own staging tag; the digests come back in plan order.
    `Container.publish` is a recording test double (the engine test pushes for real)."""
    _, legs = legs_of(second)
    seen: list[tuple[str, int, list[str | None]]] = []

    async def fake_publish(self: dagger.Container, address: str, **kwargs: Any) -> str:
        variants = [query.platform(v) for v in kwargs["platform_variants"]]
        seen.append((address, id(query.connection(self)), variants))
        return f"{address}@sha256:{len(seen):064d}"

    monkeypatch.setattr(dagger.Container, "publish", fake_publish)
    clock = Clock()
    pushed = await push_by_digest(
        legs, "localhost:5000/svc:stage",
        lambda images, to: publish_image(images, clock, to, lambda c: c), None)
    assert [str(p) for p, _ in pushed] == ["linux/amd64", "linux/arm64"]
    by_address = {address: (conn, variants) for address, conn, variants in seen}
    assert by_address["localhost:5000/svc:stage-linux-amd64"] == (
        id(query.connection(dag)), ["linux/amd64"])
    assert by_address["localhost:5000/svc:stage-linux-arm64"] == (
        id(query.connection(second)), ["linux/arm64"])
    assert all(ref.startswith(f"localhost:5000/svc:stage-{p.slug}@sha256:") for p, ref in pushed)


def test_checks_after_publish_pull_on_the_engine_that_built_the_target(second: Any) -> None:
    """What the gate checks on each engine is the staged index, pulled on that engine."""
    _, (default, mapped) = legs_of(second)
    reference = "registry.example/svc@sha256:" + "0" * 64
    for part in (default, mapped):
        checked = pulled(part.plan, part.images, reference, lambda c: c)
        for runtime in checked.runtimes.values():
            assert query.connection(runtime) is query.connection(part.images.client)
            (source,) = query.named(runtime, "from")
            assert source.args["address"] == reference


def test_every_target_mapped_needs_no_default_engine(second: Any) -> None:
    """With both platforms on engines of their own, the default engine is not connected."""
    settings = load_settings({"engines": [f"linux/arm64={HOST}", "linux/amd64=tcp://x86:1"]}, {})
    plan = prepare(settings, AMD64, audit={})
    assert not needs_default(plan)
    assert plan.engines == ("tcp://x86:1", HOST)


def test_two_platforms_on_one_engine_share_its_connection() -> None:
    """Both platforms mapped to one runner host: one connection, named with both platforms."""
    settings = load_settings({"engines": [f"linux/arm64={HOST}", f"linux/amd64={HOST}"]}, {})
    plan = prepare(settings, AMD64, audit={})
    assert mapped_hosts(plan) == {HOST: "linux/amd64, linux/arm64"}
    assert plan.engines == (HOST,)
    assert [str(t.platform) for t in plan.for_engine(HOST).targets] == ["linux/amd64",
                                                                        "linux/arm64"]
