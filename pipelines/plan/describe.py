"""`--print`: the plan as JSON-safe data, stage by stage, with what goes into the image."""

from __future__ import annotations

from typing import Any

from pipelines.packagers import Install
from pipelines.plan.emulation import SYSTEM_PACKAGES_CROSS
from pipelines.plan.model import APP_DIR, TOOLCHAIN, Output, Plan, Target


def describe_plan(plan: Plan) -> dict[str, Any]:
    """Everything the build will do, without contacting an engine."""
    shape = plan.shape
    return {
        "name": plan.name,
        "source": str(plan.source),
        "package_manager": {"name": plan.packager.name,
                            "version": plan.packager.version or "bundled with the base image",
                            "lockfile": plan.packager.lockfile},
        "base_image": plan.base_image,
        "node_major": plan.node_major,
        "node_major_from": shape.node_major_from,
        "engine_platform": str(plan.engine_platform),
        "workspace": _describe_workspace(plan),
        "engines": {str(t.platform): t.engine for t in plan.targets if t.engine},
        "build": {
            "platform": None,  # the engine's own platform: runs once per engine, natively
            "engines": [engine or "default" for engine in plan.engines],
            "stages": _build_stages(plan),
            "cache_volumes": [c.name for c in plan.build_caches],
        },
        "image": _describe_image(plan),
        "targets": [_describe_target(plan, t) for t in plan.targets],
        "output": _describe_output(plan.output),
        "warnings": list(plan.warnings),
    }


def _describe_workspace(plan: Plan) -> dict[str, Any] | None:
    focus = plan.packager.focus
    if focus is None:
        return None
    return {"package": focus.name, "folder": focus.path,
            "local_packages": [p for p in focus.paths if p != focus.path]}


def _build_stages(plan: Plan) -> list[dict[str, Any]]:
    shape = plan.shape
    stages: list[dict[str, Any]] = []
    if shape.build_apt_packages:
        stages.append({"name": "system", "apt": list(shape.build_apt_packages)})
    stages.append({"name": "deps", "run": _run(plan.install_all)})
    if shape.generate is not None and shape.generate.in_build:
        stages.append({"name": "generate", "dir": shape.workdir or ".",
                       "run": list(shape.generate.command(APP_DIR)),
                       "writes": [o.path for o in shape.generate.outputs]})
    for step in shape.steps:
        name = "build" if step.script == shape.build_script else step.script
        stages.append({"name": name, "dir": step.directory or ".",
                       "run": list(plan.packager.run_script(step.script))})
    return stages


def _describe_image(plan: Plan) -> dict[str, Any]:
    shape = plan.shape
    health: dict[str, Any] = {"kind": shape.health}
    if shape.health == "http":
        health["path"] = shape.health_path
    return {
        "files": {"from": shape.files.origin, "top_level": shape.files.listing(plan.source),
                  "excludes": list(shape.files.excludes),
                  "build_outputs": "everything the build step leaves in the app directory"
                                   if shape.build_script else None},
        "workdir": plan.workdir,
        "package_manager": shape.runtime_package_manager or None,
        "cmd": list(shape.start.cmd),
        "cmd_from": shape.start.origin,
        "entrypoint": ["tini", "--"] if shape.init else [],
        "env": dict(shape.env),
        "apt_packages": list(shape.apt_packages),
        "user": "node",
        "port": plan.port,
        "health": health,
        # The probe's alone: values of probe_env are not secrets; secrets are named only.
        "probe": {"env": dict(plan.probe.env), "secrets": list(plan.probe.secrets),
                  "services": [{"name": n, "image": i, "env": sorted(e)}
                               for n, i, e in plan.probe.services]},
        "labels": dict(plan.labels),
    }


def _describe_target(plan: Plan, target: Target) -> dict[str, Any]:
    platform = str(target.platform)
    stages: list[dict[str, Any]] = [
        {"name": "deps", "platform": None, "toolchain": [],
         "run": _run(plan.install_production(target))},
    ]
    compile_on = None if target.compiles_on_engine else platform
    toolchain = [f"g++-{target.triplet.replace('_', '-')}"] if target.cross else list(TOOLCHAIN)
    if target.compiled:
        stages.append({"name": "rebuild", "platform": compile_on, "cross": target.cross,
                       "toolchain": toolchain,
                       "run": list(plan.packager.rebuild(target.compiled))})
    if target.scripted:
        stages.append({"name": "scripts", "platform": platform, "toolchain": [],
                       "run": list(plan.packager.rebuild(target.scripted))})
    generate = plan.shape.generate
    if generate is not None and generate.per_target:
        stages.append({"name": "generate", "platform": platform, "toolchain": [],
                       "run": list(generate.command(APP_DIR)),
                       "why": f"Prisma {generate.major}'s client holds the query engine of "
                              "the machine that generates it"})
    if plan.compile_bindings:
        stages.append({"name": "bindings", "platform": compile_on, "cross": target.cross,
                       "toolchain": toolchain,
                       "sees": plan.bindings_sources or "the whole source",
                       "run": list(plan.packager.run_script("compile:bindings"))})
    runtime: dict[str, Any] = {"name": "runtime", "platform": platform,
                               "runs": target.stage_runs("runtime"), "user": "node",
                               "cmd": list(plan.shape.start.cmd)}
    if plan.shape.apt_packages:
        runtime["system_packages"] = _system_packages(plan, target)
    stages.append(runtime)
    return {
        "platform": platform,
        "libc": target.libc,
        "engine": target.engine_name,
        "engine_platform": str(target.engine_platform or plan.engine_platform),
        "emulated": target.emulated,
        "emulated_work": list(plan.emulated_work(target)),
        "why": list(target.reasons),
        "cache_volumes": [c.name for c in target.caches],
        "stages": stages,
        "native_packages": [
            {"name": p.name, "version": p.version, "verdict": p.verdict, "own": p.own,
             **({"executables": list(p.executables)} if p.executables else {})}
            for p in target.native_packages
        ],
    }


def _system_packages(plan: Plan, target: Target) -> dict[str, Any]:
    """How the declared system packages reach this target's image, and why that way."""
    packages = list(plan.shape.apt_packages)
    if target.packages_cross:
        return {"apt": packages, "runs": "cross", "debian_arch": target.debian_arch,
                "how": SYSTEM_PACKAGES_CROSS}
    if not target.emulated:
        return {"apt": packages, "runs": "native"}
    why = (f"{target.libc}: installed by the target's own package manager"
           if target.libc != "glibc" else
           f"{target.platform.arch}: no Debian cross architecture known for it"
           if target.unpack_on_engine else "unpacking on the engine turned off")
    return {"apt": packages, "runs": "emulated", "why": why}


def _run(install: Install) -> list[str] | list[list[str]]:
    """One command as a list of words; several as a list of those."""
    commands = [list(c) for c in install.commands]
    return commands[0] if len(commands) == 1 else commands


def _describe_output(output: Output) -> dict[str, Any]:
    if output.kind == "export":
        return {"kind": "export", "path": str(output.path)}
    return {"kind": "publish", "image": output.image, "tags": list(output.tags)}
