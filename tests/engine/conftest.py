"""Engine tier: real where a Dagger session exists, else skipped naming what is missing."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import dagger
import pytest


def engine_session_available() -> bool:
    """True under `dagger run pytest` (or any DAGGER_SESSION_PORT) or with a CLI binary named."""
    names = ("DAGGER_SESSION_PORT", "_EXPERIMENTAL_DAGGER_CLI_BIN")
    return any(os.environ.get(name) for name in names)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Skip engine tests, with the reason, when no engine can be reached."""
    if engine_session_available():
        return
    skip = pytest.mark.skip(
        reason="no Dagger engine session: run `dagger run python -m pytest -m engine` "
        "(needs the Dagger CLI and a container runtime)"
    )
    for item in items:
        if "engine" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
async def engine() -> AsyncIterator[None]:
    """A connected Dagger session for one test."""
    async with dagger.connection():
        yield
