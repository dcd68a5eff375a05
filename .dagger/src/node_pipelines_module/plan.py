"""From the module's arguments to the pipeline's settings and plan: no pipeline logic here.

Inside a module, "host" is the module's own container: the source Directory is exported into
it so `pipelines.plan.prepare` reads the project as the command line would, and the same Directory
is handed to the stages.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import dagger

from pipelines.build import leaves
from pipelines.errors import NodePipelinesError
from pipelines.logs import configure_logging
from pipelines.plan.model import Plan
from pipelines.plan.prepare import prepare
from pipelines.run.graph import engine_platform
from pipelines.settings import Settings, load_settings


def unchanged(name: str, value: Any) -> bool:
    """True when an argument equals the settings default (lists compared item by item)."""
    default = Settings.model_fields[name].default
    if isinstance(value, list | tuple) and isinstance(default, tuple):
        return tuple(str(v) for v in value) == tuple(str(d) for d in default)
    return bool(value == default)


def settings_for(source: Path, arguments: Mapping[str, Any]) -> Settings:
    """Settings from the arguments, over the source's node-pipelines.toml and the defaults.

    An argument left at its default does not override the config file; the module's own
    environment is never read (env vars are not configuration inside a module).
    """
    flags = {name: value for name, value in arguments.items() if not unchanged(name, value)}
    return load_settings({**flags, "source": str(source)}, environ={})


async def local_copy(source: dagger.Directory) -> Path:
    """Export the source into the module's container, where `prepare` reads it."""
    path = Path(await anyio.to_thread.run_sync(tempfile.mkdtemp, "", "nodepipe-src-"))
    await source.export(str(path))
    return path


async def planned(source: dagger.Directory, arguments: Mapping[str, Any]) -> tuple[Settings, Plan]:
    """The audited plan for the arguments on the engine the module runs on."""
    configure_logging()
    settings = settings_for(await local_copy(source), arguments)
    engine = await engine_platform()
    # prepare() runs the online audit in its own event loop: never inside this one.
    return settings, await anyio.to_thread.run_sync(prepare, settings, engine)


@contextmanager
def first_error() -> Iterator[None]:
    """Task groups raise exception groups: the caller reads the first failure's sentence."""
    try:
        yield
    except* NodePipelinesError as group:
        raise leaves(group)[0] from None
