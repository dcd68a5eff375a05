"""The checks the executor runs on each runtime image, read from the graph it builds.

`execute._outcome` and `probe._outcome` (the one await per check) are replaced by a recording
test double that answers with canned script output: this proves which containers are checked
and how results are judged, not that the scripts pass on a real image (tests/components and
tests/engine do).
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from pipelines.errors import PipelineError
from pipelines.plan.model import Plan
from pipelines.run import execute, probe
from pipelines.run.graph import Clock, Images
from pipelines.run.report import Report
from tests.graph import query
from tests.unit.test_checks import hygiene_output, smoke_output

PROBE_OK = json.dumps({"ok": True, "url": "http://app:8080/healthz", "status": 200,
                       "error": None, "body": "{}", "attempts": 1, "elapsed_s": 0.1,
                       "timeout_s": 60}) + "\n"


class FakeEngine:
    """Records each check container and answers like the shipped scripts would."""

    def __init__(self, failing_smoke: str | None = None) -> None:
        self.seen: list[Any] = []
        self.failing_smoke = failing_smoke

    async def outcome(self, ctr: Any) -> tuple[str, str, int]:
        self.seen.append(ctr)
        command = query.execs(ctr)[-1]
        script = command[1].rsplit("/", 1)[-1]
        if script == "smoke.js":
            arch = command[command.index("--arch") + 1]
            if arch == self.failing_smoke:
                packages = json.loads(smoke_output())["packages"]
                packages[0] |= {"ok": False, "error": "wrong ELF class"}
                return smoke_output(packages=packages, arch=arch, expected_arch=arch), "", 1
            return smoke_output(arch=arch, expected_arch=arch), "", 0
        if script == "hygiene.js":
            return hygiene_output(), "", 0
        return PROBE_OK, "", 0


async def checked_smoke(plan: Plan, images: Images,
                        monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Run the checks of `plan` on `images` against a FakeEngine; each smoke command."""
    engine = FakeEngine()
    monkeypatch.setattr(execute, "_outcome", engine.outcome)
    monkeypatch.setattr(probe, "_outcome", engine.outcome)
    await execute.check_targets(plan, images, Clock(), Report(plan))
    return list(smoke_commands(engine).values())


def smoke_commands(engine: FakeEngine) -> dict[str, list[str]]:
    found = {}
    for ctr in engine.seen:
        command = query.execs(ctr)[-1]
        if command[1].endswith("smoke.js"):
            found[query.platform(ctr)] = command
    return found


async def test_every_target_gets_smoke_hygiene_and_probe(
    plan: Plan, images: Images, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three checks per target; smoke runs on that target's runtime image with its packages."""
    engine = FakeEngine()
    monkeypatch.setattr(execute, "_outcome", engine.outcome)
    monkeypatch.setattr(probe, "_outcome", engine.outcome)
    await execute.check_targets(plan, images, Clock(), Report(plan))
    assert len(engine.seen) == 3 * len(plan.targets)
    commands = smoke_commands(engine)
    assert set(commands) == {"linux/amd64", "linux/arm64"}
    for target in plan.targets:
        command = commands[str(target.platform)]
        assert command[command.index("--arch") + 1] == target.platform.node_arch
        packages = command[command.index("--") + 1:]
        assert packages == ["node_modules/bcrypt", "node_modules/better-sqlite3",
                            "node_modules/sharp", "./native/build/Release"]
        runtime = images.runtimes[target.platform]
        smoke = next(c for c in engine.seen if query.platform(c) == str(target.platform))
        assert query.calls(smoke)[: len(query.calls(runtime))] == query.calls(runtime)


async def test_a_failing_smoke_names_the_target(
    plan: Plan, images: Images, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A package that fails to load on arm64 fails the checks with a sentence naming arm64."""
    fake = FakeEngine(failing_smoke="arm64")
    monkeypatch.setattr(execute, "_outcome", fake.outcome)
    monkeypatch.setattr(probe, "_outcome", fake.outcome)
    with pytest.raises(ExceptionGroup) as caught:
        await execute.check_targets(plan, images, Clock(), Report(plan))
    (error,) = caught.value.exceptions
    assert isinstance(error, PipelineError)
    assert str(error).startswith("stage smoke on linux/arm64 failed: bcrypt failed to load")


async def test_the_probe_runs_the_service_with_its_own_env_secrets_and_services(
    images: Images, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--probe-env, --probe-secret and --probe-service reach the probe's run of the service on
    every platform (a Dagger secret, a service bound by its name), never the image."""
    from pipelines.plan.prepare import prepare  # noqa: PLC0415
    from pipelines.platforms import Platform  # noqa: PLC0415
    from pipelines.run import graph as run  # noqa: PLC0415
    from pipelines.settings import load_settings  # noqa: PLC0415
    from tests.conftest import REPO  # noqa: PLC0415

    settings = load_settings({
        "source": str(REPO / "tests/fixtures/services/plain-js"), "probe_env": "MODE=probe",
        "probe_secrets": "JWT_SECRET",
        "probe_services": "db=postgres:16-bookworm,POSTGRES_PASSWORD=x;cache=redis:7"}, {})
    plan = prepare(settings, Platform.parse("linux/amd64"), audit={})
    built = run.build_graph(plan, images.client.directory())
    engine = FakeEngine()
    monkeypatch.setattr(execute, "_outcome", engine.outcome)
    monkeypatch.setattr(probe, "_outcome", engine.outcome)
    await execute.check_targets(plan, built, Clock(), Report(plan),
                                secrets={"JWT_SECRET": "s3cr3t-value"})
    probes = [c for c in engine.seen if query.execs(c)[-1][1].endswith("probe.js")]
    assert len(probes) == len(plan.targets) == 2
    for ctr in probes:
        (binding,) = query.named(ctr, "withServiceBinding")
        app = binding.args["service"]
        names = [c.name for c in query.calls(app)]
        assert "withSecretVariable" in names
        env = {c.args["name"]: c.args["value"] for c in query.named(app, "withEnvVariable")}
        assert env["MODE"] == "probe"
        bound = {c.args["alias"]: [p.args["port"] for p in
                                   query.named(c.args["service"], "withExposedPort")]
                 for c in query.named(app, "withServiceBinding")}
        # Each waits for its usual port, so the service starts once Postgres listens.
        assert bound == {"db": [5432], "cache": [6379]}
        assert "s3cr3t-value" not in repr(query.calls(app))
    for runtime in built.runtimes.values():
        assert not query.named(runtime, "withSecretVariable")
        assert "MODE" not in {c.args["name"] for c in query.named(runtime, "withEnvVariable")}


async def test_smoke_checks_each_program_of_entrypoint_and_cmd(
    images: Images, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under --init, smoke looks for tini and for each program of the start command (the
    pnpm-start fixture: node, and the tsx/cjs module node preloads)."""
    from pipelines.plan.prepare import prepare  # noqa: PLC0415
    from pipelines.platforms import Platform  # noqa: PLC0415
    from pipelines.run import graph as run  # noqa: PLC0415
    from pipelines.settings import load_settings  # noqa: PLC0415
    from tests.conftest import REPO  # noqa: PLC0415

    settings = load_settings({"source": str(REPO / "tests/fixtures/services/pnpm-start"),
                              "init": True}, {})
    plan = prepare(settings, Platform.parse("linux/amd64"), audit={})
    built = run.build_graph(plan, images.client.directory())
    for command in await checked_smoke(plan, built, monkeypatch):
        options = list(itertools.pairwise(command))
        assert [v for k, v in options if k == "--program"] == ["/usr/bin/tini", "node"]
        assert [v for k, v in options if k == "--preload"] == ["tsx/cjs"]


async def test_npm_dev_optional_packages_may_be_absent_from_the_image(
    plan: Plan, images: Images, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A native package npm marks devOptional (reached from the dev tree and an optional edge:
    some npm versions leave it out of `npm ci --omit=dev`, as a node:24 image's npm did with
    @swc/core) is passed as --optional: loaded where it is, said absent where not, never
    required; the others stay required."""
    from dataclasses import replace  # noqa: PLC0415

    sharp = next(e for e in plan.production if e.path == "node_modules/sharp")
    marked = replace(plan, production=tuple(replace(e, dev_optional=True) if e is sharp else e
                                            for e in plan.production))
    for command in await checked_smoke(marked, images, monkeypatch):
        options = list(itertools.pairwise(command))
        assert [v for k, v in options if k == "--optional"] == ["node_modules/sharp"]
        assert command[command.index("--") + 1:] == [
            "node_modules/bcrypt", "node_modules/better-sqlite3", "./native/build/Release"]
