"""Engine tier: real where a Dagger session exists, else skipped naming what is missing."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack

import dagger
import pytest

from pipelines.engines.connect import close_sessions
from tests.components.registry import LocalRegistry, running_registry


def engine_session_available() -> bool:
    """True with a CLI binary named or on PATH, or inside a session (DAGGER_SESSION_PORT)."""
    names = ("DAGGER_SESSION_PORT", "_EXPERIMENTAL_DAGGER_CLI_BIN")
    return any(os.environ.get(name) for name in names) or shutil.which("dagger") is not None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Skip engine tests, with the reason, when no engine can be reached."""
    if engine_session_available():
        return
    skip = pytest.mark.skip(
        reason="no Dagger engine: run `python -m pytest -m engine` with the dagger CLI on PATH "
        "or _EXPERIMENTAL_DAGGER_CLI_BIN naming it (not under `dagger run`)"
    )
    for item in items:
        if "engine" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
async def engine() -> AsyncIterator[None]:
    """A connected Dagger session for one test, closed as the build closes its own: a session
    that ends badly after the test's work is a warning line, not an error of the test (seen on
    a busy engine: its `/shutdown` fails when the telemetry flush takes over 10 s)."""
    stack = AsyncExitStack()
    await stack.enter_async_context(dagger.connection())
    try:
        yield
    finally:
        await close_sessions(stack, failed=False)


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRegistry]:
    """A real registry with htpasswd auth on this host's loopback, for one test module."""
    with running_registry(tmp_path_factory.mktemp("registry")) as started:
        yield started
