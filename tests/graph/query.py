"""Reads the query the Dagger SDK builds lazily, offline.

dagger-io has no public call returning the query text, so this reads the internal
`obj._ctx.selections` (a deque of `Field(type_name, name, args)`). That is why dagger-io is pinned
exactly: if an upgrade moves it, only this file changes. Nothing else in tests/ touches `_ctx`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from dagger.client.base import Object


@dataclass(frozen=True)
class Call:
    """One field of the chain: `withExec(args=[...])` is Call('Container', 'withExec', {...})."""

    type_name: str
    name: str
    args: dict[str, Any]


def calls(obj: Object) -> list[Call]:
    """The chain of calls that built `obj`, from the root query to `obj` itself."""
    return [Call(f.type_name, f.name, dict(f.args)) for f in obj._ctx.selections]


def named(obj: Object, name: str) -> list[Call]:
    """The calls named `name` in `obj`'s own chain (GraphQL names: `withExec`, `from`)."""
    return [c for c in calls(obj) if c.name == name]


def platform(ctr: Object) -> str | None:
    """The platform the chain's root `container(...)` call asks for; None for the engine's own."""
    root = calls(ctr)[0]
    assert root.name == "container", f"wanted a chain starting at container(), got {root.name}"
    return root.args.get("platform")


def execs(ctr: Object) -> list[list[str]]:
    """Every command the chain runs, in order."""
    return [list(c.args["args"]) for c in named(ctr, "withExec")]


def objects_in(obj: Object) -> Iterator[Object]:
    """Every Dagger object passed as an argument anywhere below `obj`, depth first."""
    for call in calls(obj):
        for value in call.args.values():
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, Object):
                    yield item
                    yield from objects_in(item)


def containers_below(obj: Object) -> list[Object]:
    """`obj` and every container chain it takes input from (directories and files included)."""
    return [obj, *(o for o in objects_in(obj) if calls(o)[0].name == "container")]


def cache_mounts(ctr: Object) -> list[tuple[str, str, str]]:
    """(path, cache volume key, sharing) for each cache mount in `ctr`'s own chain."""
    mounts = []
    for call in named(ctr, "withMountedCache"):
        key = calls(call.args["cache"])[0].args["key"]
        sharing = call.args.get("sharing")
        mounts.append((call.args["path"], key, str(getattr(sharing, "value", sharing or "SHARED"))))
    return mounts


def same_chain(a: Object, b: Object) -> bool:
    """True when two objects were built by the identical chain of calls (same lazy graph)."""
    return _fingerprint(a) == _fingerprint(b)


def _fingerprint(obj: Object) -> tuple[Any, ...]:
    def value(v: Any) -> Any:
        if isinstance(v, Object):
            return _fingerprint(v)
        if isinstance(v, list):
            return tuple(value(i) for i in v)
        return repr(v)

    return tuple(
        (c.name, tuple(sorted((k, value(v)) for k, v in c.args.items()))) for c in calls(obj)
    )


def module_copies(ctr: Object) -> list[Call]:
    """The `withDirectory` calls of `ctr` that bring in an install's node_modules folders (the
    installed tree filtered to them, copied over the app dir)."""
    def is_modules(source: Object) -> bool:
        last = calls(source)[-1]
        return last.name == "filter" and "node_modules" in (last.args.get("include") or [])

    return [c for c in named(ctr, "withDirectory")
            if c.args["path"] == "/app" and is_modules(c.args["source"])]
