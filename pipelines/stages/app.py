"""The platform-independent half: dependencies without scripts and the TypeScript compile, once."""

from __future__ import annotations

import dagger
from dagger import dag

from pipelines.plan import APP_DIR, NPM_CACHE, Plan
from pipelines.stages.caches import with_caches

# What the dependency layer sees: change anything else and `npm ci` still comes from cache.
MANIFESTS = ["package.json", "package-lock.json", ".npmrc"]
# Never copied from the host: the engine builds these itself, for the right platform.
SOURCE_EXCLUDES = ["node_modules", "**/node_modules", "dist", "build", ".git"]


def with_npm(ctr: dagger.Container) -> dagger.Container:
    """Point npm at the cache volumes and keep its output quiet and deterministic."""
    return (
        ctr.with_env_variable("npm_config_cache", NPM_CACHE)
        .with_env_variable("npm_config_update_notifier", "false")
        .with_env_variable("npm_config_fund", "false")
        .with_env_variable("npm_config_audit", "false")
        .with_workdir(APP_DIR)
    )


def app_build(plan: Plan, source: dagger.Directory) -> dagger.Container:
    """Install every dependency with scripts off and compile, on the engine's own platform."""
    # No platform argument: TypeScript output is the same everywhere, so it is built once,
    # natively, and never under emulation.
    return (
        dag.container()
        .from_(plan.base_image)
        .with_(with_npm)
        .with_(with_caches(plan.build_caches))
        .with_directory(APP_DIR, source, include=MANIFESTS)
        .with_exec(["npm", "ci", "--ignore-scripts"])
        .with_directory(APP_DIR, source, exclude=SOURCE_EXCLUDES)
        .with_exec(["npm", "run", "compile"])
    )


def dist(app: dagger.Container) -> dagger.Directory:
    """The compiled JavaScript the runtime image ships."""
    return app.directory(f"{APP_DIR}/dist")
