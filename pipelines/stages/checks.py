"""The check containers of one target, built on its runtime image: smoke, health probe, hygiene.

Each runs a script from `pipelines.checks` with `expect=ANY`, so the executor reads stdout and
the exit code of a failed check instead of an ExecError, and hands stdout to
`pipelines.checks.parse_*`. The scripts go to /tmp/nodepipe, outside the app: nothing here
changes the image that is published.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import dagger

from pipelines.checks import SMOKE_FILES, script

SCRIPT_DIR = "/tmp/nodepipe"  # noqa: S108 - a path inside the check container, not on the host
SERVICE_ALIAS = "app"  # the host name the probe container reaches the service by


def smoke_container(
    runtime: dagger.Container,
    *,
    arch: str,
    libc: str,
    packages: Sequence[str],
    addons: Sequence[str] = (),
    executables: Sequence[str] = (),
    programs: Sequence[str] = (),
    preloads: Sequence[str] = (),
    optional: Sequence[str] = (),
    system: Sequence[str] = (),
    generated: Sequence[str] = (),
    app_dir: str = "/app",
    node: str = "node",
) -> dagger.Container:
    """Load every native package and addon in the runtime image and check arch and libc.

    `arch` is Node's name (`x64`, `arm64`). `packages` are package names or lockfile locations
    (the audit's `path`: `node_modules/x`, `node_modules/a/node_modules/b`). `addons` are paths
    relative to `app_dir`: `.node` files, or directories whose `.node` files (or whose
    build/Release) load. `executables` are globs relative to `app_dir` of files an install
    script downloaded (`node_modules/@prisma/engines/schema-engine-*`): each must be there and
    an ELF file for `arch`. `programs` (what the image's command runs) must be on the image's
    PATH, and `preloads` (modules `node --require` loads) resolve from its working directory.
    `optional` are packages the audit skipped there (optional, no binary): loaded if they can
    be, said to be absent otherwise, never a failure.
    `system` names declared Debian packages: dpkg lists each as installed, and each program
    it ships is for `arch` with all its libraries found.
    `generated` are files relative to `app_dir` that generated code holds
    (`node_modules/.prisma/client/schema.prisma`): each must be there, its folder loading.
    """
    addon_args = [a if a.startswith(("/", ".")) else f"./{a}" for a in addons]
    exe_args = [arg for glob in executables for arg in ("--exe", glob)]
    exe_args += [arg for name in programs for arg in ("--program", name)]
    exe_args += [arg for name in preloads for arg in ("--preload", name)]
    exe_args += [arg for name in optional for arg in ("--optional", name)]
    exe_args += [arg for name in system for arg in ("--system", name)]
    exe_args += [arg for name in generated for arg in ("--generated", name)]
    return (
        runtime.with_(_with_smoke_files)
        .with_exec(
            [node, f"{SCRIPT_DIR}/smoke.js", "--arch", arch, "--libc", libc, "--app", app_dir,
             *exe_args, "--", *packages, *addon_args],
            expect=dagger.ReturnType.ANY,
        )
    )


def hygiene_container(
    runtime: dagger.Container,
    *,
    dev_packages: str | None = None,
    allow: Sequence[str] = (),
    app_dir: str = "/app",
    node: str = "node",
    arch: str | None = None,
) -> dagger.Container:
    """Look for build tools, devDependencies, a root user and NODE_ENV in the runtime image,
    and (with `arch`, a Node arch) binaries of another machine among the app's own files.

    Runs as the image's default user. `dev_packages` is an npm-shaped lockfile (JSON text)
    listing the dev-only packages; without it, the app's own package-lock.json is read.
    `allow` names the system packages the service declared.
    """
    ctr = runtime.with_new_file(f"{SCRIPT_DIR}/hygiene.js", script("hygiene.js")).with_new_file(
        f"{SCRIPT_DIR}/elf.js", script("elf.js"))
    lock_path = f"{app_dir}/package-lock.json"
    if dev_packages is not None:
        lock_path = f"{SCRIPT_DIR}/dev-packages.json"
        ctr = ctr.with_new_file(lock_path, dev_packages)
    args = [node, f"{SCRIPT_DIR}/hygiene.js", "--app", app_dir, "--lockfile", lock_path]
    if allow:
        args += ["--allow", ",".join(allow)]
    if arch:
        args += ["--arch", arch]
    return ctr.with_exec(args, expect=dagger.ReturnType.ANY)


def app_service(runtime: dagger.Container, *, port: int) -> dagger.Service:
    """The runtime image started with its own entrypoint and command, as `docker run` would."""
    # Dagger's own port health check would wait with its own bound and fail with its own
    # message; the probe does the bounded wait instead and names the URL and the last error.
    return runtime.with_exposed_port(port, experimental_skip_healthcheck=True).as_service(
        use_entrypoint=True
    )


def with_probe_setup(
    env: Mapping[str, str] | None = None,
    secrets: Mapping[str, dagger.Secret] | None = None,
    services: Mapping[str, dagger.Service] | None = None,
) -> Callable[[dagger.Container], dagger.Container]:
    """The probe's own configuration of the service: environment, secret variables and
    backing services bound by their names; applied to a run of the image, never the image."""

    def apply(ctr: dagger.Container) -> dagger.Container:
        for name, value in (env or {}).items():
            ctr = ctr.with_env_variable(name, value)
        for name, secret in (secrets or {}).items():
            ctr = ctr.with_secret_variable(name, secret)
        for name, service in (services or {}).items():
            ctr = ctr.with_service_binding(name, service)
        return ctr

    return apply


# The port each common backing service listens on, by image repository. Dagger does not take a
# service's ports from its image's EXPOSE, and without a port it starts the probe as soon as
# the container runs: a service that connects once at boot found Postgres not listening yet.
SERVICE_PORTS = {
    "postgres": 5432, "postgis/postgis": 5432, "bitnami/postgresql": 5432,
    "timescale/timescaledb": 5432, "redis": 6379, "bitnami/redis": 6379,
    "valkey/valkey": 6379, "redis/redis-stack-server": 6379, "mysql": 3306, "mariadb": 3306,
    "mongo": 27017, "memcached": 11211, "rabbitmq": 5672, "nats": 4222,
    "elasticsearch": 9200, "minio/minio": 9000, "clickhouse/clickhouse-server": 8123,
}
PORT_SETTING = "port"  # `--probe-service db=IMAGE,port=5432`: the port to wait for


def service_port(image: str, env: Mapping[str, str]) -> int | None:
    """The port a backing service is ready at: its `port=` setting, else its image's usual."""
    if PORT_SETTING in env:
        return int(env[PORT_SETTING])
    repository = image.split("@", 1)[0]
    last = repository.rsplit("/", 1)[-1]
    repository = repository[: len(repository) - len(last)] + last.split(":", 1)[0]
    parts = repository.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]  # a registry host
    if parts[0] == "library":
        parts = parts[1:]
    return SERVICE_PORTS.get("/".join(parts))


def backing_service(client: dagger.Client, image: str, env: Mapping[str, str]) -> dagger.Service:
    """A backing service (a database, a cache) started from its image as `docker run` would,
    on the engine's own platform; with its port known, the probe starts once it listens."""
    ctr = client.container().from_(image)
    for name, value in env.items():
        if name != PORT_SETTING:
            ctr = ctr.with_env_variable(name, value)
    port = service_port(image, env)
    if port is not None:
        ctr = ctr.with_exposed_port(port)
    return ctr.as_service(use_entrypoint=True)


def health_probe(
    runtime: dagger.Container,
    *,
    probe_image: dagger.Container,
    port: int,
    path: str | None = "/healthz",
    timeout_s: int = 30,
    node: str = "node",
    setup: Callable[[dagger.Container], dagger.Container] | None = None,
) -> dagger.Container:
    """Start the runtime image as a service and poll it from `probe_image`: GET `path`, or
    (with `path` None) wait until the port accepts connections. `setup` (with_probe_setup)
    configures that run of the service."""
    url = (f"http://{SERVICE_ALIAS}:{port}/{path.lstrip('/')}" if path is not None
           else f"tcp://{SERVICE_ALIAS}:{port}")
    service = app_service(runtime.with_(setup) if setup else runtime, port=port)
    return (
        probe_image.with_service_binding(SERVICE_ALIAS, service)
        .with_new_file(f"{SCRIPT_DIR}/probe.js", script("probe.js"))
        .with_exec(
            [node, f"{SCRIPT_DIR}/probe.js", "--url", url, "--timeout", str(timeout_s)],
            expect=dagger.ReturnType.ANY,
        )
    )


def _with_smoke_files(ctr: dagger.Container) -> dagger.Container:
    """smoke.js and the scripts it requires, side by side in the image's script folder."""
    for name in SMOKE_FILES:
        ctr = ctr.with_new_file(f"{SCRIPT_DIR}/{name}", script(name))
    return ctr
