"""Component-tier fixtures shared by several modules."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.components.registry import LocalRegistry, running_registry


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRegistry]:
    """One real docker-registry with htpasswd auth for the module that asks for it."""
    with running_registry(tmp_path_factory.mktemp("registry")) as started:
        yield started
