"""The application's shape: the decisions the plan takes from the project and the settings.

Build step, the files the image holds, the start command, the Node version and base image,
system packages and the health check. Every blocker is collected, so one run names them all,
each with the setting that lifts it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from pipelines.errors import InputError
from pipelines.packagers import YarnClassic
from pipelines.platforms import node_major_refusal
from pipelines.project import NodeProject
from pipelines.project.files import AppFiles, app_files, build_output
from pipelines.project.generated import Generate, GenerateError, find_generate
from pipelines.project.programs import (
    ImageContents,
    base_programs,
    image_manifests,
    start_blockers,
)
from pipelines.project.start import (
    StartCommand,
    StartError,
    alternative_starts,
    derive_start,
    parse_start_setting,
)
from pipelines.project.steps import ScriptStep, build_steps, script_sources
from pipelines.project.workspace import member_paths
from pipelines.settings import Settings

Health = Literal["http", "tcp", "none"]
# Where a node FILE may resolve to, the way `node FILE` looks for it.
_RESOLUTIONS = ("", ".js", ".cjs", ".mjs", "/index.js")


class ShapeError(InputError):
    """Something the project needs that the settings can supply; the sentence names the setting."""


@dataclass(frozen=True)
class Shape:
    """What the image holds and how it starts."""

    build_script: str | None
    lifecycle_scripts: tuple[str, ...]
    # Every script the build stage runs, in order: the root's lifecycle scripts, then for a
    # workspace package the local packages it needs (lifecycle scripts and `build`), then the
    # service's lifecycle scripts and its build step.
    steps: tuple[ScriptStep, ...]
    workdir: str  # the service's folder relative to the root: "" unless a workspace package
    # The node_modules folders (relative to the root) an install makes and the image ships:
    # the root's, and in a workspace each package's own (pnpm links every dependency there).
    module_dirs: tuple[str, ...]
    start: StartCommand
    files: AppFiles
    node_major: int
    node_major_from: str
    base_image: str
    libc: str
    apt_packages: tuple[str, ...]
    build_apt_packages: tuple[str, ...]
    init: bool
    # The package manager (`pnpm@10.34.9`) the runtime image carries, through corepack; "" none.
    runtime_package_manager: str
    health: Health
    health_path: str
    env: Mapping[str, str] = field(default_factory=dict)  # the image's ENV beyond the defaults
    # `prisma generate`, which @prisma/client's install script would run (None: nothing).
    generate: Generate | None = None
    warnings: tuple[str, ...] = ()


def shape_of(settings: Settings, project: NodeProject) -> Shape:
    """Decide the shape, or raise every blocker at once (an ExceptionGroup of ShapeErrors)."""
    blockers: list[ShapeError] = []
    warnings: list[str] = []
    build_script = _build_script(settings, project, blockers)
    only = ("package.json", *project.workspace.focus.paths) if project.workspace else ()
    module_dirs = ("node_modules", *(f"{p}/node_modules" for p in _packages(project)))
    members = member_paths(project.source, project.manifest, project.packager)
    files = app_files(project.source, settings.include, settings.exclude, only,
                      ("node_modules", *(f"{p}/node_modules" for p in members)))
    start, workdir = _checked_start(settings, project, files, build_script, blockers, warnings)
    node_major, node_from, base_image = _node(settings, project, blockers)
    steps = build_steps(project, build_script, warnings)
    generate = _generate(project, steps, blockers)
    health = _health(settings)
    if health == "none":
        warnings.append("the health check is off (--health none): nothing proves the image "
                        "starts and listens")
    if blockers:
        raise ExceptionGroup("the project cannot be built as it is", blockers)
    assert start is not None
    apt = settings.apt_packages + (("tini",) if settings.init and "tini" not in
                                   settings.apt_packages else ())
    return Shape(
        build_script=build_script,
        lifecycle_scripts=project.lifecycle_scripts,
        steps=steps,
        workdir=workdir,
        module_dirs=module_dirs,
        start=start,
        files=files,
        node_major=node_major,
        node_major_from=node_from,
        base_image=base_image,
        libc=settings.libc,
        apt_packages=apt,
        build_apt_packages=settings.build_apt_packages,
        init=settings.init,
        runtime_package_manager=_runtime_manager(settings, project),
        health=health,
        health_path=settings.health_path,
        env={**start.env, **settings.runtime_environment},
        warnings=tuple(warnings),
        generate=generate,
    )


def _generate(project: NodeProject, steps: tuple[ScriptStep, ...],
              blockers: list[ShapeError]) -> Generate | None:
    """The code generation the project's dependencies need, or its blocker."""
    sources = script_sources(project)
    texts = tuple(sources[s.directory].scripts.get(s.script, "")
                  for s in steps if s.directory in sources)
    service = project.service_path
    manifest = image_manifests(project.source, service, project.manifest).get(
        service, project.manifest)
    try:
        return find_generate(project.source, service, manifest,
                             project.lock_entries,
                             texts)
    except GenerateError as error:
        blockers.append(ShapeError(str(error)))
        return None


def _checked_start(  # noqa: PLR0917 - the shape's inputs and its two collectors
    settings: Settings, project: NodeProject, files: AppFiles, build_script: str | None,
    blockers: list[ShapeError], warnings: list[str],
) -> tuple[StartCommand | None, str]:
    """The start command and the folder it runs in, with every blocker it meets: its file,
    and each program it runs, must be in the image."""
    start = _start(settings, project, blockers)
    if start is None:
        return None, project.service_path
    warnings += start.warnings
    workdir = _workdir(start, project, blockers)
    _check_start_file(start, files, project, build_script, blockers)
    image = _image_contents(settings, project, workdir, files, build_script)
    blockers += _program_blockers(start, image, project)
    warnings += image.warnings
    return start, workdir


def _workdir(start: StartCommand, project: NodeProject, blockers: list[ShapeError]) -> str:
    """Where the image starts: the folder of the package whose script the start runs."""
    if start.directory is None or start.directory == project.service_path:
        return project.service_path
    if project.workspace is not None and start.directory not in project.workspace.focus.paths:
        blockers.append(ShapeError(
            f"the start command ({start.origin}) runs in {start.directory}, a workspace package "
            f"--workspace {project.workspace.service.name} does not ship: pass --workspace "
            f"{start.directory}, or set --start-command"))
    return start.directory


def _program_blockers(start: StartCommand, image: ImageContents,
                      project: NodeProject) -> list[ShapeError]:
    """The start command's programs the image lacks, with a production script that would do."""
    found = start_blockers(start, image)
    if not found:
        return []
    for other in alternative_starts(project.scripts, here=project.service_path,
                                    packages=script_sources(project)):
        if other.cmd[:2] != ("sh", "-c") and not start_blockers(other, image):
            found = [f"{s}; {other.origin} ({' '.join(other.cmd)}) runs in the image: pass "
                     f"--start-command {','.join(other.cmd)}" for s in found]
            break
    return [ShapeError(s) for s in found]


def _image_contents(settings: Settings, project: NodeProject, workdir: str, files: AppFiles,
                    build_script: str | None) -> ImageContents:
    """What the runtime image will hold, for the start command's programs."""
    return ImageContents(
        project.source, workdir,
        project.lock_entries,
        image_manifests(project.source, workdir, project.manifest),
        lambda path: files.ships(project.source, path), build_script is not None,
        system=frozenset(settings.apt_packages) | ({"tini"} if settings.init else set()),
        carried_managers=_carried_managers(settings, project),
        base_programs=base_programs(settings.libc))


def _runtime_manager(settings: Settings, project: NodeProject) -> str:
    """`NAME@VERSION` of the package manager the runtime image gets, or ""."""
    packager = project.packager
    if not settings.runtime_package_manager or not packager.setup():
        return ""
    return f"{packager.name}@{packager.version}" if packager.version else packager.name


def _carried_managers(settings: Settings, project: NodeProject) -> frozenset[str]:
    """The package managers the runtime image has on PATH: the project's own with
    --runtime-package-manager; yarn 1, in the official Node images before Node 26, for a
    yarn 1 project's `yarn run`."""
    if settings.runtime_package_manager:
        return frozenset({project.packager.name})
    major = settings.node_major or project.node.major
    if isinstance(project.packager, YarnClassic) and not settings.base_image and major < 26:
        return frozenset({"yarn"})
    return frozenset()


def _node(settings: Settings, project: NodeProject,
          blockers: list[ShapeError]) -> tuple[int, str, str]:
    """The Node major, where it came from, and the base image that has it."""
    major = settings.node_major or project.node.major
    origin = "setting" if settings.node_major else project.node.source
    if not settings.base_image:
        where = {"setting": "the node_major setting", "engines.node": "package.json engines.node"
                 }.get(origin, origin)
        refusal = node_major_refusal(major, where, "--node-major")
        if refusal:
            blockers.append(ShapeError(refusal))
    return major, origin, settings.base_for(major)


def _packages(project: NodeProject) -> tuple[str, ...]:
    if project.workspace is not None:
        return project.workspace.focus.paths
    return member_paths(project.source, project.manifest, project.packager)


def _build_script(
    settings: Settings, project: NodeProject, blockers: list[ShapeError]
) -> str | None:
    """`build_script` if set ("" for none), else `build`, else `compile`, else none."""
    if settings.build_script is not None:
        name = settings.build_script.strip()
        if name in ("", "none"):
            return None
        if name not in project.scripts:
            known = ", ".join(sorted(project.scripts)) or "none"
            blockers.append(ShapeError(
                f"build_script {name!r} is not a script of package.json (scripts: {known}): "
                "set --build-script to one of them, or to none"
            ))
        return name
    for name in ("build", "compile"):
        if name in project.scripts:
            return name
    return None


def _start(
    settings: Settings, project: NodeProject, blockers: list[ShapeError]
) -> StartCommand | None:
    if settings.start_command:
        return parse_start_setting(settings.start_command, project.scripts,
                                   here=project.service_path, packages=script_sources(project))
    try:
        return derive_start(project.scripts, project.main, project.source,
                            here=project.service_path, packages=script_sources(project),
                            program=project.program)
    except StartError as error:
        found = next(iter(alternative_starts(project.scripts, here=project.service_path,
                                             packages=script_sources(project))), None)
        hint = ""
        if found is not None:
            name = found.origin.removeprefix("scripts.").split(" -> ")[0]
            hint = (f"; {found.origin} ({' '.join(found.cmd)}) looks like the production "
                    f"start: pass --start-command {project.packager.name},run,{name}")
        blockers.append(ShapeError(f"{error}{hint}"))
        return None


def _check_start_file(
    start: StartCommand, files: AppFiles, project: NodeProject, build_script: str | None,
    blockers: list[ShapeError],
) -> None:
    """The file `node` starts must ship: be in the source and kept, or come from the build
    step. A build step makes its outputs, never source the image excludes, so an excluded file
    that git tracks is a blocker with or without one."""
    if not start.file:
        return
    folder = project.service_path if start.directory is None else start.directory
    candidates = [f"{folder}/{start.file}{suffix}" if folder else start.file + suffix
                  for suffix in _RESOLUTIONS]
    if any(files.ships(project.source, c) for c in candidates):
        return
    present = next((c for c in candidates if (project.source / c).exists()), None)
    if present is None:
        if build_script is None:
            blockers.append(ShapeError(
                f"the start file {start.file} ({start.origin}) is not in the source and no "
                "build step makes it: set --build-script, or --start-command with a file that "
                "exists"))
    elif files.replaced(present):
        blockers.append(ShapeError(
            f"the start file {present} ({start.origin}) is inside a node_modules folder the "
            "package manager creates, which the engine's install replaces: move it out of "
            "node_modules, or set --start-command"))
    elif build_script is None or not build_output(project.source, present):
        blockers.append(ShapeError(
            f"the start file {start.file} ({start.origin}) is excluded from the image by "
            f"{files.origin}: add it with --include {files.dropped_at(present)}"))


def _health(settings: Settings) -> Health:
    if settings.health == "auto":
        return "http" if settings.health_path else "tcp"
    return settings.health
