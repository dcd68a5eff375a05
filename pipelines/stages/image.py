"""The runtime image of one target: a fresh base, dist/, production node_modules, non-root."""

from __future__ import annotations

import dagger
from dagger import dag

from pipelines.plan import APP_DIR, Plan, Target

RUNTIME_USER = "node"  # the unprivileged user every official Node image ships


def runtime_image(
    plan: Plan,
    target: Target,
    dist: dagger.Directory,
    deps: dagger.Container,
    bindings: dagger.Container | None,
) -> dagger.Container:
    """Assemble the image that ships: nothing from the build containers but their outputs."""
    ctr = (
        dag.container(platform=dagger.Platform(str(target.platform)))
        .from_(plan.base_image)
        .with_env_variable("NODE_ENV", "production")
        .with_env_variable("NODE_OPTIONS", plan.node_options)
        # Most Node services read PORT; the image says which port it exposes.
        .with_env_variable("PORT", str(plan.port))
        .with_workdir(APP_DIR)
        .with_file(f"{APP_DIR}/package.json", deps.file(f"{APP_DIR}/package.json"),
                   owner=RUNTIME_USER)
        .with_file(f"{APP_DIR}/package-lock.json", deps.file(f"{APP_DIR}/package-lock.json"),
                   owner=RUNTIME_USER)
        .with_directory(f"{APP_DIR}/node_modules", deps.directory(f"{APP_DIR}/node_modules"),
                        owner=RUNTIME_USER)
        .with_directory(f"{APP_DIR}/dist", dist, owner=RUNTIME_USER)
    )
    if bindings is not None:
        output = f"{APP_DIR}/{plan.bindings_output.strip('/')}"
        ctr = ctr.with_directory(output, bindings.directory(output), owner=RUNTIME_USER)
    return (
        ctr.with_label("org.opencontainers.image.title", plan.name)
        .with_user(RUNTIME_USER)
        .with_exposed_port(plan.port)
        .with_default_args(list(plan.entrypoint))
    )


def oci_archive(variants: list[dagger.Container]) -> dagger.File:
    """One multi-platform OCI archive holding every target's runtime image."""
    return dag.container().as_tarball(platform_variants=variants)
