"""The per-target half: production dependencies with their native addons, built for one platform."""

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


def native_build(plan: Plan, target: Target, source: dagger.Directory) -> dagger.Container:
    """Install production dependencies for `target` with scripts on, then compile the bindings."""
    ctr = (
        dag.container(platform=dagger.Platform(str(target.platform)))
        .from_(plan.base_image)
        .with_(with_caches(target.caches))
        .with_(with_npm)
        # node-gyp compiles against the headers of the image's own Node, never a download.
        .with_env_variable("npm_config_nodedir", "/usr/local")
        .with_env_variable("npm_config_devdir", "/cache/node-gyp")
    )
    if target.toolchain:
        ctr = ctr.with_(with_toolchain)
    ctr = ctr.with_directory(APP_DIR, source, include=MANIFESTS).with_exec(
        list(target.install_command)
    )
    if plan.compile_bindings:
        ctr = ctr.with_directory(APP_DIR, source, exclude=SOURCE_EXCLUDES).with_exec(
            ["npm", "run", "compile:bindings"]
        )
    return ctr
