"""The project's build policy: whether its package manager runs a dependency's install script,
and the setting that decided, so a verdict can name it.

- npm: `ignore-scripts=true` in the project's `.npmrc` runs no script at all (`npm rebuild`
  included).
- pnpm: `neverBuiltDependencies`, `ignoredBuiltDependencies`, `allowBuilds` (pnpm 10.26+ and
  11, a map of name to true/false), `dangerouslyAllowAllBuilds`, `onlyBuiltDependencies`, in
  package.json's `pnpm` field (up to pnpm 10; pnpm 11 reads only pnpm-workspace.yaml) or
  pnpm-workspace.yaml, which wins; `ignore-scripts` in `.npmrc` (up to pnpm 10) or
  `ignoreScripts` in pnpm-workspace.yaml. Without any of them pnpm 10+ builds nothing.
- yarn berry: package.json `dependenciesMeta[name].built`, else `enableScripts` in
  `.yarnrc.yml`, else that yarn version's default.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.packagers.lockfiles.entry import strings


@dataclass(frozen=True, slots=True)
class BuildDecision:
    """Whether the manager runs a package's install script, and the setting that decided
    (empty: no setting, the manager's own default of running it)."""

    build: bool
    setting: str = ""


BuildPolicy = Callable[[str], BuildDecision]
ALWAYS: BuildPolicy = lambda _name: BuildDecision(True)  # noqa: E731 - a constant policy


def npmrc_ignores_scripts(root: Path) -> bool:
    """`ignore-scripts=true` in the project's .npmrc."""
    npmrc = root / ".npmrc"
    text = npmrc.read_text(encoding="utf-8", errors="replace") if npmrc.is_file() else ""
    return re.search(r"^\s*ignore-scripts\s*=\s*true\s*$", text, re.M) is not None


def npm_policy(root: Path) -> BuildPolicy:
    """npm runs every install script unless .npmrc says ignore-scripts."""
    if npmrc_ignores_scripts(root):
        return lambda _name: BuildDecision(False, "npm: ignore-scripts=true in .npmrc")
    return ALWAYS


def _names(value: Any) -> set[str]:
    return {_name(n) for n in strings(value)}


def _name(descriptor: str) -> str:
    """`esbuild@0.25.0` -> `esbuild`: policy lists may pin a version."""
    at = descriptor.find("@", 1)
    return descriptor if at == -1 else descriptor[:at]


def pnpm_policy(root: Path, manifest: Mapping[str, Any], workspace: Mapping[str, Any],
                major: int) -> BuildPolicy:
    """pnpm's decision for each package name, naming the setting and the file it is in."""
    field = manifest.get("pnpm") if major < 11 else None
    sources = [("package.json's pnpm field", field if isinstance(field, dict) else {}),
               ("pnpm-workspace.yaml", workspace)]

    def setting(key: str) -> tuple[Any, str] | None:
        found = [(values[key], where) for where, values in sources if key in values]
        return found[-1] if found else None  # pnpm-workspace.yaml wins

    if (major < 11 and npmrc_ignores_scripts(root)) or _true(setting("ignoreScripts")):
        where = "ignoreScripts in pnpm-workspace.yaml" if _true(setting("ignoreScripts")) \
            else "ignore-scripts=true in .npmrc"
        return lambda _name: BuildDecision(False, f"pnpm: {where}")
    denied: dict[str, str] = {}
    for key in ("neverBuiltDependencies", "ignoredBuiltDependencies"):
        if (found := setting(key)) is not None:
            denied |= {name: f"{key} in {found[1]} lists it" for name in _names(found[0])}
    allow = setting("allowBuilds") or ({}, "")
    allow_map = {_name(str(k)): _true((v, "")) for k, v in allow[0].items()} if isinstance(
        allow[0], dict) else {}
    everything = setting("dangerouslyAllowAllBuilds") or (False, "")
    only = setting("onlyBuiltDependencies")

    def decide(name: str) -> BuildDecision:
        if name in denied:
            return BuildDecision(False, f"pnpm: {denied[name]}")
        if name in allow_map:
            verb = "allows it" if allow_map[name] else f"sets {name}: false"
            return BuildDecision(allow_map[name], f"pnpm: allowBuilds in {allow[1]} {verb}")
        if _true(everything):
            return BuildDecision(True, f"pnpm: dangerouslyAllowAllBuilds in {everything[1]}")
        if only is not None:
            listed = name in _names(only[0])
            return BuildDecision(listed, f"pnpm: onlyBuiltDependencies in {only[1]} "
                                 + ("lists it" if listed else "does not list it"))
        if major < 10:
            return BuildDecision(True)
        return BuildDecision(False, f"pnpm {major} builds no dependency unless allowed, and no "
                             "allowBuilds or onlyBuiltDependencies entry names it")

    return decide


def _true(found: tuple[Any, str] | None) -> bool:
    """A YAML or JSON boolean as read (`true` or True)."""
    return found is not None and (found[0] is True or found[0] == "true")


def berry_policy(manifest: Mapping[str, Any], scripts_enabled: bool,
                 scripts_from: str) -> BuildPolicy:
    """yarn berry: package.json dependenciesMeta `built` wins; otherwise enableScripts
    (`scripts_from` names where that value came from)."""
    meta = manifest.get("dependenciesMeta")
    flags = {_name(str(k)): v.get("built") for k, v in
             (meta.items() if isinstance(meta, dict) else ()) if isinstance(v, dict)}

    def decide(name: str) -> BuildDecision:
        flag = flags.get(name)
        if flag is not None:
            built = flag is True or flag == "true"
            return BuildDecision(built, f"yarn: package.json dependenciesMeta.{name}.built is "
                                 f"{'true' if built else 'false'}")
        return BuildDecision(scripts_enabled, f"yarn: {scripts_from}" if scripts_from else "")

    return decide
