"""The image's command, derived from package.json as zero-config builders do.

A `start` script of the form `[VAR=value ...] node [flags] FILE [args]` becomes an exec-form
`CMD ["node", flags..., FILE, args...]` with the variables as image environment (`cross-env
VAR=value` and `env VAR=value` prefixes too). A `start` that runs another script through the
package manager is followed to the script it runs, in the package it runs in: `npm run X [-w P]`,
`pnpm [--filter P] [run] X`, `yarn [workspace P] [run] X`, each optionally behind `corepack`.
A plain command line without shell syntax runs as it is (node_modules/.bin is on PATH);
anything else runs through `sh -c`, with a warning. Without `start`: the one program `bin`
names, then `main`, then `server.js`, then `index.js`.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_SHELL_SYNTAX = re.compile(r"[;&|<>`$()*?~{}\\]|\n")
# node flags whose value is the next word.
_NODE_FLAGS_WITH_VALUE = {"-r", "--require", "--import", "--loader", "--experimental-loader",
                          "--env-file", "--env-file-if-exists", "--conditions", "-C",
                          "--title", "--inspect-port", "--max-old-space-size"}
# node flags whose value is a module node loads before the script.
NODE_PRELOADS = ("-r", "--require", "--import", "--loader", "--experimental-loader")
MANAGERS = ("npm", "pnpm", "yarn")
# Each manager's options that select the package (or folder) a script runs in, and the flags
# that change nothing about which script runs.
_PACKAGE_OPTIONS = {"npm": ("-w", "--workspace"), "pnpm": ("-F", "--filter"), "yarn": ()}
_FOLDER_OPTIONS = {"npm": ("--prefix",), "pnpm": ("-C", "--dir"), "yarn": ("--cwd",)}
_QUIET = ("-s", "--silent", "-q", "--quiet", "--if-present")
_MAX_HOPS = 8


class StartError(ValueError):
    """The project gives no start command to derive: the message says what to set."""


@dataclass(frozen=True)
class StartCommand:
    """The image's CMD, the environment it needs, and the file it starts (if it is `node FILE`)."""

    cmd: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    file: str = ""  # the script node runs, relative to `directory`; empty when unknown
    origin: str = ""  # what it was derived from: "scripts.start", "main", "server.js", ...
    warnings: tuple[str, ...] = ()
    # The folder (relative to the root) it runs in: the package whose script it is. None: the
    # service's own folder (a start_command setting).
    directory: str | None = None


@dataclass(frozen=True)
class Scripts:
    """One package's scripts and its folder relative to the root ("" for the root)."""

    path: str
    scripts: Mapping[str, str]


def derive_start(scripts: Mapping[str, str], main: str | None, root: Path, *,
                 here: str = "", packages: Mapping[str, Scripts] | None = None,
                 program: str | None = None) -> StartCommand:
    """The start command of the package in folder `here` (relative to `root`) with these
    scripts, the one `program` its `bin` names and `main`, or StartError. `packages` are the
    workspace's, by name and by folder, for scripts that run another package's script."""
    if "start" in scripts:
        return _from_script(Scripts(here, scripts), "start", packages or {})
    if program:  # the package's own program: `main` of such a package is often its library
        file = posixpath.normpath(program.removeprefix("./"))
        return StartCommand(("node", file), file=file, origin="bin", directory=here)
    if main:
        file = main.removeprefix("./")
        return StartCommand(("node", file), file=file, origin="main", directory=here)
    for candidate in ("server.js", "index.js"):
        if (root / here / candidate).is_file():
            return StartCommand(("node", candidate), file=candidate, origin=candidate,
                                directory=here)
    raise StartError(
        "package.json has no start script, no main and there is no server.js or index.js: "
        "set start_command (--start-command node,server.js)"
    )


def _from_script(package: Scripts, name: str, packages: Mapping[str, Scripts]) -> StartCommand:
    seen: list[tuple[str, str]] = []
    env: dict[str, str] = {}
    while True:
        seen.append((package.path, name))
        origin = "scripts." + " -> ".join(_label(seen[0][0], p, n) for p, n in seen)
        line = package.scripts[name].strip()
        hop = _runs_script(line, package, packages)
        if hop is None:
            command = _from_line(line, origin)
            return StartCommand(command.cmd, {**env, **command.env}, command.file, origin,
                                command.warnings, directory=package.path)
        hop_env, package, name = hop
        env |= hop_env
        if (package.path, name) in seen or len(seen) > _MAX_HOPS:
            chain = " -> ".join(n for _, n in [*seen, (package.path, name)])
            raise StartError(f"scripts.start runs scripts in a loop ({chain}): set start_command")


def script_command(package: Scripts, name: str,
                   packages: Mapping[str, Scripts]) -> tuple[str, str]:
    """The folder and command line a script comes down to, following the package manager
    forms it runs (`npm run build` -> build's own line); for telling two scripts that run the
    same command apart from two that do not."""
    seen: set[tuple[str, str]] = set()
    while (package.path, name) not in seen and len(seen) <= _MAX_HOPS:
        seen.add((package.path, name))
        hop = _runs_script(package.scripts[name].strip(), package, packages)
        if hop is None:
            break
        _, package, name = hop
    return package.path, " ".join(package.scripts[name].split())


def _label(start: str, path: str, name: str) -> str:
    return name if path == start else f"{name} ({path or 'root'})"


def _runs_script(
    line: str, package: Scripts, packages: Mapping[str, Scripts]
) -> tuple[dict[str, str], Scripts, str] | None:
    """What a line that runs a package.json script runs: the environment it sets, the package
    and the script; None when the line runs something else (or a form not followed)."""
    words = _manager_line(line)
    parsed = _manager_words(words[0], words[1:]) if words else None
    if parsed is None:
        return None
    selector, folder, rest = parsed
    target: Scripts | None = package
    if selector is not None:
        target = packages.get(selector) or packages.get(_folder(package.path, selector))
    elif folder is not None:
        target = packages.get(_folder(package.path, folder))
    script = _script_named(words[0], rest)
    if target is None or script is None or script not in target.scripts:
        return None
    return strip_env(shlex.split(line))[0], target, script


def _manager_line(line: str) -> list[str]:
    """The words of a line that runs npm, pnpm or yarn (behind env prefixes and `corepack`),
    from the manager on; [] for any other line."""
    if _SHELL_SYNTAX.search(line):
        return []
    try:
        words = strip_env(shlex.split(line))[1]
    except ValueError:
        return []
    if words[:1] == ["corepack"]:
        words = words[1:]
    return words if words[:1] and words[0] in MANAGERS else []


def _folder(here: str, relative: str) -> str:
    joined = posixpath.normpath(posixpath.join(here or ".", relative))
    return "" if joined == "." else joined


def _manager_words(
    manager: str, words: list[str]
) -> tuple[str | None, str | None, list[str]] | None:
    """(package selected, folder selected, the other words); None for an option not followed."""
    selector: str | None = None
    folder: str | None = None
    rest: list[str] = []
    if manager == "yarn" and words[:1] == ["workspace"] and len(words) > 1:
        selector, words = words[1], words[2:]
    i = 0
    while i < len(words):
        word = words[i]
        option, eq, value = word.partition("=")
        takes_value = option in _PACKAGE_OPTIONS[manager] + _FOLDER_OPTIONS[manager]
        if takes_value and not eq:
            if i + 1 >= len(words):
                return None
            value, i = words[i + 1], i + 1
        if takes_value:
            if option in _PACKAGE_OPTIONS[manager]:
                if selector is not None or re.search(r"[.]{3}|[*!{}\[\]^]", value):
                    return None  # several packages, or a pnpm filter expression
                selector = value
            else:
                folder = value
        elif word in _QUIET:
            pass
        elif word.startswith("-"):
            return None
        else:
            rest.append(word)
        i += 1
    return selector, folder, rest


def _script_named(manager: str, words: list[str]) -> str | None:
    """The script `npm run X`, `npm start`, `pnpm [run] X`, `yarn [run] X` runs."""
    if words[:1] in (["run"], ["run-script"]) and len(words) == 2:
        return words[1]
    if manager == "npm":
        return "start" if words == ["start"] else None
    return words[0] if len(words) == 1 else None


def strip_env(words: list[str]) -> tuple[dict[str, str], list[str]]:
    """The `VAR=value`, `cross-env VAR=value` and `env VAR=value` prefixes of a command, as
    environment, and the command after them."""
    env: dict[str, str] = {}
    words = list(words)
    while words:
        if _ASSIGNMENT.match(words[0]):
            key, _, value = words.pop(0).partition("=")
            env[key] = value
        elif words[0] in ("cross-env", "env") and len(words) > 1 and _ASSIGNMENT.match(words[1]):
            words.pop(0)
        else:
            break
    return env, words


def _from_line(line: str, origin: str) -> StartCommand:
    try:
        words = shlex.split(line)
    except ValueError:
        words = []
    if not words or _SHELL_SYNTAX.search(line):
        return _through_shell(line, origin)
    env, words = strip_env(words)
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


def node_preloads(args: tuple[str, ...]) -> tuple[str, ...]:
    """The modules `node [flags] ...` loads before its script (`--require tsx/cjs` -> tsx/cjs)."""
    found: list[str] = []
    for i, word in enumerate(args):
        option, eq, value = word.partition("=")
        if option in NODE_PRELOADS:
            if eq:
                found.append(value)
            elif i + 1 < len(args):
                found.append(args[i + 1])
        elif not word.startswith("-") and (i == 0 or args[i - 1] not in _NODE_FLAGS_WITH_VALUE):
            break  # the script: what follows are its own arguments
    return tuple(found)


def _through_shell(line: str, origin: str) -> StartCommand:
    return StartCommand(
        ("sh", "-c", line), origin=origin,
        warnings=(
            f"{origin} ({line!r}) is not a plain command, so the image runs it through sh -c: "
            "signals reach the shell, not Node; set start_command for an exec form",
        ),
    )


def parse_start_setting(words: tuple[str, ...], scripts: Mapping[str, str] | None = None, *,
                        here: str = "", packages: Mapping[str, Scripts] | None = None
                        ) -> StartCommand:
    """A start_command setting: a package manager running a script (`pnpm,run,prod`) is
    followed as a start script is; anything else is taken as given (its FILE checked when it
    is `node FILE`)."""
    if scripts is not None:
        hop = _runs_script(shlex.join(words), Scripts(here, scripts), packages or {})
        if hop is not None:
            env, package, name = hop
            followed = _from_script(package, name, packages or {})
            return replace(followed, env={**env, **followed.env},
                           origin="start_command -> " + followed.origin.removeprefix("scripts."))
    file = _node_script(list(words[1:])) if words[:1] == ("node",) else ""
    return StartCommand(words, file=file, origin="start_command")


def alternative_starts(scripts: Mapping[str, str], *, here: str = "",
                       packages: Mapping[str, Scripts] | None = None) -> list[StartCommand]:
    """The commands of the scripts projects name for production starts (`start:prod`, `prod`,
    ...), for a refusal to suggest."""
    found = []
    for name in ("start:prod", "start:production", "prod", "production", "serve"):
        if name in scripts:
            try:
                found.append(_from_script(Scripts(here, scripts), name, packages or {}))
            except StartError:
                continue
    return found
