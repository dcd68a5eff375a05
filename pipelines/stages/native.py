"""The per-target half: production dependencies, the install scripts that must run on the
target, and the service's own addon."""

from __future__ import annotations

import dagger
from dagger import dag

from pipelines.plan import APP_DIR, NODE_GYP_DIR, Plan, Target
from pipelines.stages.app import app_source, manifests, with_install, with_packager
from pipelines.stages.caches import with_caches
from pipelines.stages.system import with_toolchain


def production_deps(plan: Plan, target: Target, source: dagger.Directory) -> dagger.Container:
    """`node_modules` with production dependencies only, holding the target's binaries.

    Scripts are off, so nothing executes: this runs natively on the engine with the package
    manager told the target's os, cpu and libc, and unpacks the target's platform packages and
    bundled prebuilds without emulation.
    """
    return (
        dag.container()
        .from_(plan.base_image)
        .with_(with_caches(target.caches))
        .with_(with_packager(plan.packager))
        .with_directory(APP_DIR, manifests(plan, source))
        .with_(with_install(plan.install_production(target)))
    )


def target_builder(plan: Plan, target: Target) -> dagger.Container:
    """A build container on the target's platform, with its caches and, if needed, a toolchain."""
    ctr = (
        dag.container(platform=dagger.Platform(str(target.platform)))
        .from_(plan.base_image)
        .with_(with_caches(target.caches))
        # node-gyp compiles against the headers of the image's own Node, never a download.
        .with_env_variable("npm_config_nodedir", "/usr/local")
        .with_env_variable("npm_config_devdir", NODE_GYP_DIR)
    )
    if target.toolchain:
        ctr = ctr.with_(with_toolchain(plan.shape.libc, plan.shape.build_apt_packages))
    return ctr.with_(with_packager(plan.packager))


def rebuilt_deps(
    plan: Plan, target: Target, source: dagger.Directory, deps: dagger.Container
) -> dagger.Container:
    """Run exactly the install scripts the audit says this target needs, on the target."""
    return (
        target_builder(plan, target)
        .with_directory(APP_DIR, manifests(plan, source))
        .with_directory(f"{APP_DIR}/node_modules", deps.directory(f"{APP_DIR}/node_modules"))
        .with_exec(list(plan.packager.rebuild(target.rebuild)))
    )


def bindings_build(
    plan: Plan, target: Target, source: dagger.Directory, deps: dagger.Container
) -> dagger.Container:
    """The service's own addon (its `compile:bindings` script), compiled on the target."""
    return (
        target_builder(plan, target)
        .with_directory(f"{APP_DIR}/node_modules", deps.directory(f"{APP_DIR}/node_modules"))
        .with_directory(APP_DIR, app_source(plan, source))
        .with_exec(list(plan.packager.run_script("compile:bindings")))
    )
