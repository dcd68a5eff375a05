"""Code a dependency's install script generates: Prisma's client.

`@prisma/client`'s postinstall runs `prisma generate`, which writes the client from the
project's schema (`node_modules/.prisma/client` unless the schema's generator says `output`).
The build's installs run no dependency scripts, so node-pipelines runs the generator itself:
in the build stage right after the install, where the project's own build may import the
client; and, before Prisma 7, once more on each target, because the client then carries the
query engine of the machine that generated it (`libquery_engine-<platform>.so.node`). From
Prisma 7 the client holds no engine (its query compiler is WebAssembly): the build stage's
client is every target's.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.packagers.lockfiles.entry import LockEntry, resolve_in

CLIENT = "@prisma/client"
CLI = "prisma"
CLI_SCRIPT = "build/index.js"  # the `prisma` command of the prisma package, since Prisma 2
# Where `prisma generate` looks when neither package.json nor prisma.config names a schema.
DEFAULT_SCHEMAS = ("prisma/schema.prisma", "schema.prisma", "prisma/schema")
CONFIG_FILES = ("prisma.config.ts", "prisma.config.mts", "prisma.config.js",
                "prisma.config.mjs", "prisma.config.cjs", ".config/prisma.ts")
# A file every client prisma-client-js generates holds, and the stub it replaces does not.
MARKER = "schema.prisma"
_GENERATOR = re.compile(r"^\s*generator\s+\w+\s*\{(?P<body>.*?)^\s*\}", re.M | re.S)
_FIELD = re.compile(r'^\s*(?P<key>provider|output|engineType)\s*=\s*"(?P<value>[^"]*)"', re.M)
_CONFIG_SCHEMA = re.compile(r"""\bschema\s*:\s*(['"`])(?P<path>[^'"`]+)\1""")
_RUNS_GENERATE = re.compile(r"\bprisma\s+generate\b")


class GenerateError(ValueError):
    """The project needs generated code that cannot be generated as it is; the sentence says
    what to add."""


@dataclass(frozen=True)
class Output:
    """One folder a generator writes, relative to the root."""

    path: str
    provider: str  # prisma-client-js (plain JavaScript) or prisma-client (TypeScript source)
    engine: str  # engineType: library (default), binary or client (no engine file)

    @property
    def loads(self) -> bool:
        """True when the runtime requires this folder as it is (JavaScript, not source the
        build compiles)."""
        return self.provider == "prisma-client-js"


@dataclass(frozen=True)
class Generate:
    """`prisma generate`, as the project's install would have run it."""

    version: str  # @prisma/client's, from the lockfile
    schema: str  # relative to the service's folder: a .prisma file or a folder of them
    cli: str  # the prisma command's script, relative to the root
    outputs: tuple[Output, ...]
    # False when a script the build stage runs already says `prisma generate`.
    in_build: bool = True

    @property
    def major(self) -> int:
        """Prisma's major version (0 when the lockfile's version is not a number)."""
        head = self.version.split(".")[0]
        return int(head) if head.isdigit() else 0

    @property
    def per_target(self) -> bool:
        """True when the client carries a query engine for the machine it is generated on."""
        return self.major < 7 and any(o.engine != "client" for o in self.outputs)

    def command(self, root: str) -> tuple[str, ...]:
        """The command, run from the service's folder, the project being at `root`."""
        return ("node", f"{root}/{self.cli}", "generate", "--schema", self.schema)

    def checked(self) -> tuple[str, ...]:
        """What the smoke test requires of each JavaScript client (relative to the root): the
        schema copy in its folder, which the stub @prisma/client ships without."""
        return tuple(f"{o.path}/{MARKER}" for o in self.outputs if o.loads)

    def engine_globs(self) -> tuple[str, ...]:
        """The engine files each target's client must hold (globs relative to the root)."""
        if not self.per_target:
            return ()
        names = {"library": "libquery_engine-*.so.node", "binary": "query-engine-*"}
        return tuple(f"{o.path}/{names[o.engine]}" for o in self.outputs if o.engine in names)


def find_generate(source: Path, service: str, manifest: Mapping[str, Any],
                  entries: Mapping[str, LockEntry],
                  build_scripts: tuple[str, ...] = ()) -> Generate | None:
    """What `prisma generate` the project needs, or None when no production package generates
    code; a GenerateError when it needs one that cannot run (no schema, no prisma CLI)."""
    client = resolve_in(entries, service, CLIENT)
    if client is None or client.dev:
        return None
    folder = source / service if service else source
    schema = _schema(folder, manifest)
    where = service or "the project"
    if schema is None:
        raise GenerateError(
            f"{CLIENT} is a production dependency, and its client is generated from a Prisma "
            f"schema, which is not at {', '.join(DEFAULT_SCHEMAS)} in {where}: name it in "
            f"package.json (\"prisma\": {{\"schema\": \"PATH\"}})")
    cli = resolve_in(entries, service, CLI)
    if cli is None:
        raise GenerateError(
            f"{CLIENT} {client.version} needs `prisma generate`, and the lockfile has no "
            f"{CLI} package to run it: add {CLI} {client.version} to devDependencies")
    outputs = _outputs(source, folder / schema, client.path)
    if not outputs:
        return None  # no client generator in the schema: nothing of @prisma/client's
    runs = any(_RUNS_GENERATE.search(script) for script in build_scripts)
    return Generate(client.version, schema, f"{cli.path}/{CLI_SCRIPT}", outputs,
                    in_build=not runs)


def _schema(folder: Path, manifest: Mapping[str, Any]) -> str | None:
    """The schema path relative to `folder`: package.json's prisma.schema, prisma.config's
    `schema`, or the first default that exists."""
    named = manifest.get("prisma")
    if isinstance(named, dict) and isinstance(named.get("schema"), str):
        return posixpath.normpath(str(named["schema"]))
    for name in CONFIG_FILES:
        config = folder / name
        if config.is_file():
            found = _CONFIG_SCHEMA.search(config.read_text(encoding="utf-8", errors="replace"))
            if found:
                base = posixpath.dirname(name)
                return posixpath.normpath(posixpath.join(base, found["path"]))
    return next((s for s in DEFAULT_SCHEMAS if (folder / s).exists()), None)


def _outputs(source: Path, schema: Path, client_path: str) -> tuple[Output, ...]:
    """The client generators of the schema (a file, or a folder of .prisma files), each with
    the folder it writes, relative to the root `source`."""
    files = sorted(schema.rglob("*.prisma")) if schema.is_dir() else [schema]
    default = f"{posixpath.dirname(posixpath.dirname(client_path))}/.prisma/client"
    found: list[Output] = []
    for file in files:
        text = _without_comments(file.read_text(encoding="utf-8", errors="replace"))
        here = file.parent.relative_to(source).as_posix()
        for block in _GENERATOR.finditer(text):
            fields = {m["key"]: m["value"] for m in _FIELD.finditer(block["body"])}
            provider = fields.get("provider", "")
            if provider not in ("prisma-client-js", "prisma-client"):
                continue
            path = posixpath.normpath(posixpath.join(here, fields["output"])) \
                if "output" in fields else default
            found.append(Output(path, provider, fields.get("engineType", "library")))
    return tuple(found)


def _without_comments(text: str) -> str:
    return re.sub(r"//[^\n]*", "", text)
