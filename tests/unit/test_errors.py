"""Errors: Dagger failures become one PipelineError naming stage, platform and stderr tail."""

from __future__ import annotations

import contextlib
import json

import anyio
import cattrs
import dagger
import gql
import pytest
from dagger._exceptions import QueryErrorValue

from pipelines import build
from pipelines.errors import PipelineError, tail
from pipelines.logs import configure_logging
from pipelines.plan.caches import CacheVolume
from pipelines.plan.model import Target
from pipelines.platforms import Platform
from pipelines.run import execute
from pipelines.run import graph as run
from pipelines.run.graph import Clock


def exec_error(stderr: str, exit_code: int = 1) -> dagger.ExecError:
    """An ExecError exactly as the SDK builds it from an engine's EXEC_ERROR response."""
    values = cattrs.structure(
        [{"message": "process did not complete successfully", "path": ["withExec"],
          "extensions": {"_type": "EXEC_ERROR", "cmd": ["npm", "ci", "--omit=dev"],
                         "exitCode": exit_code, "stdout": "", "stderr": stderr}}],
        list[QueryErrorValue],
    )
    error = dagger.QueryError(values, gql.GraphQLRequest(gql.gql("{ version }")))
    assert isinstance(error, dagger.ExecError)
    return error


ARM64 = Target(Platform.parse("linux/arm64"), "glibc", emulated=True, toolchain=True,
               compiled=("bcrypt",), scripted=(),
               caches=(CacheVolume("c", "/c"),))


async def test_exec_error_names_stage_platform_and_stderr_tail() -> None:
    """A failed exec becomes a PipelineError with the command, exit code and last stderr lines."""
    lines = "\n".join(f"line {i}" for i in range(40))

    async def fail() -> None:
        raise exec_error(lines + "\ngyp ERR! not ok", exit_code=7)

    with pytest.raises(PipelineError) as caught:
        await Clock().run("native", ARM64, fail())
    text = str(caught.value)
    assert text.startswith("stage native on linux/arm64 failed: `npm ci --omit=dev` exited with 7")
    assert "gyp ERR! not ok" in text and "line 39" in text and "line 1\n" not in text
    assert caught.value.exit_code == 1


def test_a_stack_trace_keeps_its_message_in_the_excerpt() -> None:
    """Node prints the message above its frames: a long trace at the end of the output keeps
    the message and the first frames, not only the last twelve frames."""
    frames = "\n".join(f"    at step{i} (/app/node_modules/x/index.js:{i}:1)" for i in range(20))
    text = tail(f"npm warn something\nError: Missing environment variable: JWT_SECRET\n{frames}"
                "\nNode.js v22.23.5")
    assert text.splitlines() == [
        "npm warn something", "Error: Missing environment variable: JWT_SECRET",
        "    at step0 (/app/node_modules/x/index.js:0:1)",
        "    at step1 (/app/node_modules/x/index.js:1:1)", "    ...", "Node.js v22.23.5"]
    python = tail('Traceback (most recent call last):\n  File "a.py", line 1\n'
                  '  File "b.py", line 2\n  File "c.py", line 3\nValueError: bad')
    assert python.splitlines()[-2:] == ["  ...", "ValueError: bad"]


async def test_successful_stage_records_its_duration() -> None:
    """A finished stage logs and records its duration under stage:platform."""
    clock = Clock()

    async def work() -> str:
        return "done"

    assert await clock.run("runtime", ARM64, work()) == "done"
    assert list(clock.durations) == ["runtime:linux/arm64"]


def test_boundary_reports_every_failed_target(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """Errors from a task group (one per target) are each printed; exit code 1, no traceback."""

    def failing_run(*_: object) -> str:
        raise ExceptionGroup("targets", [
            PipelineError("boom", stage="native", platform="linux/amd64"),
            PipelineError("bang", stage="native", platform="linux/arm64"),
        ])

    monkeypatch.setattr(build.anyio, "run", failing_run)
    assert build.main([]) == 1
    err = capsys.readouterr().err
    assert "ERROR stage native on linux/amd64 failed: boom" in err
    assert "ERROR stage native on linux/arm64 failed: bang" in err


def test_overall_timeout_is_one_sentence(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """A build that outlives --timeout stops with exit 1 and a sentence naming the limit.

    The engine connection and the execution are replaced by test doubles (no engine here):
    this checks the timeout boundary, not a real build.
    """
    @contextlib.asynccontextmanager
    async def no_engine(version: str):
        yield

    async def slow(*_: object) -> str:
        await anyio.sleep(5)
        return "never"

    monkeypatch.setattr(run, "engine", no_engine)
    monkeypatch.setattr(execute, "execute", slow)
    assert build.main(["--timeout", "0.2", "--audit", "offline"]) == 1
    err = capsys.readouterr().err
    assert "ERROR stage build failed: the build did not finish within 0.2 s" in err


async def test_long_stage_logs_a_heartbeat_naming_platform_and_emulation(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A stage running past the heartbeat interval logs stage_running lines, saying whether it
    runs emulated, and stops beating once it finishes."""
    configure_logging("json")
    capsys.readouterr()
    clock = Clock(heartbeat_s=0.05)

    async def slow() -> str:
        await anyio.sleep(0.18)
        return "done"

    assert await clock.run("smoke", ARM64, slow()) == "done"
    await anyio.sleep(0.12)  # no beat may follow the finish
    events = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    beats = [e for e in events if e["event"] == "stage_running"]
    assert 2 <= len(beats) <= 4
    assert all(b["platform"] == "linux/arm64" and b["emulated"] is True for b in beats)
    assert events[-1]["event"] == "stage_finished"


async def test_a_command_that_explains_itself_on_stdout_shows_stdout() -> None:
    """pnpm prints ERR_PNPM_* on stdout with an empty stderr: the tail shown is stdout's."""
    error = exec_error("")
    error.stdout = "Progress: resolved 1\nERR_PNPM_FETCH_404  GET .../pds-0.4.219.tgz: Not Found"

    async def fail() -> None:
        raise error

    with pytest.raises(PipelineError) as caught:
        await Clock().run("deps", ARM64, fail())
    assert "ERR_PNPM_FETCH_404" in str(caught.value)


def test_a_shared_stage_failure_is_said_once_and_targets_failing_alike_each_keep_theirs() -> None:
    """The build stage's failure also surfaces under a target's runtime stage (seen on
    hoppscotch and linkwarden: said twice, once under linux/arm64 only)."""
    from pipelines.errors import PipelineError, distinct  # noqa: PLC0415

    shared = PipelineError("`pnpm install` exited with 1", stage="app", stderr="ENOTFOUND")
    echo = PipelineError("`pnpm install` exited with 1", stage="runtime",
                         platform="linux/arm64", stderr="ENOTFOUND")
    amd = PipelineError("`npm ci` exited with 1", stage="deps", platform="linux/amd64",
                        stderr="E404")
    arm = PipelineError("`npm ci` exited with 1", stage="deps", platform="linux/arm64",
                        stderr="E404")
    assert distinct([echo, shared, amd, arm]) == [shared, amd, arm]
