"""The per-target half: production dependencies and the service's own addon for one platform."""

from __future__ import annotations

import dagger
from dagger import dag

from pipelines.plan import APP_DIR, TOOLCHAIN, Plan, Target
from pipelines.stages.app import MANIFESTS, SOURCE_EXCLUDES, with_npm
from pipelines.stages.caches import with_caches

# Debian's slim images delete downloaded packages after each install; keep them in the cache.
_KEEP_APT_ARCHIVES = (
    "rm -f /etc/apt/apt.conf.d/docker-clean && "
    "echo 'Binary::apt::APT::Keep-Downloaded-Packages \"true\";' "
    "> /etc/apt/apt.conf.d/keep-cache"
)


def with_toolchain(ctr: dagger.Container) -> dagger.Container:
    """Install python3, make, g++ and pkg-config for node-gyp (apt caches must be mounted)."""
    return ctr.with_exec(["sh", "-c", _KEEP_APT_ARCHIVES]).with_exec(
        [
            "sh",
            "-c",
            "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
            "--no-install-recommends " + " ".join(TOOLCHAIN),
        ]
    )


def target_builder(plan: Plan, target: Target) -> dagger.Container:
    """A build container on the target's platform, with its caches and a toolchain."""
    return (
        dag.container(platform=dagger.Platform(str(target.platform)))
        .from_(plan.base_image)
        .with_(with_caches(target.caches))
        .with_(with_npm)
        # node-gyp compiles against the headers of the image's own Node, never a download.
        .with_env_variable("npm_config_nodedir", "/usr/local")
        .with_env_variable("npm_config_devdir", "/cache/node-gyp")
        .with_(with_toolchain)
    )


def production_deps(plan: Plan, target: Target, source: dagger.Directory) -> dagger.Container:
    """`node_modules` with production dependencies only, holding binaries for `target`."""
    if target.deps_on_build_platform:
        # Scripts off: nothing executes, so this runs natively wherever the engine is.
        ctr = dag.container().from_(plan.base_image).with_(with_npm).with_(
            with_caches(plan.build_caches)
        )
    else:
        ctr = target_builder(plan, target)
    return ctr.with_directory(APP_DIR, source, include=MANIFESTS).with_exec(
        list(target.install_command)
    )


def bindings_build(
    plan: Plan, target: Target, source: dagger.Directory, deps: dagger.Container
) -> dagger.Container:
    """The service's own addon (`npm run compile:bindings`), compiled on the target."""
    if target.deps_on_build_platform:
        ctr = target_builder(plan, target).with_directory(
            f"{APP_DIR}/node_modules", deps.directory(f"{APP_DIR}/node_modules")
        )
    else:
        ctr = deps  # already on the target, with its toolchain
    return ctr.with_directory(APP_DIR, source, exclude=SOURCE_EXCLUDES).with_exec(
        ["npm", "run", "compile:bindings"]
    )
