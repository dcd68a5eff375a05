"""The platform-independent half, once on the engine's own platform: every dependency with
scripts off, the project's own lifecycle scripts, and its build step."""

from __future__ import annotations

from collections.abc import Callable

import dagger

from pipelines.packagers import Install
from pipelines.plan.caches import NODE_GYP_DIR
from pipelines.plan.model import APP_DIR, Plan
from pipelines.project.files import BUILD_LEFTOVERS
from pipelines.stages.caches import with_caches
from pipelines.stages.client import client
from pipelines.stages.system import with_system_packages

# Engines install their custom CA certificates (a corporate proxy's) into the system store,
# which Node does not read; build containers point Node at it. The runtime image is untouched.
SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
# What the package manager keeps in node_modules for itself: never copied as generated output.
_MANAGER_METADATA = [".bin", ".pnpm", ".package-lock.json", ".modules.yaml", ".yarn-state.yml",
                     ".yarn-integrity", ".cache", ".vite", ".pnpm-workspace-state.json",
                     ".pnpm-workspace-state-v1.json"]


def with_packager(plan: Plan) -> Callable[[dagger.Container], dagger.Container]:
    """The package manager at its pinned version, its caches' env, the declared build
    environment, quiet output, in /app."""
    packager = plan.packager

    def apply(ctr: dagger.Container) -> dagger.Container:
        ctr = ctr.with_env_variable("NODE_EXTRA_CA_CERTS", SYSTEM_CA_BUNDLE).with_workdir(APP_DIR)
        for name, value in {**packager.env(), **plan.build_env}.items():
            ctr = ctr.with_env_variable(name, value)
        for command in packager.setup():
            ctr = ctr.with_exec(list(command))
        return ctr

    return apply


def with_install(install: Install) -> Callable[[dagger.Container], dagger.Container]:
    """Run one install step: its files, its environment, then its commands."""

    def apply(ctr: dagger.Container) -> dagger.Container:
        for path, contents in install.files.items():
            ctr = ctr.with_new_file(f"{APP_DIR}/{path}", contents)
        for name, value in install.env.items():
            ctr = ctr.with_env_variable(name, value)
        for command in install.commands:
            ctr = ctr.with_exec(list(command))
        # A project with no dependencies gets no node_modules; later stages copy it anyway.
        return ctr.with_exec(["mkdir", "-p", f"{APP_DIR}/node_modules"])

    return apply


def manifests(plan: Plan, source: dagger.Directory) -> dagger.Directory:
    """The files an install reads; its digest changes only when they do."""
    return source.filter(include=list(plan.packager.manifests()))


def app_source(plan: Plan, source: dagger.Directory) -> dagger.Directory:
    """The source as the image would ship it: `.dockerignore` (or the defaults) applied."""
    return source.filter(exclude=list(plan.shape.files.excludes))


def app_build(plan: Plan, source: dagger.Directory) -> dagger.Container:
    """Install every dependency with scripts off, run the root's lifecycle scripts and build."""
    # No platform argument: the build's output is JavaScript, the same everywhere, so it is
    # built once, natively, and never under emulation.
    ctr = (
        client().container()
        .from_(plan.base_image)
        .with_(with_caches(plan.build_caches))
        .with_(with_system_packages(plan.shape.build_apt_packages, plan.shape.libc))
        .with_(with_packager(plan))
        .with_env_variable("npm_config_devdir", NODE_GYP_DIR)
        .with_directory(APP_DIR, manifests(plan, source))
        .with_(with_install(plan.install_all))
        .with_directory(APP_DIR, app_source(plan, source))
        # Git hooks mean nothing in an image build, and there is no .git for husky to find.
        .with_env_variable("HUSKY", "0")
    )
    generate = plan.shape.generate
    if generate is not None and generate.in_build:
        # What @prisma/client's install script would have run: before the build, which may
        # import the client.
        ctr = ctr.with_workdir(plan.workdir).with_exec(list(generate.command(APP_DIR)))
    for step in plan.shape.steps:
        workdir = f"{APP_DIR}/{step.directory}" if step.directory else APP_DIR
        ctr = ctr.with_workdir(workdir).with_exec(list(plan.packager.run_script(step.script)))
    return ctr.with_workdir(APP_DIR)


def installed_modules(plan: Plan, ctr: dagger.Container) -> dagger.Directory:
    """The node_modules folders an install made, at their places under the app dir: the
    root's and, in a workspace, its packages' own."""
    return ctr.directory(APP_DIR).filter(include=list(plan.shape.module_dirs))


def app_files(plan: Plan, app: dagger.Container) -> dagger.Directory:
    """The application the image ships: the build's app directory without the node_modules
    folders an install made, in the install stage or in the build step (for a workspace
    package: only its folder, its local packages' and the root package.json), and without what
    the `exclude` setting names; the source's tracked node_modules content ships as it is."""
    tracked = [f"!{path}" for path in plan.shape.files.tracked_modules]
    files = app.directory(APP_DIR).filter(
        exclude=["**/node_modules", *tracked, *plan.shape.files.installs, *BUILD_LEFTOVERS,
                 *plan.shape.files.dropped]
    )
    return files.filter(include=list(plan.shape.files.only)) if plan.shape.files.only else files


def generated_code(plan: Plan, ctr: dagger.Container) -> dagger.Directory:
    """The folders `prisma generate` wrote in `ctr`, at their places under the app dir."""
    outputs = plan.shape.generate.outputs if plan.shape.generate else ()
    return ctr.directory(APP_DIR).filter(include=[f"{o.path}/**" for o in outputs])


def generated_modules(app: dagger.Container) -> dagger.Directory:
    """What the root's scripts generated inside node_modules (`prisma generate`'s `.prisma/`)."""
    return app.directory(f"{APP_DIR}/node_modules").filter(include=[".*"],
                                                           exclude=_MANAGER_METADATA)
