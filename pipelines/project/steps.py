"""The scripts the build stage runs, in order, each command once; and every package's scripts
by name and folder, for following what a script runs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pipelines.project import NodeProject, lifecycle
from pipelines.project.start import Scripts, script_command
from pipelines.project.workspace import member_paths, read_member


@dataclass(frozen=True)
class ScriptStep:
    """A package.json script the build stage runs, in the folder (relative to the root) of the
    package it belongs to: "" for the root."""

    directory: str
    script: str


def build_steps(project: NodeProject, build_script: str | None,
           warnings: list[str]) -> tuple[ScriptStep, ...]:
    """Every script the build stage runs, in order, each command once (see _once)."""
    steps: list[ScriptStep] = []
    if project.workspace is not None:
        root_scripts = project.manifest.get("scripts")
        steps += [ScriptStep("", s) for s in lifecycle(
            root_scripts if isinstance(root_scripts, dict) else {})]
        for member in project.workspace.members[:-1]:
            names = [*lifecycle(member.scripts), *(["build"] if "build" in member.scripts else [])]
            steps += [ScriptStep(member.path, s) for s in names]
    where = project.service_path
    steps += [ScriptStep(where, s) for s in project.lifecycle_scripts]
    if build_script:
        steps.append(ScriptStep(where, build_script))
    sources = script_sources(project)
    kept = _once(steps, sources, warnings)
    _patches_not_carried(project, kept, sources, warnings)
    return kept


def _patches_not_carried(project: NodeProject, steps: tuple[ScriptStep, ...],
                         sources: Mapping[str, Scripts], warnings: list[str]) -> None:
    """patch-package in a build-stage script patches the build stage's node_modules only:
    each target's production install, which ships, is not patched. Say so, naming the
    packages its patches/ folder holds."""
    for step in steps:
        source = sources.get(step.directory)
        if source is None or "patch-package" not in source.scripts.get(step.script, ""):
            continue
        folder = project.source / step.directory / "patches"
        patched = sorted({p.name.split("+")[0] if not p.name.startswith("@")
                          else "/".join(p.name.split("+")[:2])
                          for p in folder.glob("*.patch")} if folder.is_dir() else set())
        where = f" in {step.directory}" if step.directory else ""
        warnings.append(
            f"scripts.{step.script}{where} runs patch-package: it patches the build stage's "
            "node_modules only, and the production install each image ships is not patched"
            + (f" ({', '.join(patched)} ship unpatched)" if patched else "")
            + "; pnpm's patchedDependencies and yarn 2+'s patch: protocol are applied by every "
            "install (npm and yarn 1 have no such thing)")


def _once(steps: list[ScriptStep], sources: Mapping[str, Scripts],
          warnings: list[str]) -> tuple[ScriptStep, ...]:
    """Each command once: a script that comes down to the same command, in the same folder, as
    a later step (`prepare: npm run build`, then the build step) is left to that step, which
    runs where its own dependencies are built already."""
    kept: dict[tuple[str, str], ScriptStep] = {}
    for step in reversed(steps):
        source = sources.get(step.directory)
        if source is None or step.script not in source.scripts:
            kept[(step.directory, f"\0{step.script}")] = step
            continue
        key = script_command(source, step.script, sources)
        last = kept.setdefault(key, step)
        if last is not step:
            where = f" in {step.directory}" if step.directory else ""
            warnings.append(
                f"scripts.{step.script}{where} runs the same command as scripts.{last.script} "
                f"({key[1]!r}), which the build stage runs after it: it runs once, as "
                f"scripts.{last.script}")
    return tuple(reversed(kept.values()))


def script_sources(project: NodeProject) -> dict[str, Scripts]:
    """Every workspace package's scripts, by name and by folder, and the root's."""
    sources: dict[str, Scripts] = {}
    root = project.manifest.get("scripts")
    sources[""] = Scripts("", {str(k): str(v) for k, v in root.items()}
                          if isinstance(root, dict) else {})
    for path in member_paths(project.source, project.manifest, project.packager):
        member = read_member(project.source, path)
        sources[member.name] = sources[path] = Scripts(path, member.scripts)
    return sources
