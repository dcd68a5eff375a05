"""The Dagger client the graph is being built for: the default engine's `dag`, or the client
of a platform's own engine while that engine's part of the graph is built.

Every lazy object remembers the connection of the client that made it, so only where a graph
starts (a new container, a cache volume) is the client asked for; `building_on` scopes it to
one synchronous `build_graph` call.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import dagger
from dagger import dag

_CURRENT: ContextVar[dagger.Client] = ContextVar("nodepipe_client", default=dag)


def client() -> dagger.Client:
    """The client new containers and cache volumes are made with."""
    return _CURRENT.get()


@contextmanager
def building_on(engine: dagger.Client) -> Iterator[dagger.Client]:
    """Build the graph inside the `with` on `engine`."""
    token = _CURRENT.set(engine)
    try:
        yield engine
    finally:
        _CURRENT.reset(token)
