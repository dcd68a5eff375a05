"""The lazily built check containers on a target's runtime image: smoke, hygiene, health probe."""

from __future__ import annotations

import dagger
from dagger import dag

from pipelines.checks import script
from pipelines.run.graph import Images
from pipelines.stages.checks import (
    SCRIPT_DIR,
    app_service,
    health_probe,
    hygiene_container,
    smoke_container,
)
from tests.graph import query

# Calls that would make a check see something other than the image that is published.
CHANGES_THE_IMAGE = {"withUser", "withEnvVariable", "withoutEnvVariable", "withEntrypoint",
                     "withWorkdir", "withDirectory", "withMountedCache", "withDefaultArgs"}


def runtime() -> dagger.Container:
    """A stand-in runtime image for linux/arm64, with its own user and command."""
    return (
        dag.container(platform=dagger.Platform("linux/arm64"))
        .from_("node:22-bookworm-slim")
        .with_env_variable("NODE_ENV", "production")
        .with_user("node")
        .with_exposed_port(8080)
        .with_default_args(["node", "dist/entrypoint.js"])
    )


def added_calls(check: dagger.Container, base: dagger.Container) -> list[query.Call]:
    """The calls `check` adds on top of `base`, after checking it really builds on `base`."""
    prefix = query.calls(base)
    assert query.calls(check)[: len(prefix)] == prefix, "the check must run on the runtime image"
    return query.calls(check)[len(prefix):]


def test_smoke_runs_the_shipped_script_on_the_runtime_image() -> None:
    """Smoke writes smoke.js and the scripts it requires (elf.js, dpkg.js) next to each other,
    outside the app, and runs it with the image's own user and env."""
    base = runtime()
    ctr = smoke_container(base, arch="arm64", libc="glibc", packages=["bcrypt", "sharp"],
                          addons=["native/build/Release"])
    added = added_calls(ctr, base)
    assert [c.name for c in added] == ["withNewFile", "withNewFile", "withNewFile", "withExec"]
    assert [c.args for c in added[:3]] == [
        {"path": f"{SCRIPT_DIR}/{name}", "contents": script(name)}
        for name in ("elf.js", "dpkg.js", "smoke.js")]
    assert added[3].args["args"] == [
        "node", f"{SCRIPT_DIR}/smoke.js", "--arch", "arm64", "--libc", "glibc", "--app", "/app",
        "--", "bcrypt", "sharp", "./native/build/Release",
    ]
    assert added[3].args["expect"] == dagger.ReturnType.ANY.value
    assert query.platform(ctr) == "linux/arm64"


def test_smoke_checks_each_downloaded_executable() -> None:
    """Every executable glob the audit names goes to smoke.js as its own --exe."""
    base = runtime()
    globs = ["node_modules/@prisma/engines/schema-engine-*",
             "node_modules/@prisma/engines/libquery_engine-*.so.node"]
    ctr = smoke_container(base, arch="x64", libc="glibc", packages=["bcrypt"],
                          executables=globs)
    args = added_calls(ctr, base)[-1].args["args"]
    assert args[args.index("--app") + 2:] == [
        "--exe", globs[0], "--exe", globs[1], "--", "bcrypt"]


def test_smoke_checks_each_declared_system_package() -> None:
    """Every declared system package goes to smoke.js as its own --system, after the --exe."""
    ctr = smoke_container(runtime(), arch="arm64", libc="glibc", packages=[],
                          executables=["bin/x-*"], system=["jq", "imagemagick"])
    assert query.execs(ctr)[-1][-7:] == [
        "--exe", "bin/x-*", "--system", "jq", "--system", "imagemagick", "--"]


def test_hygiene_runs_as_the_default_user_with_the_image_lockfile() -> None:
    """Hygiene changes nothing the check looks at, and reads /app/package-lock.json by default."""
    base = runtime()
    added = added_calls(hygiene_container(base), base)
    assert not CHANGES_THE_IMAGE & {c.name for c in added}
    assert added[-1].args["args"] == [
        "node", f"{SCRIPT_DIR}/hygiene.js", "--app", "/app", "--lockfile", "/app/package-lock.json",
    ]
    assert added[-1].args["expect"] == dagger.ReturnType.ANY.value


def test_hygiene_takes_the_dev_packages_and_the_declared_system_packages() -> None:
    """Dev packages given as npm-shaped JSON go next to the script; declared packages pass."""
    added = added_calls(hygiene_container(runtime(), dev_packages='{"packages": {}}',
                                          allow=("ffmpeg", "python3")), runtime())
    (written,) = [c for c in added if c.name == "withNewFile"
                  and c.args["path"].endswith("dev-packages.json")]
    assert written.args["contents"] == '{"packages": {}}'
    assert added[-1].args["args"][-4:] == [
        "--lockfile", f"{SCRIPT_DIR}/dev-packages.json", "--allow", "ffmpeg,python3"]


def test_service_runs_the_image_command() -> None:
    """The service keeps the image's entrypoint and command and skips Dagger's own port wait."""
    base = runtime()
    added = added_calls(app_service(base, port=8080), base)
    assert [(c.name, c.args) for c in added] == [
        ("withExposedPort", {"port": 8080, "experimentalSkipHealthcheck": True}),
        ("asService", {"useEntrypoint": True}),  # no `args`: the image's own CMD runs
    ]


def test_probe_polls_the_bound_service_with_a_bounded_wait() -> None:
    """The probe container binds the service as `app` and polls http://app:PORT/PATH."""
    base = runtime()
    probe_image = dag.container().from_("node:22-bookworm-slim")
    ctr = health_probe(base, probe_image=probe_image, port=8080, path="healthz", timeout_s=45)
    added = added_calls(ctr, probe_image)
    binding = added[0]
    assert (binding.name, binding.args["alias"]) == ("withServiceBinding", "app")
    assert query.same_chain(binding.args["service"], app_service(base, port=8080))
    assert added[-1].args["args"] == [
        "node", f"{SCRIPT_DIR}/probe.js", "--url", "http://app:8080/healthz", "--timeout", "45",
    ]
    assert added[-1].args["expect"] == dagger.ReturnType.ANY.value


def test_checks_build_on_the_plan_runtime_images(images: Images) -> None:
    """Each target's smoke container extends that target's real runtime image, on its platform."""
    for platform, image in images.runtimes.items():
        ctr = smoke_container(image, arch=platform.node_arch, libc="glibc", packages=["bcrypt"])
        added_calls(ctr, image)
        assert query.platform(ctr) == str(platform)


def test_smoke_names_optional_packages_the_audit_skipped() -> None:
    """An optional package with no binary on the target goes as `--optional NAME`, which the
    script loads if it can and reports absent otherwise."""
    base = runtime()
    ctr = smoke_container(base, arch="x64", libc="glibc", packages=["ssh2"],
                          optional=["node_modules/cpu-features"])
    args = added_calls(ctr, base)[-1].args["args"]
    assert args[args.index("--app") + 2:] == [
        "--optional", "node_modules/cpu-features", "--", "ssh2"]
