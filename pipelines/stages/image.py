"""The runtime image of one target: a fresh base, the application, production node_modules,
the declared system packages, non-root."""

from __future__ import annotations

from collections.abc import Callable

import dagger

from pipelines.plan.model import APP_DIR, Plan, Target
from pipelines.stages.app import SYSTEM_CA_BUNDLE, installed_modules
from pipelines.stages.caches import with_caches
from pipelines.stages.client import client
from pipelines.stages.debs import with_unpacked_packages
from pipelines.stages.system import with_runtime_system_packages

RUNTIME_USER = "node"  # the unprivileged user every official Node image ships
TINI = "/usr/bin/tini"  # where Debian's and Alpine's tini packages put it


def runtime_image(  # noqa: PLR0917 - the outputs of every stage the image is made of
    plan: Plan,
    target: Target,
    app: dagger.Directory,
    generated: dagger.Directory,
    deps: dagger.Container,
    bindings: dagger.Container | None,
    code: dagger.Directory | None = None,
) -> dagger.Container:
    """Assemble the image that ships: nothing from the build containers but their outputs.
    `code` is the target's generated code (Prisma's client), over the app dir."""
    shape = plan.shape
    ctr = client().container(platform=dagger.Platform(str(target.platform))).from_(plan.base_image)
    if shape.apt_packages and target.packages_cross:
        ctr = ctr.with_(with_unpacked_packages(plan, target))
    elif shape.apt_packages:  # natively, or on the target where nothing else applies (musl)
        apt = [c for c in target.caches if c.is_apt]
        ctr = ctr.with_(with_caches(apt)).with_(
            with_runtime_system_packages(shape.apt_packages, shape.libc)
        )
        for cache in apt:  # the caches are mounts; nothing of apt's lists ends up in the image
            ctr = ctr.without_mount(cache.path)
    if shape.runtime_package_manager:
        ctr = ctr.with_(with_runtime_packager(plan))
    ctr = (
        ctr.with_env_variable("NODE_ENV", "production")
        .with_env_variable("NODE_OPTIONS", plan.node_options)
        # Most Node services read PORT; the image says which port it exposes.
        .with_env_variable("PORT", str(plan.port))
        # As under `npm start`: the dependencies' commands (next, prisma) are on PATH.
        .with_env_variable("PATH", f"{_bin_path(plan)}:${{PATH}}", expand=True)
    )
    for name, value in shape.env.items():
        ctr = ctr.with_env_variable(name, value)
    ctr = (
        ctr.with_directory(APP_DIR, app, owner=RUNTIME_USER)
        .with_directory(APP_DIR, installed_modules(plan, deps), owner=RUNTIME_USER)
        .with_directory(f"{APP_DIR}/node_modules", generated, owner=RUNTIME_USER)
        .with_workdir(plan.workdir)
    )
    if code is not None:
        ctr = ctr.with_directory(APP_DIR, code, owner=RUNTIME_USER)
    if bindings is not None:
        output = f"{APP_DIR}/{plan.bindings_output.strip('/')}"
        ctr = ctr.with_directory(output, bindings.directory(output), owner=RUNTIME_USER)
    if shape.init:
        ctr = ctr.with_entrypoint([TINI, "--"])
    for name, value in plan.labels.items():  # sorted: the same config for the same plan
        ctr = ctr.with_label(name, value).with_annotation(name, value)
    return (
        ctr.with_user(RUNTIME_USER)
        .with_exposed_port(plan.port)
        .with_default_args(list(shape.start.cmd))
    )


# Where the runtime image keeps the package manager corepack prepared: in the image, owned by
# the runtime user, and never fetched again (COREPACK_ENABLE_NETWORK=0).
RUNTIME_COREPACK_HOME = "/opt/corepack"
RUNTIME_COREPACK_ENV = {"COREPACK_HOME": RUNTIME_COREPACK_HOME,
                        "COREPACK_ENABLE_DOWNLOAD_PROMPT": "0", "COREPACK_ENABLE_NETWORK": "0"}


def with_runtime_packager(plan: Plan) -> Callable[[dagger.Container], dagger.Container]:
    """The project's package manager at its pinned version, prepared by corepack at build time
    (the build environment and the CA bundle only for those commands, never in the image)."""

    def apply(ctr: dagger.Container) -> dagger.Container:
        transient = {"NODE_EXTRA_CA_CERTS": SYSTEM_CA_BUNDLE,
                     **{k: v for k, v in plan.packager.env().items()
                        if k.startswith("COREPACK_") and k not in RUNTIME_COREPACK_ENV},
                     **plan.build_env}
        for name, value in {**RUNTIME_COREPACK_ENV, **transient,
                            "COREPACK_ENABLE_NETWORK": "1"}.items():
            ctr = ctr.with_env_variable(name, value)
        for command in plan.packager.setup():
            ctr = ctr.with_exec(list(command))
        ctr = ctr.with_exec(["mkdir", "-p", RUNTIME_COREPACK_HOME]).with_exec(
            ["chown", "-R", f"{RUNTIME_USER}:{RUNTIME_USER}", RUNTIME_COREPACK_HOME])
        for name in transient:
            if name not in RUNTIME_COREPACK_ENV:
                ctr = ctr.without_env_variable(name)
        return ctr.with_env_variable("COREPACK_ENABLE_NETWORK", "0")

    return apply


def _bin_path(plan: Plan) -> str:
    """node_modules/.bin of the service's folder, then of the root (a workspace's are both)."""
    bins = [f"{plan.workdir}/node_modules/.bin", f"{APP_DIR}/node_modules/.bin"]
    return ":".join(dict.fromkeys(bins))


def oci_archive(
    variants: list[dagger.Container], engine: dagger.Client | None = None
) -> dagger.File:
    """One multi-platform OCI archive holding every target's runtime image (all made on
    `engine`, by default the one being built on)."""
    return (engine or client()).container().as_tarball(platform_variants=variants)
