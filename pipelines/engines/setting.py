"""The `engines` setting: PLATFORM=RUNNER_HOST items, parsed and checked without an engine.

A runner host is whatever Dagger's CLI accepts in `_EXPERIMENTAL_DAGGER_RUNNER_HOST`; its
scheme picks the CLI's driver, so a typo there is caught here instead of deep in the CLI.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from pipelines.platforms import Platform, PlatformError

# The connection drivers Dagger's CLI v0.21.8 registers (engine/client/drivers).
RUNNER_SCHEMES = (
    "tcp", "unix", "ssh", "tls", "kube-pod", "docker-container", "docker-image", "container",
    "image", "container+docker", "image+docker", "container+podman", "image+podman",
    "container+nerdctl", "image+nerdctl", "container+finch", "image+finch", "container+apple",
    "image+apple", "dagger-cloud",
)
_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]*)://(.*)$")


def engine_items(value: Any) -> Any:
    """Accept a TOML table (`"linux/arm64" = "tcp://..."`) as well as `PLATFORM=HOST` items."""
    if isinstance(value, Mapping):
        return [f"{key}={host}" for key, host in value.items()]
    return value


def engine_blockers(items: Iterable[str], platforms: Iterable[Platform]) -> list[str]:
    """Every problem of the `engines` items for a build of `platforms`, each as a clause."""
    building = tuple(platforms)
    blockers: list[str] = []
    seen: set[Platform] = set()
    for item in items:
        name, equals, host = (part.strip() for part in item.partition("="))
        if not equals or not name or not host:
            blockers.append(f"{item!r} is not PLATFORM=RUNNER_HOST")
            continue
        try:
            platform = Platform.parse(name)
        except PlatformError:
            blockers.append(f"{name!r} is not a platform of the form os/arch")
            continue
        if platform not in building:
            blockers.append(f"{platform} is not one of the build's platforms "
                            f"({', '.join(str(p) for p in building)})")
        if platform in seen:
            blockers.append(f"{platform} is given two engines")
        seen.add(platform)
        problem = host_problem(host)
        if problem:
            blockers.append(f"{host!r} for {platform} {problem}")
    return blockers


def host_problem(host: str) -> str:
    """Why `host` is no runner host Dagger's CLI can use, or empty when it is one."""
    match = _SCHEME.match(host)
    if match is None:
        return "has no scheme such as tcp://"
    scheme, address = match.groups()
    if scheme not in RUNNER_SCHEMES:
        return (f"has the scheme {scheme}://, which Dagger's CLI does not know "
                f"(it knows {', '.join(RUNNER_SCHEMES[:6])}, ...)")
    if not address:
        return f"has nothing after {scheme}://"
    return ""
