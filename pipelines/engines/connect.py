"""The engines one build runs on: the default one, and one Dagger connection per runner host
that a platform is mapped to (`--engine linux/arm64=tcp://arm-builder:1234`).

dagger-io 0.21.8 has no per-connection engine option: `dagger.Connection()` starts
`<cli> session` with this process's environment, and the CLI reads the runner host from
`_EXPERIMENTAL_DAGGER_RUNNER_HOST` when it starts. So each mapped connection is opened with
that variable set to its host, one at a time, before any work begins. The session variables
are hidden meanwhile: with `DAGGER_SESSION_PORT` set (under `dagger run`) both the SDK and the
CLI would attach to the running session instead of starting one on the mapped engine.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import anyio
import dagger
from dagger import dag

from pipelines.errors import EngineUnavailableError
from pipelines.logs import get_logger
from pipelines.platforms import Platform

RUNNER_HOST_ENV = "_EXPERIMENTAL_DAGGER_RUNNER_HOST"
SESSION_ENV = ("DAGGER_SESSION_PORT", "DAGGER_SESSION_TOKEN")
REACH_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Engine:
    """One connected engine: its runner host (empty for the default), client and platform."""

    host: str
    client: dagger.Client
    platform: Platform

    @property
    def name(self) -> str:
        """How the plan and the logs name this engine."""
        return self.host or "default"


async def platform_of(client: dagger.Client) -> Platform:
    """The platform `client`'s engine runs natively."""
    return Platform.parse(str(await client.default_platform()))


@asynccontextmanager
async def connected_engines(
    hosts: Mapping[str, str], *, default: bool = True
) -> AsyncIterator[dict[str, Engine]]:
    """Every engine of the build, by runner host ("" is the default engine, already connected
    as `dag`); `hosts` maps each runner host to the platform it was given for."""
    stack, failed = AsyncExitStack(), True
    try:
        engines = {"": Engine("", dag, await platform_of(dag))} if default else {}
        for host, platform in hosts.items():
            get_logger().info("engine_connecting", engine=host, platform=platform)
            client = await _connect(stack, host, platform)
            engines[host] = Engine(host, client, await platform_of(client))
            get_logger().info("engine_connected", engine=host,
                              engine_platform=str(engines[host].platform))
        yield engines
        failed = False
    finally:
        await close_sessions(stack, failed=failed)


async def close_sessions(stack: AsyncExitStack, *, failed: bool) -> None:
    """Close the sessions on `stack`, shielded: a cancelled build (SIGTERM) still closes each.

    A session that ends badly never changes the build's outcome. When the build failed, that
    failure is the one told (a session `end_sessions` stopped ends badly). When it succeeded,
    its outputs were written and verified before this point, and the close is only the CLI's
    goodbye: seen on a busy engine, its `/shutdown` fails when flushing the session's telemetry
    takes over 10 s, and the CLI exits 1. That is one warning line, not a failed build."""
    with anyio.CancelScope(shield=True):
        try:
            await stack.aclose()
        except dagger.DaggerError as error:
            if not failed:
                reason = (str(error).strip().splitlines() or ["no reason given"])[0][:200]
                get_logger().warning("session_close_failed", reason=reason,
                                     outputs="complete: written and verified before the close")


def end_sessions(grace_s: float = 5.0) -> list[int]:
    """Stop the Dagger CLI sessions this process started (SIGTERM, then SIGKILL after
    `grace_s`); returns their pids. For a lost engine: the SDK closes a session by waiting up
    to 300 s for its CLI, which keeps retrying a dead engine that long."""
    sessions = [pid for pid, name in _children() if name.startswith("dagger")]
    for pid in sessions:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(_alive(pid) for pid in sessions):
        time.sleep(0.05)
    for pid in sessions:
        if _alive(pid):
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    return sessions


def _children() -> list[tuple[int, str]]:
    """(pid, command name) of this process's children, from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with suppress(OSError):
            text = stat.read_text()
            name, rest = text[text.index("(") + 1:text.rindex(")")], text[text.rindex(")") + 2:]
            if int(rest.split()[1]) == os.getpid():
                found.append((int(stat.parent.name), name))
    return found


def _alive(pid: int) -> bool:
    """Whether `pid` still runs (a zombie, exited but not yet reaped, does not)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return text[text.rindex(")") + 2:].split()[0] != "Z"


async def _connect(stack: AsyncExitStack, host: str, platform: str) -> dagger.Client:
    """An isolated client on the engine at `host`, closed with `stack`."""
    problem = await unreachable(host)
    if problem:
        raise EngineUnavailableError(
            f"the engine for {platform} at {host} could not be reached ({problem}): check it "
            "runs and that the --engine setting (NODEPIPE_ENGINES) names it"
        )
    with _runner_host(host):
        try:
            return await stack.enter_async_context(dagger.Connection(dagger.Config()))
        except (dagger.ProvisionError, dagger.ClientConnectionError) as error:
            raise EngineUnavailableError(
                f"the engine for {platform} at {host} could not be reached "
                f"({_last_line(error)}): check it runs and that the --engine setting "
                "(NODEPIPE_ENGINES) names it"
            ) from None


async def unreachable(host: str, timeout_s: float = REACH_TIMEOUT_S) -> str:
    """Why nothing answers at a tcp:// or unix:// runner host, or empty when something does.

    Dagger's CLI retries an unreachable engine for up to 10 minutes before it fails; a plain
    connect says so in seconds. Other schemes (ssh, kube-pod, containers) are left to the CLI.
    """
    scheme, _, address = host.partition("://")
    try:
        with anyio.fail_after(timeout_s):
            if scheme == "tcp":
                name, _, port = address.rpartition(":")
                stream = await anyio.connect_tcp(name.strip("[]"), int(port))
            elif scheme == "unix":
                stream = await anyio.connect_unix(address)
            else:
                return ""
            await stream.aclose()
    except TimeoutError:
        return f"no answer within {timeout_s:g} s"
    except OSError as error:
        # anyio says "All connection attempts failed"; the cause says why (refused, no route).
        cause = error.__cause__ if isinstance(error.__cause__, OSError) else error
        number = cause.errno or 0  # resolver errors are negative: their strerror says it
        return (os.strerror(number) if number > 0 else cause.strerror or str(cause)).lower()
    except ValueError:
        return "no port number after the host"
    return ""


@contextmanager
def _runner_host(host: str) -> Iterator[None]:
    """This process's environment as the CLI session for `host` must see it, restored after."""
    names = (RUNNER_HOST_ENV, *SESSION_ENV)
    saved = {name: os.environ.get(name) for name in names}
    for name in SESSION_ENV:
        os.environ.pop(name, None)
    os.environ[RUNNER_HOST_ENV] = host
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _last_line(error: BaseException) -> str:
    """The CLI's own last words: the useful end of a long session error."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return (lines[-1] if lines else type(error).__name__)[:200]
