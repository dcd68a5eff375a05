"""Prisma's client in the lazy graph: generated in the build stage after the install, and
before Prisma 7 on each target's own platform, whose output that target's image takes."""

from __future__ import annotations

from typing import Any

from dagger import dag

from pipelines.plan.prepare import prepare
from pipelines.platforms import Platform
from pipelines.run import graph as run
from pipelines.settings import load_settings
from tests.conftest import REPO
from tests.graph import query

PRISMA6 = REPO / "tests" / "fixtures" / "lockfiles" / "prisma6-client"
PRISMA7 = REPO / "tests" / "fixtures" / "services" / "prisma-client"
GENERATE = ["node", "/app/node_modules/prisma/build/index.js", "generate", "--schema",
            "prisma/schema.prisma"]


def images_of(source: Any) -> tuple[Any, Any]:
    """The plan of `source` on an amd64 engine, and its lazy graph."""
    plan = prepare(load_settings({"source": str(source)}, {}), Platform.parse("linux/amd64"),
                   audit={})
    return plan, run.build_graph(plan, dag.directory())


def generated_copy(runtime: Any) -> Any:
    """The directory of generated code the runtime image lays over /app (its last copy)."""
    copies = [c for c in query.named(runtime, "withDirectory") if c.args["path"] == "/app"]
    source = copies[-1].args["source"]
    assert query.calls(source)[-1].args["include"] == ["node_modules/.prisma/client/**"]
    return source


def test_the_build_stage_generates_after_the_install_and_before_the_build() -> None:
    """As `npm ci` with scripts on would: install, then @prisma/client's `prisma generate`."""
    _, images = images_of(PRISMA7)
    execs = query.execs(images.app)
    assert execs.index(GENERATE) == execs.index(["npm", "ci", "--ignore-scripts"]) + 2


def test_prisma_6_targets_generate_on_their_own_platform() -> None:
    """Each Prisma 6 runtime takes its client from a container of its own platform that ran
    `prisma generate` over the build stage's tree."""
    plan, images = images_of(PRISMA6)
    for target in plan.targets:
        code = generated_copy(images.runtimes[target.platform])
        (generator,) = [c for c in query.containers_below(code) if GENERATE in query.execs(c)
                        and query.platform(c) is not None]
        assert query.platform(generator) == str(target.platform)


def test_prisma_7_targets_share_the_build_stages_client() -> None:
    """Prisma 7's client holds no engine: every runtime takes the build stage's, and nothing
    generates on a target."""
    plan, images = images_of(PRISMA7)
    codes = [generated_copy(images.runtimes[t.platform]) for t in plan.targets]
    assert query.same_chain(codes[0], codes[1])
    assert all(query.platform(c) is None for c in query.containers_below(codes[0])
               if GENERATE in query.execs(c))
