"""The image's command, derived from package.json as zero-config builders do.

A `start` script of the form `[VAR=value ...] node [flags] FILE [args]` becomes an exec-form
`CMD ["node", flags..., FILE, args...]` with the variables as image environment; a `start` that
runs another script (`npm run serve`, `yarn serve`, `pnpm serve`) is followed; a plain command
line without shell syntax runs as it is (node_modules/.bin is on PATH); anything else runs
through `sh -c`, with a warning. Without `start`: `main`, then `server.js`, then `index.js`.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_SHELL_SYNTAX = re.compile(r"[;&|<>`$()*?~{}\\]|\n")
# node flags whose value is the next word.
_NODE_FLAGS_WITH_VALUE = {"-r", "--require", "--import", "--loader", "--experimental-loader",
                          "--env-file", "--env-file-if-exists", "--conditions", "-C",
                          "--title", "--inspect-port", "--max-old-space-size"}
_RUNNERS = {"npm": ("run", "run-script"), "pnpm": ("run",), "yarn": ("run",), "bun": ("run",)}
_MAX_HOPS = 8


class StartError(ValueError):
    """The project gives no start command to derive: the message says what to set."""


@dataclass(frozen=True)
class StartCommand:
    """The image's CMD, the environment it needs, and the file it starts (if it is `node FILE`)."""

    cmd: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    file: str = ""  # the script node runs, relative to the app dir; empty when unknown
    origin: str = ""  # what it was derived from: "scripts.start", "main", "server.js", ...
    warnings: tuple[str, ...] = ()


def derive_start(scripts: Mapping[str, str], main: str | None, root: Path) -> StartCommand:
    """The start command of a project with these scripts and `main`, or StartError."""
    if "start" in scripts:
        return _from_script(scripts, "start")
    if main:
        file = main.removeprefix("./")
        return StartCommand(("node", file), file=file, origin="main")
    for candidate in ("server.js", "index.js"):
        if (root / candidate).is_file():
            return StartCommand(("node", candidate), file=candidate, origin=candidate)
    raise StartError(
        "package.json has no start script, no main and there is no server.js or index.js: "
        "set start_command (--start-command node,server.js)"
    )


def _from_script(scripts: Mapping[str, str], name: str) -> StartCommand:
    seen: list[str] = []
    while True:
        seen.append(name)
        line = scripts[name].strip()
        followed = _runs_script(line, scripts)
        if followed is None:
            return _from_line(line, f"scripts.{' -> '.join(seen)}")
        if followed in seen or len(seen) > _MAX_HOPS:
            raise StartError(
                f"scripts.{name} runs scripts in a loop ({' -> '.join([*seen, followed])}): "
                "set start_command"
            )
        name = followed


def _runs_script(line: str, scripts: Mapping[str, str]) -> str | None:
    """`npm run X`, `npm start`, `yarn X`, `pnpm X`: the script named, when it exists."""
    try:
        words = shlex.split(line)
    except ValueError:
        return None
    if len(words) < 2 or words[0] not in _RUNNERS or _SHELL_SYNTAX.search(line):
        return None
    rest = words[1:]
    if rest[0] in _RUNNERS[words[0]]:
        rest = rest[1:]
    if words[0] == "npm" and rest[:1] == ["start"]:
        rest = ["start"]
    if len(rest) == 1 and rest[0] in scripts:
        return rest[0]
    return None


def _from_line(line: str, origin: str) -> StartCommand:
    try:
        words = shlex.split(line)
    except ValueError:
        words = []
    if not words or _SHELL_SYNTAX.search(line):
        return _through_shell(line, origin)
    env: dict[str, str] = {}
    while words and _ASSIGNMENT.match(words[0]):
        key, _, value = words.pop(0).partition("=")
        env[key] = value
    if not words:
        return _through_shell(line, origin)
    if words[0] == "node":
        return StartCommand(tuple(words), env=env, file=_node_script(words[1:]), origin=origin)
    return StartCommand(tuple(words), env=env, origin=origin)


def _node_script(args: list[str]) -> str:
    """The FILE of `node [flags] FILE args`; empty for `node -e ...` and the like."""
    skip = False
    for word in args:
        if skip:
            skip = False
            continue
        if word in ("-e", "--eval", "-p", "--print"):
            return ""
        if word.startswith("-"):
            skip = word in _NODE_FLAGS_WITH_VALUE
            continue
        return word.removeprefix("./")
    return ""


def _through_shell(line: str, origin: str) -> StartCommand:
    return StartCommand(
        ("sh", "-c", line), origin=origin,
        warnings=(
            f"{origin} ({line!r}) is not a plain command, so the image runs it through sh -c: "
            "signals reach the shell, not Node; set start_command for an exec form",
        ),
    )


def parse_start_setting(words: tuple[str, ...]) -> StartCommand:
    """A start_command setting, taken as given (its FILE checked when it is `node FILE`)."""
    file = _node_script(list(words[1:])) if words[:1] == ("node",) else ""
    return StartCommand(words, file=file, origin="start_command")
