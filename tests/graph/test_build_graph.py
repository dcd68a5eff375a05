"""The lazily built Dagger graph of the default plan: platforms, caches, commands, user."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import dagger
import pytest
from dagger import dag

from pipelines.plan.model import NativePackage, Plan, TargetAudit
from pipelines.plan.prepare import prepare
from pipelines.platforms import Platform
from pipelines.registry.credentials import Credentials
from pipelines.run import graph as run
from pipelines.run.execute import _auth, pulled
from pipelines.run.graph import Images
from pipelines.settings import load_settings
from pipelines.stages.app import app_files, installed_modules
from pipelines.stages.image import oci_archive
from tests.conftest import REPO
from tests.graph import query

TOOLCHAIN_WORDS = ("apt-get", "g++", "make", "python3", "node-gyp")


def test_build_stage_has_no_platform(images: Images) -> None:
    """The app stage runs on the engine's own platform: its container() has no platform."""
    assert query.platform(images.app) is None


# Every install ends by making sure node_modules exists (a project may have no dependencies).
MKDIR_MODULES = ["mkdir", "-p", "/app/node_modules"]


def test_build_stage_runs_npm_ci_without_scripts_then_compile(images: Images) -> None:
    """Dependencies install with scripts off, then TypeScript compiles, once."""
    assert query.execs(images.app) == [
        ["npm", "ci", "--ignore-scripts"], MKDIR_MODULES, ["npm", "run", "compile"]
    ]


def test_build_stage_is_shared_by_every_target(images: Images) -> None:
    """Both runtime images take the application from the identical build-platform chain."""
    apps = []
    for runtime in images.runtimes.values():
        copies = query.named(runtime, "withDirectory")
        (call,) = [c for c in copies if c.args["path"] == "/app"
                   and c not in query.module_copies(runtime)]
        apps.append(call.args["directory"] if "directory" in call.args else call.args["source"])
    assert len(apps) == 2
    assert query.same_chain(apps[0], apps[1])
    assert query.platform(apps[0]) is None
    assert query.calls(apps[0])[:len(query.calls(images.app))] == query.calls(images.app)


def test_build_stage_installs_from_the_manifests_only_then_builds(images: Images) -> None:
    """The install sees a filter of the manifests (so a source change keeps it cached), then
    the whole source arrives and the build script runs."""
    calls = query.calls(images.app)
    copies = [c for c in calls if c.name == "withDirectory" and c.args["path"] == "/app"]
    manifests, _source = (c.args["source"] for c in copies)
    (wanted,) = query.named(manifests, "filter")
    assert "package-lock.json" in wanted.args["include"]
    assert query.execs(images.app)[-3:] == [["npm", "ci", "--ignore-scripts"], MKDIR_MODULES,
                                            ["npm", "run", "compile"]]
    env = {c.args["name"]: c.args["value"] for c in query.named(images.app, "withEnvVariable")}
    assert env["NODE_EXTRA_CA_CERTS"] == "/etc/ssl/certs/ca-certificates.crt"
    assert env["HUSKY"] == "0"


def mounted_by(runtime: object) -> set[str]:
    """Every cache volume any stage behind `runtime` mounts."""
    return {key for ctr in query.containers_below(runtime) for _, key, _ in query.cache_mounts(ctr)}


def test_each_runtime_carries_its_platform_and_nothing_else_is_foreign(
    plan: Plan, images: Images
) -> None:
    """Runtime images ask for their target's platform; every build container behind them
    (app, deps, the cross-built addon) runs on the engine's own: nothing is emulated."""
    for platform, runtime in images.runtimes.items():
        assert query.platform(runtime) == str(platform)
        behind = query.containers_below(runtime)[1:]
        native = (None, str(plan.engine_platform))
        foreign = [query.platform(c) for c in behind if query.platform(c) not in native]
        assert behind and not foreign, f"wanted no emulated build container, got {foreign}"
        assert query.platform(images.bindings[platform]) in native


def test_prebuilt_deps_install_natively_for_the_target(plan: Plan, images: Images) -> None:
    """With scripts off, the production install runs on the engine's own platform and tells
    npm the target's os, cpu and libc: no emulation for unpacking tarballs."""
    for target in plan.targets:
        deps = images.deps[target.platform]
        assert query.platform(deps) is None
        assert query.execs(deps) == [[
            "npm", "ci", "--omit=dev", "--ignore-scripts", "--os=linux",
            f"--cpu={target.platform.node_arch}", "--libc=glibc"], MKDIR_MODULES]


def test_no_arch_specific_cache_is_mounted_by_two_targets(plan: Plan, images: Images) -> None:
    """Only the arch-neutral npm tarball store may be shared between targets."""
    owners: Counter[str] = Counter()
    for runtime in images.runtimes.values():
        owners.update(mounted_by(runtime))
    shared = {key for key, count in owners.items() if count > 1}
    assert shared == {c.name for c in plan.build_caches}, f"wanted only npm's store, got {shared}"


def test_cache_mounts_match_the_plan(plan: Plan, images: Images) -> None:
    """Every cache volume a target's stages mount is one the plan names for that target."""
    for target in plan.targets:
        own = [images.deps[target.platform], images.bindings[target.platform]]
        mounted = {key for ctr in below(own) for _, key, _ in query.cache_mounts(ctr)}
        # The one toolchain on the engine keeps apt's caches under the engine's own key.
        allowed = {c.name for c in target.caches} | {c.name for c in plan.build_caches}
        assert mounted <= allowed, f"wanted only {allowed}, got {mounted - allowed}"
        assert any("apt-archives" in key for key in mounted), "the addon compile uses apt caches"


def below(containers: list[object]) -> list[object]:
    """The containers and every container chain they take input from."""
    return [c for ctr in containers for c in query.containers_below(ctr)]


def test_the_addon_build_sees_only_its_folder_and_the_manifests(
        plan: Plan, images: Images) -> None:
    """`node-gyp rebuild --directory native`: the bindings stage gets the manifests and
    native/ only, so a change in src/ leaves its inputs, and its cache key, as they were."""
    assert plan.bindings_sources == "native"
    for target in plan.targets:
        (copy,) = [c for c in query.named(images.bindings[target.platform], "withDirectory")
                   if c.args["path"] == "/app"
                   and c not in query.module_copies(images.bindings[target.platform])]
        sources = copy.args["source"]
        (folder,) = [c for c in query.named(sources, "withDirectory")]
        assert folder.args["path"] == "native"
        assert query.calls(folder.args["source"])[-1].args == {"path": "native"}
        filters = [c.args for c in query.named(sources, "filter")]
        assert filters[0]["include"] == list(plan.packager.manifests())


def test_bindings_cross_compile_on_the_engine_and_are_checked(plan: Plan, images: Images) -> None:
    """The own addon builds on the engine: natively for amd64, with Debian's aarch64 cross g++
    and node-gyp told arm64 for arm64, against the image's own Node headers, next to the
    target's production node_modules; then every .node must be for the target's machine."""
    for target in plan.targets:
        bindings = images.bindings[target.platform]
        commands = [" ".join(cmd) for cmd in query.execs(bindings)]
        assert commands[-2] == "npm run compile:bindings"
        assert commands[-1] == (f"node /tmp/nodepipe/elf.js --arch {target.platform.node_arch} "
                                "/app/native/build/Release")
        env = {c.args["name"]: c.args["value"] for c in query.named(bindings, "withEnvVariable")}
        assert env["npm_config_nodedir"] == "/usr/local"
        if target.cross:
            assert "g++-aarch64-linux-gnu" in " ".join(commands)
            assert env["CXX"] == "aarch64-linux-gnu-g++"
            assert env["npm_config_arch"] == "arm64"
        else:
            assert "npm_config_arch" not in env
        (modules,) = query.module_copies(bindings)
        assert query.same_chain(modules.args["source"],
                                installed_modules(plan, images.deps[target.platform]))


def test_compiles_are_cross_built_by_name_and_plain_scripts_run_on_the_target(
    plan: Plan,
) -> None:
    """A dependency without a prebuilt binary is rebuilt by name on the engine (cross for
    arm64) after the scripts-off install, its binary checked; a plain install script runs on
    the target, and only that package's."""
    audit = TargetAudit((NativePackage("bcrypt", "6.0.0", "compile", "node_modules/bcrypt"),),
                        scripted=("core-js",))
    settings = load_settings({}, {})
    scripted = prepare(settings, Platform.parse("linux/amd64"),
                       audit=dict.fromkeys(settings.platforms, audit))
    images = run.build_graph(scripted, dag.directory())
    for target in scripted.targets:
        assert query.platform(images.deps[target.platform]) is None
        final = images.rebuilt[target.platform]
        assert query.platform(final) == str(target.platform)
        assert query.execs(final)[-1] == ["npm", "rebuild", "core-js"]
        (modules,) = query.module_copies(final)
        compiled = modules.args["source"]
        assert query.platform(compiled) in (None, str(scripted.engine_platform))
        assert query.execs(compiled)[-2:] == [
            ["npm", "rebuild", "bcrypt"],
            ["node", "/tmp/nodepipe/elf.js", "--arch",  # noqa: S108 - a path in the container
             target.platform.node_arch,
             "/app/node_modules/bcrypt"]]
        # The compiles alone are awaited first, as stage rebuild: a compile that fails is
        # told as rebuild, not as the scripts after it.
        alone = query.calls(images.compiled[target.platform])
        assert query.calls(compiled)[:len(alone)] == alone
        assert query.execs(images.compiled[target.platform])[-2][:2] == ["npm", "rebuild"]


def test_an_optional_package_that_fails_to_compile_is_left_out_as_npm_would() -> None:
    """cpu-features (optional under ssh2) compiles on its own, its failure said and not
    fatal; bcrypt (required) in the one rebuild whose failure fails the stage."""
    audit = TargetAudit((NativePackage("bcrypt", "6.0.0", "compile", "node_modules/bcrypt"),
                         NativePackage("cpu-features", "0.0.4", "compile",
                                       "node_modules/cpu-features", optional=True)))
    settings = load_settings({}, {})
    plan = prepare(settings, Platform.parse("linux/amd64"),
                   audit=dict.fromkeys(settings.platforms, audit))
    images = run.build_graph(plan, dag.directory())
    for target in plan.targets:
        execs = query.execs(images.rebuilt[target.platform])
        assert ["npm", "rebuild", "bcrypt"] in execs
        (optional,) = [c for c in execs if c[:2] == ["sh", "-c"] and "cpu-features" in c]
        assert optional[3:] == ["cpu-features", "npm", "rebuild", "cpu-features"]
        assert "|| echo" in optional[2]


def test_runtime_installs_no_toolchain_and_only_production_deps(images: Images) -> None:
    """The runtime chain runs nothing; node_modules comes from the target's production install."""
    for platform, runtime in images.runtimes.items():
        assert query.execs(runtime) == [], "the runtime image must not run any build command"
        (modules,) = query.module_copies(runtime)
        commands = query.execs(modules.args["source"])
        assert commands == query.execs(images.deps[platform])
        assert all("--omit=dev" in cmd for cmd in commands if cmd != MKDIR_MODULES), (
            "devDependencies leaked")


def test_runtime_is_non_root_with_production_env(plan: Plan, images: Images) -> None:
    """USER node, NODE_ENV=production, NODE_OPTIONS, the port and the CMD are set."""
    for runtime in images.runtimes.values():
        (user,) = query.named(runtime, "withUser")
        assert user.args["name"] == "node"
        assert query.calls(runtime)[-1].name == "withDefaultArgs"
        assert query.calls(runtime)[-1].args["args"] == ["node", "dist/entrypoint.js"]
        env = {c.args["name"]: c.args["value"] for c in query.named(runtime, "withEnvVariable")}
        assert env == {"NODE_ENV": "production", "NODE_OPTIONS": plan.node_options,
                       "PORT": str(plan.port), "PATH": "/app/node_modules/.bin:${PATH}"}
        (port,) = query.named(runtime, "withExposedPort")
        assert port.args["port"] == 8080
        owners = {c.args.get("owner") for c in query.named(runtime, "withDirectory")}
        assert owners == {"node"}


def test_runtime_base_is_fresh(plan: Plan, images: Images) -> None:
    """The runtime starts from the base image itself, not from a build container."""
    for runtime in images.runtimes.values():
        assert query.calls(runtime)[1].name == "from"
        assert query.calls(runtime)[1].args["address"] == plan.base_image
        words = " ".join(" ".join(cmd) for cmd in query.execs(runtime))
        assert not any(w in words for w in TOOLCHAIN_WORDS)


def test_export_carries_one_variant_per_target(images: Images) -> None:
    """The OCI archive is built from exactly the runtime images, one per target, in order."""
    archive = oci_archive(images.variants)
    (call,) = query.named(archive, "asTarball")
    variants = call.args["platformVariants"]
    assert [query.platform(v) for v in variants] == ["linux/amd64", "linux/arm64"]
    assert all(v is images.runtimes[p] for v, p in zip(variants, images.runtimes, strict=True))


async def test_publish_carries_one_variant_per_target(
    plan: Plan, images: Images, monkeypatch: pytest.MonkeyPatch
) -> None:
    """publish() gets the address and one platform variant per target.

    `Container.publish` is replaced by a recording test double: this checks the call the
    executor makes, not that a registry received anything (the engine tests do that).
    """
    seen: dict[str, Any] = {}

    async def fake_publish(self: dagger.Container, address: str, **kwargs: Any) -> str:
        seen.update(address=address, **kwargs)
        return f"{address}@sha256:{'0' * 64}"

    monkeypatch.setattr(dagger.Container, "publish", fake_publish)
    ref = await run.publish_image(images, run.Clock(), "localhost:5000/svc:1", lambda c: c)
    assert ref.endswith("@sha256:" + "0" * 64)
    assert seen["address"] == "localhost:5000/svc:1"
    assert seen["platform_variants"] == images.variants
    assert [query.platform(v) for v in seen["platform_variants"]] == ["linux/amd64", "linux/arm64"]


def test_registry_login_reaches_the_engine_as_a_secret() -> None:
    """The password becomes a dagger.Secret in withRegistryAuth, never a plain argument."""
    login = Credentials.of("ci-bot", "pa55-w0rd-not-in-graph")
    published = _auth("registry.example.com:5000/team/api:tag", login)(dag.container())
    (call,) = query.named(published, "withRegistryAuth")
    assert call.args["address"] == "registry.example.com:5000"
    assert call.args["username"] == "ci-bot"
    assert isinstance(call.args["secret"], dagger.Secret)
    assert "pa55-w0rd-not-in-graph" not in repr(query.calls(published))


def test_checks_after_a_publish_run_on_the_pushed_image(plan: Plan, images: Images) -> None:
    """When publishing, each target's checks start from the staged index by digest, pulled for
    that target's platform with the registry login: what is tested is what ships."""
    reference = "registry.example/svc@sha256:" + "0" * 64
    checked = pulled(plan, images, reference, lambda ctr: ctr.with_env_variable("AUTH", "1"))
    for target in plan.targets:
        runtime = checked.runtimes[target.platform]
        assert query.platform(runtime) == str(target.platform)
        (source,) = query.named(runtime, "from")
        assert source.args["address"] == reference
    assert checked.app is images.app


def test_runtime_gets_the_app_files_the_apt_packages_env_and_init() -> None:
    """The runtime image copies the build stage's app directory (node_modules dropped), gets
    the declared apt packages (installed with its own target's caches on amd64, unpacked on
    the engine for arm64), sets the env setting and runs the start command under tini; no
    production install runs a root lifecycle script."""
    settings = load_settings({"source": str(REPO / "tests/fixtures/services/lifecycle"),
                              "apt_packages": "jq", "init": True, "env": "MODE=demo"}, {})
    plan = prepare(settings, Platform.parse("linux/amd64"), audit={})
    images = run.build_graph(plan, dag.directory())
    for target in plan.targets:
        runtime = images.runtimes[target.platform]
        installs = [c for c in query.execs(runtime) if "apt-get install" in " ".join(c)]
        assert bool(installs) != target.packages_cross
        assert {key for _, key, _ in query.cache_mounts(runtime)} <= {c.name for c in target.caches}
        (app,) = [c for c in query.named(runtime, "withDirectory") if c.args["path"] == "/app"
                  and c not in query.module_copies(runtime)]
        assert query.calls(app.args["source"]) == query.calls(app_files(plan, images.app))
        env = {c.args["name"]: c.args["value"] for c in query.named(runtime, "withEnvVariable")}
        assert env["MODE"] == "demo"
        (entrypoint,) = query.named(runtime, "withEntrypoint")
        assert entrypoint.args["args"] == ["/usr/bin/tini", "--"]
        assert query.calls(runtime)[-1].args["args"] == ["node", "server.js"]
        for command in query.execs(images.deps[target.platform]):
            assert command[:2] != ["npm", "run"], "a production install ran a script"
            assert command[0] != "npm" or "--ignore-scripts" in command
    assert ["npm", "run", "postinstall"] in query.execs(images.app)
    assert ["npm", "run", "prepare"] in query.execs(images.app)


def test_one_toolchain_on_the_engine_serves_every_target(plan: Plan, images: Images) -> None:
    """Both targets' addon builds start from the same engine container with native and cross
    g++ installed in one apt step, so the toolchain is installed once, not once per target."""
    prefixes = []
    for target in plan.targets:
        calls = query.calls(images.bindings[target.platform])
        installs = [i for i, c in enumerate(calls) if c.name == "withExec"
                    and "apt-get install" in " ".join(c.args["args"])]
        assert len(installs) == 1
        words = calls[installs[0]].args["args"][-1]
        assert " g++ " in f" {words} " and "g++-aarch64-linux-gnu" in words
        prefixes.append(calls[: installs[0] + 1])
    assert prefixes[0] == prefixes[1]


def test_build_packages_are_tools_once_and_libraries_for_each_cross_target() -> None:
    """--build-apt-packages python3-venv,zlib1g-dev on an amd64 engine building arm64 too:
    one install asks apt which are libraries (`Multi-Arch: same`) and adds only those as
    NAME:arm64; a tool is never asked for as python3-venv:arm64 (it would conflict)."""
    settings = load_settings({"build_apt_packages": "python3-venv,zlib1g-dev"}, {})
    plan = prepare(settings, Platform.parse("linux/amd64"), audit={})
    images = run.build_graph(plan, dag.directory())
    arm = images.bindings[Platform.parse("linux/arm64")]
    (install,) = [c for c in query.execs(arm) if "apt-get install" in " ".join(c)]
    assert install[:2] == ["sh", "-c"] and "Multi-Arch: same" in install[2]
    assert install[3:] == ["sh", "arm64", "python3", "make", "pkg-config", "g++",
                           "g++-aarch64-linux-gnu", "--", "python3-venv", "zlib1g-dev"]
    assert not any(":arm64" in word for word in install)


def test_runtime_package_manager_is_prepared_in_the_image() -> None:
    """--runtime-package-manager: corepack prepares the pinned pnpm in the runtime image as
    root, the build environment only for those commands; the image keeps COREPACK_HOME and no
    network for corepack; the start command may then run pnpm."""
    settings = load_settings({
        "source": str(REPO / "tests/fixtures/services/pnpm-start"),
        "runtime_package_manager": True, "build_env": "COREPACK_INTEGRITY_KEYS=0",
        "start_command": "pnpm,--filter,web,exec,node,node/server.ts"}, {})
    plan = prepare(settings, Platform.parse("linux/amd64"), audit={})
    assert plan.shape.runtime_package_manager == "pnpm@10.34.9"
    images = run.build_graph(plan, dag.directory())
    for target in plan.targets:
        runtime = images.runtimes[target.platform]
        execs = query.execs(runtime)
        assert ["corepack", "prepare", "pnpm@10.34.9", "--activate"] in execs
        assert ["chown", "-R", "node:node", "/opt/corepack"] in execs
        env: dict[str, str] = {}
        for call in query.calls(runtime):
            if call.name == "withEnvVariable":
                env[call.args["name"]] = call.args["value"]
            elif call.name == "withoutEnvVariable":
                env.pop(call.args["name"], None)
        assert env["COREPACK_HOME"] == "/opt/corepack"
        assert env["COREPACK_ENABLE_NETWORK"] == "0"
        assert "COREPACK_INTEGRITY_KEYS" not in env and "NODE_EXTRA_CA_CERTS" not in env
        assert query.calls(runtime)[-1].args["args"][0] == "pnpm"


def test_the_image_drops_build_made_installs_but_keeps_tracked_code(tmp_path: Path) -> None:
    """The image's files come from the build container without any node_modules an install
    made there (a build step's `npm ci` in a subfolder too), except the source's tracked ones."""
    from tests.unit.test_app_files import APP, project  # noqa: PLC0415

    source = project(tmp_path, {APP: ""}, start=f"node {APP}")
    plan = prepare(load_settings({"source": str(source)}, {}), Platform.parse("linux/amd64"),
                   audit={})
    images = run.build_graph(plan, dag.directory())
    (call,) = [c for c in query.calls(app_files(plan, images.app)) if c.name == "filter"][:1]
    exclude = call.args["exclude"]
    assert exclude[:2] == ["**/node_modules", "!packages/node_modules"]
    assert "node_modules" in exclude[2:]
    assert ".venv" not in exclude


def test_the_exclude_setting_drops_what_the_build_stage_made_too(tmp_path: Path) -> None:
    """--exclude .venv: a Python venv a postinstall makes in the build stage (for the engine's
    machine) is not shipped, though no source file of that name exists to drop."""
    from tests.unit.test_app_files import APP, project  # noqa: PLC0415

    source = project(tmp_path, {APP: ""}, start=f"node {APP}")
    plan = prepare(load_settings({"source": str(source), "exclude": ".venv,/tmp-out/"}, {}),
                   Platform.parse("linux/amd64"), audit={})
    images = run.build_graph(plan, dag.directory())
    (call,) = [c for c in query.calls(app_files(plan, images.app)) if c.name == "filter"][:1]
    assert call.args["exclude"][-2:] == [".venv", "tmp-out"]


def test_runtime_carries_the_plans_labels_as_labels_and_annotations(
    plan: Plan, images: Images
) -> None:
    """Each image's config has the plan's OCI labels, its manifest the same annotations."""
    assert plan.labels["org.opencontainers.image.title"] == "native-service"
    assert plan.labels["org.opencontainers.image.licenses"] == "MIT"
    assert "org.opencontainers.image.created" not in plan.labels or (
        plan.labels["org.opencontainers.image.created"].endswith("Z"))
    for runtime in images.runtimes.values():
        labels = {c.args["name"]: c.args["value"] for c in query.named(runtime, "withLabel")}
        notes = {c.args["name"]: c.args["value"] for c in query.named(runtime, "withAnnotation")}
        assert labels == notes == dict(plan.labels)


class _Named:
    """A Clock whose stages only record their names (a test double: nothing is evaluated)."""

    def __init__(self) -> None:
        self.ran: list[tuple[str, str | None]] = []

    async def run(self, stage: str, target: Any, work: Any, engine: str = "") -> None:
        work.close()  # the coroutine of a sync() never awaited: nothing reaches an engine
        self.ran.append((stage, str(target.platform) if target else None))


async def test_a_target_with_plain_scripts_names_its_stage_scripts(plan: Plan) -> None:
    """The chain that ends with the target's plain install scripts is logged as `scripts`
    (emulated on a foreign target), one with compiles only as `rebuild`."""
    arm, amd = plan.targets[1], plan.targets[0]
    scripted = replace(plan, targets=(replace(amd, compiled=("bcrypt",)),
                                      replace(arm, scripted=("core-js",))))
    clock = _Named()
    await run.build_all(scripted, run.build_graph(scripted, dag.directory()), clock)  # type: ignore[arg-type]
    assert ("rebuild", "linux/amd64") in clock.ran and ("scripts", "linux/arm64") in clock.ran
    assert ("rebuild", "linux/arm64") not in clock.ran
