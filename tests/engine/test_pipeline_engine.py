"""The whole pipeline on a real Dagger engine, on each path a user takes: export, publish, the
checks failing, a refused login, the emulation policy, the report files, and real service
shapes (plain JavaScript, migrations and public assets, a runtime apt package, pnpm, yarn 4).

Everything runs through `execute`, the build's own entry below the command line. The registry
is Debian's docker-registry on this host's loopback, which a stock engine pushes to over plain
HTTP as it does for every localhost registry: no engine setting is involved.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import tarfile
from pathlib import Path
from typing import Any

import anyio
import dagger
import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from pipelines.errors import PipelineError
from pipelines.plan.emulation import EmulationRefusedError
from pipelines.plan.prepare import prepare
from pipelines.platforms import Platform
from pipelines.registry.credentials import Credentials
from pipelines.registry.referrers import ArtifactClient, referrers
from pipelines.registry.signatures import encrypt_signing_key
from pipelines.registry.verify import verify_index
from pipelines.run import graph as run
from pipelines.run.execute import execute
from pipelines.run.report import JSON_NAME, Report, write_report
from pipelines.settings import load_settings
from tests.components.registry import (
    PASSWORD,
    USER,
    LocalRegistry,
    assert_no_secret,
)
from tests.conftest import EXAMPLE, REPO

pytestmark = pytest.mark.engine
SERVICES = REPO / "tests" / "fixtures" / "services"
# This machine's npm mirror serves packuments without signatures, so corepack's integrity check
# cannot pass here; on the public registry it does and this is not needed.
KEY_PASSWORD = "engine-key-pa55"  # noqa: S105 - a test key's password
COREPACK_HERE = {"build_env": "COREPACK_INTEGRITY_KEYS=0"}


async def build(tmp_path: Path, source: Path = EXAMPLE, **flags: Any) -> tuple[str, Report]:
    """Plan (in a thread: the audit runs its own event loop) and execute; return the result."""
    settings = load_settings({"source": str(source), "export_path": str(tmp_path / "image.tar"),
                              "audit": "offline", **flags}, {})
    engine_platform = await run.engine_platform()
    plan = await anyio.to_thread.run_sync(prepare, settings, engine_platform)
    report = Report(plan)
    try:
        report.output = await execute(settings, report, os.environ)
    finally:
        write_report(report, tmp_path / "report")
    return report.output, report


def archive_platforms(path: str) -> list[dict[str, Any]]:
    """The platform entries of the image index inside an OCI archive."""
    with tarfile.open(path) as archive:
        index = json.load(archive.extractfile("index.json"))  # type: ignore[arg-type]
        while index["manifests"][0]["mediaType"].endswith("image.index.v1+json"):
            digest = index["manifests"][0]["digest"].split(":")[1]
            index = json.load(archive.extractfile(f"blobs/sha256/{digest}"))  # type: ignore[arg-type]
    return [m["platform"] for m in index["manifests"]]


def tags_of(registry: LocalRegistry, repository: str) -> list[str]:
    """The tags the registry holds for `repository` (none when it does not exist)."""
    answer = httpx.get(f"http://{registry.host}/v2/{repository}/tags/list",
                       auth=(USER, PASSWORD), timeout=10)
    return [] if answer.status_code == 404 else sorted(answer.json().get("tags") or [])


def index_platforms(registry: LocalRegistry, repository: str, tag: str) -> list[str]:
    """os/arch[/variant] of each image in the index the tag points at (attestations left out)."""
    index = httpx.get(f"http://{registry.host}/v2/{repository}/manifests/{tag}",
                      auth=(USER, PASSWORD), timeout=10,
                      headers={"Accept": "application/vnd.oci.image.index.v1+json"}).json()
    return sorted("/".join(filter(None, (m["platform"]["os"], m["platform"]["architecture"],
                                         m["platform"].get("variant"))))
                  for m in index["manifests"] if m.get("platform", {}).get("os") != "unknown")


def copy_service(source: Path, tmp_path: Path) -> Path:
    """A writable copy of a service, without build output."""
    target = tmp_path / source.name
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("node_modules", "dist", "build"))
    return target


def sentences(error: BaseException) -> list[str]:
    """The user-facing sentences of an error or an exception group of them."""
    if isinstance(error, BaseExceptionGroup):
        return [s for e in error.exceptions for s in sentences(e)]
    return [str(error)]


async def test_export_writes_a_two_platform_archive_and_both_reports(
    engine: None, tmp_path: Path
) -> None:
    """The example exports one index with linux/amd64 and linux/arm64/v8, passes every check on
    both, and writes the JSON and Markdown reports with each check's result."""
    output, _ = await build(tmp_path)
    assert sorted("/".join(p.get(k, "") for k in ("os", "architecture", "variant")).strip("/")
                  for p in archive_platforms(output)) == ["linux/amd64", "linux/arm64/v8"]
    data = json.loads((tmp_path / "report" / "node-pipelines-report.json").read_text())
    assert data["ok"] and data["output"] == output
    for platform in ("linux/amd64", "linux/arm64"):
        assert {data["checks"][platform][k]["ok"] for k in ("smoke", "hygiene", "probe")} == {True}
    markdown = (tmp_path / "report" / "node-pipelines-report.md").read_text()
    assert "| linux/arm64 | cross |" in markdown
    bom = json.loads((tmp_path / "image.linux-arm64.cdx.json").read_text())
    assert "sharp-linux-arm64" in {c["name"] for c in bom["components"]}
    statement = json.loads((tmp_path / "image.linux-arm64.intoto.json").read_text())
    stages = statement["predicate"]["buildDefinition"]["internalParameters"]["stages"]
    assert {"stage": "bindings", "platform": "linux/amd64", "runs": "cross",
            "for": "linux/arm64"} in stages


async def test_publish_pushes_verifies_and_tags_with_a_secret_login(
    engine: None, tmp_path: Path, registry: LocalRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    """Publish returns REPO@sha256 of the verified index, both tags point at it, and the
    password appears nowhere in the output; each platform has its SBOM and provenance, and
    the index and those are signed with the cosign key given."""
    image = f"{registry.host}/team/native-service"
    signing = ec.generate_private_key(ec.SECP256R1())
    sign_key = encrypt_signing_key(signing, KEY_PASSWORD, os.urandom(32), os.urandom(24))
    output, report = await build(
        tmp_path, publish=True, image=image, tags="1.0.0,latest",
        registry_username=USER, registry_password=PASSWORD, sign_key=sign_key,
        sign_password=KEY_PASSWORD)
    assert output.startswith(f"{image}@sha256:")
    assert tags_of(registry, "team/native-service")[:2] == ["1.0.0", "latest"]
    platforms = index_platforms(registry, "team/native-service", "latest")
    assert platforms == ["linux/amd64", "linux/arm64/v8"], platforms
    assert report.staging.startswith(f"{image}:nodepipe-staging-")
    captured = capsys.readouterr()
    assert_no_secret(captured.out + captured.err + json.dumps(report.to_json()), PASSWORD,
                     KEY_PASSWORD, sign_key.splitlines()[1])
    attested = await verify_index(output, ["linux/amd64", "linux/arm64"],
                                  Credentials.of(USER, PASSWORD), require=("sbom", "provenance"),
                                  key=signing.public_key())
    assert attested.ok, attested.table()
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    refused = await verify_index(output, ["linux/amd64", "linux/arm64"],
                                 Credentials.of(USER, PASSWORD), key=other)
    assert not refused.ok
    arm = next(r for r in attested.rows if r.platform == "linux/arm64")
    async with ArtifactClient(registry.host, Credentials.of(USER, PASSWORD)) as client:
        listed = await referrers(client, "team/native-service", arm.digest or "")
        documents = {}
        for descriptor in listed:
            manifest = await client.get_manifest("team/native-service", descriptor["digest"])
            assert manifest is not None
            layer = manifest.document()["layers"][0]["digest"]
            documents[descriptor["artifactType"]] = json.loads(
                await client.get_blob("team/native-service", layer) or b"{}")
    names = {c["name"] for c in documents["application/vnd.cyclonedx+json"]["components"]}
    assert {"bcrypt", "better-sqlite3", "sharp", "sharp-linux-arm64"} <= names
    stages = documents["application/vnd.in-toto+json"]["predicate"]["buildDefinition"][
        "internalParameters"]["stages"]
    assert {"stage": "bindings", "platform": "linux/amd64", "runs": "cross",
            "for": "linux/arm64"} in stages


async def test_a_wrong_password_names_registry_and_user_and_tags_nothing(
    engine: None, tmp_path: Path, registry: LocalRegistry
) -> None:
    """A refused login is one sentence naming the registry and the user; no tag appears."""
    with pytest.raises(PipelineError) as caught:
        await build(tmp_path, publish=True, image=f"{registry.host}/team/refused",
                    tags="latest", registry_username=USER,
                    registry_password="wrong-password")  # noqa: S106 - the wrong one, on purpose
    text = str(caught.value)
    assert f"the registry {registry.host} refused user '{USER}'" in text, text
    assert "no tag was moved" in text
    assert_no_secret(text, "wrong-password")
    assert tags_of(registry, "team/refused") == []


async def test_a_service_that_never_listens_fails_the_probe_and_tags_nothing(
    engine: None, tmp_path: Path, registry: LocalRegistry
) -> None:
    """The image's command runs but nothing listens on the port: the probe's sentence, and the
    requested tag never appears (only the staging tag exists)."""
    source = copy_service(SERVICES / "lifecycle", tmp_path)
    with pytest.raises(BaseException) as caught:
        await build(tmp_path, source, publish=True, image=f"{registry.host}/team/deaf",
                    tags="latest", registry_username=USER, registry_password=PASSWORD,
                    start_command=["node", "-e", "setInterval(Date.now, 1000)"])
    text = " ".join(sentences(caught.value))
    assert "nothing accepted connections at tcp://app:8080" in text, text
    assert "latest" not in tags_of(registry, "team/deaf")


async def test_hygiene_failure_names_the_problem(engine: None, tmp_path: Path) -> None:
    """A start command that sets NODE_ENV=development fails hygiene with that sentence."""
    source = copy_service(SERVICES / "lifecycle", tmp_path)
    manifest = json.loads((source / "package.json").read_text())
    manifest["scripts"]["start"] = "NODE_ENV=development node server.js"
    (source / "package.json").write_text(json.dumps(manifest))
    with pytest.raises(BaseException) as caught:
        await build(tmp_path, source)
    text = " ".join(sentences(caught.value))
    assert "stage hygiene" in text and "NODE_ENV" in text, text
    assert not (tmp_path / "image.tar").exists(), "a failed build exports nothing"


async def test_smoke_failure_names_the_addon(engine: None, tmp_path: Path) -> None:
    """An own addon that is not where the image expects it fails the smoke test, by name."""
    with pytest.raises(BaseException) as caught:
        await build(tmp_path, bindings_output="native/build", platforms="linux/amd64")
    text = " ".join(sentences(caught.value))
    assert "stage smoke" in text and "native/build" in text, text


async def test_emulation_fail_refuses_before_building(engine: None, tmp_path: Path) -> None:
    """Install scripts that must run on arm64 (prisma's) run emulated: --emulation fail stops
    with exit 2. (Runtime system packages no longer do: they are unpacked on the engine.)"""
    with pytest.raises(EmulationRefusedError) as caught:
        await build(tmp_path, SERVICES / "prisma-engines", emulation="fail")
    assert caught.value.exit_code == 2
    assert "linux/arm64 would run scripts emulated" in str(caught.value)


async def test_foreign_system_packages_build_cross_and_run_on_both_platforms(
    engine: None, tmp_path: Path
) -> None:
    """apt-imaging (jq, and imagemagick: shared libraries and maintainer scripts) under
    --emulation fail: arm64's packages are unpacked on the amd64 engine and only their scripts
    and ldconfig run on arm64; both images pass smoke (each declared package installed, its
    programs loading), the probe (the service starts only if jq and convert run) and hygiene,
    `jq --version` and `convert -version` run on each, and dpkg lists the packages for each
    platform's own architecture."""
    output, report = await build(tmp_path, SERVICES / "apt-imaging", emulation="fail")
    assert len(archive_platforms(output)) == 2
    data = json.loads((tmp_path / "report" / JSON_NAME).read_text())
    ran = {t["platform"]: t["stages"][-1]["runs"] for t in data["plan"]["targets"]}
    assert ran == {"linux/amd64": "native", "linux/arm64": "cross"}, ran
    assert "| linux/arm64 | cross |" in report.to_markdown()
    settings = load_settings({"source": str(SERVICES / "apt-imaging"), "audit": "offline"}, {})
    plan = await anyio.to_thread.run_sync(prepare, settings, await run.engine_platform())
    images = run.build_graph(plan, run.source_directory(plan))
    for target in plan.targets:
        checks = report.checks[str(target.platform)]
        assert checks["smoke"]["ok"] and checks["hygiene"]["ok"] and checks["probe"]["ok"]
        assert [s["name"] for s in checks["smoke"]["system"]] == ["jq", "imagemagick"]
        jq = checks["smoke"]["system"][0]
        assert [tuple(p) for p in jq["programs"]] == [
            ("/usr/bin/jq", f"{target.platform.node_arch} 64-bit")], jq
        out = await images.runtimes[target.platform].with_exec([
            "sh", "-c", "jq --version && convert -version | head -1 && "
            "dpkg-query -W -f '${Status} ${Architecture}\\n' jq imagemagick-6.q16"]).stdout()
        lines = out.splitlines()
        assert lines[0].startswith("jq-1.") and "ImageMagick 6" in lines[1], out
        assert lines[2:] == [f"install ok installed {target.platform.arch}"] * 2, out


@pytest.mark.parametrize(("service", "flags"), [
    ("plain-js", {}), ("apt-tool", {}), ("lifecycle", {}),
    ("pnpm-api", COREPACK_HERE), ("yarn4-api", COREPACK_HERE),
])
async def test_real_service_shapes_build_and_pass_on_both_platforms(
    engine: None, tmp_path: Path, service: str, flags: dict[str, str]
) -> None:
    """Plain JavaScript with migrations and public assets, a runtime apt package, lifecycle
    scripts, a pnpm 10 TypeScript service and a yarn 4 service: each builds for both platforms
    and passes smoke, the port check and hygiene on both."""
    output, report = await build(tmp_path, SERVICES / service, **flags)
    assert len(archive_platforms(output)) == 2
    for platform in ("linux/amd64", "linux/arm64"):
        checks = report.checks[platform]
        assert checks["smoke"]["ok"] and checks["hygiene"]["ok"] and checks["probe"]["ok"]
        assert checks["probe"]["status"] == "connected"


async def test_runtime_images_hold_the_app_as_shipped(engine: None, tmp_path: Path) -> None:
    """plain-js: server/, db/migrations and public/ are in the image, test/ is not, the user is
    node, and no compiler is on PATH."""
    settings = load_settings({"source": str(SERVICES / "plain-js"), "audit": "offline"}, {})
    plan = await anyio.to_thread.run_sync(prepare, settings, await run.engine_platform())
    images = run.build_graph(plan, run.source_directory(plan))
    for target in plan.targets:
        runtime = images.runtimes[target.platform]
        listing = await runtime.with_exec(["sh", "-c", "id -un; ls /app; command -v gcc || true"]
                                          ).stdout()
        lines = listing.split()
        assert lines[0] == "node"
        assert {"server", "db", "public", "package.json"} <= set(lines)
        assert "test" not in lines and "gcc" not in listing
        arch = await runtime.with_exec(["node", "-p", "process.arch"]).stdout()
        assert arch.strip() == Platform.parse(str(target.platform)).node_arch


@pytest.mark.parametrize("manager", ["npm", "pnpm", "yarn4", "yarn1"])
async def test_one_workspace_package_builds_with_only_its_closure(
    engine: None, tmp_path: Path, manager: str
) -> None:
    """`--workspace @demo/api` of an npm, pnpm, yarn 4 and yarn 1 monorepo: both platforms pass
    smoke, the port check and hygiene; the image starts in packages/api and holds the service,
    the local package it depends on (@demo/shared, with left-pad) and nothing of packages/web
    (lodash), of the root's or the service's devDependencies (resolved from the service's and
    the local package's folders: pnpm links each package's own dependencies only)."""
    source = SERVICES / f"{manager}-workspace"
    flags = {"workspace": "@demo/api", **({} if manager == "npm" else COREPACK_HERE)}
    output, report = await build(tmp_path, source, **flags)
    assert len(archive_platforms(output)) == 2
    for platform in ("linux/amd64", "linux/arm64"):
        checks = report.checks[platform]
        assert checks["smoke"]["ok"] and checks["hygiene"]["ok"] and checks["probe"]["ok"]
    settings = load_settings({"source": str(source), "audit": "offline", **flags}, {})
    plan = await anyio.to_thread.run_sync(prepare, settings, await run.engine_platform())
    images = run.build_graph(plan, run.source_directory(plan))
    look = ("pwd; ls /app /app/packages; node -p \"require.resolve('@demo/shared')\"; "
            "for m in bcrypt ms left-pad lodash is-number is-odd; do "
            "node -e \"require.resolve('$m', {paths: ['.', '../shared']})\" 2>/dev/null "
            "&& echo has-$m; done; "
            "ls /app/node_modules/.bin 2>/dev/null | grep -c . || true")
    for target in plan.targets:
        lines = (await images.runtimes[target.platform].with_exec(
            ["sh", "-c", look]).stdout()).split()
        assert lines[0] == "/app/packages/api", f"wanted the service's folder, got {lines[0]}"
        assert "web" not in lines and "shared" in lines and "api" in lines
        assert any(line.endswith("packages/shared/index.js") for line in lines)
        has = {line.removeprefix("has-") for line in lines if line.startswith("has-")}
        assert has == {"bcrypt", "ms", "left-pad"}, f"wanted only the closure, got {has}"


async def test_a_source_only_change_runs_no_install_again(tmp_path: Path) -> None:
    """After a one-line change in src/, the engine's own progress output shows every install
    CACHED and the TypeScript build run again."""
    source = copy_service(EXAMPLE, tmp_path)
    flags = {"platforms": "linux/amd64,linux/arm64", "cache_namespace": "nodepipe-srcchange"}
    async with dagger.connection():
        await build(tmp_path / "first", source, **flags)
    entry = source / "src" / "entrypoint.ts"
    # A change no earlier run made: the engine's cache is content-addressed.
    entry.write_text(entry.read_text() + f"\n// a source-only change {secrets.token_hex(8)}\n")
    log = tmp_path / "engine.log"
    with log.open("w") as sink:
        async with dagger.connection(dagger.Config(log_output=sink)):
            await build(tmp_path / "second", source, **flags)
    spans = _exec_spans(log.read_text())
    installs = [s for s in spans.values() if s["cmd"].startswith("npm ci")]
    assert len(installs) == 3, f"wanted the build's and two targets' npm ci, got {installs}"
    assert all(s["cached"] for s in installs), installs
    compiles = [s for s in spans.values() if s["cmd"] == "npm run compile"]
    assert compiles and not any(s["cached"] for s in compiles), compiles


def _exec_spans(log: str) -> dict[str, dict[str, Any]]:
    """Each `withExec` span of the engine's progress output: its command, whether the engine
    answered it from cache (`Container.withExec CACHED`), and whether it printed output."""
    spans: dict[str, dict[str, Any]] = {}
    for line in _plain(log).splitlines():
        span, _, rest = line.partition(":")
        rest = rest.strip().lstrip("┆ ").strip()
        if rest.startswith("withExec "):
            spans.setdefault(span.strip(), {"cmd": rest.removeprefix("withExec "),
                                            "cached": False})
        elif span.strip() in spans and "Container.withExec CACHED" in rest:
            spans[span.strip()]["cached"] = True
    return spans


def _plain(text: str) -> str:
    """The engine's progress output without its colour codes."""
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


async def test_a_service_that_exits_at_boot_shows_why_and_every_check_still_reports(
    engine: None, tmp_path: Path
) -> None:
    """The probe's sentence carries what the service printed before exiting, and the checks of
    both platforms all finished: each has its result in the report."""
    source = copy_service(SERVICES / "lifecycle", tmp_path)
    crash = ["node", "-e", "console.error('JWT_SECRET is not set'); process.exit(1)"]
    with pytest.raises(BaseException) as caught:
        await build(tmp_path, source, start_command=crash)
    text = " ".join(sentences(caught.value))
    assert "the service exited instead of listening on port 8080" in text, text
    assert "JWT_SECRET is not set" in text, text
    data = json.loads((tmp_path / "report" / "node-pipelines-report.json").read_text())
    for platform in ("linux/amd64", "linux/arm64"):
        assert data["checks"][platform]["smoke"]["ok"]
        assert data["checks"][platform]["hygiene"]["ok"]


async def test_downloaded_executables_are_checked_on_every_target(
    engine: None, tmp_path: Path
) -> None:
    """prisma's @prisma/engines downloads its engines at install: that script runs on each
    target (arm64 emulated), and each target's smoke check looks for the files and reads their
    ELF header. The engine host is unreachable from this machine, so the postinstall finds
    nothing to download and exits 0: the smoke check is what says so, for both targets."""
    source = copy_service(SERVICES / "prisma-engines", tmp_path)
    globs = ["node_modules/@prisma/engines/schema-engine-*",
             "node_modules/@prisma/engines/libquery_engine-*.so.node"]
    try:
        await build(tmp_path, source)
        failed = ""
    except BaseException as error:  # noqa: BLE001 - an exception group of check failures
        failed = " ".join(sentences(error))
    checks = json.loads((tmp_path / "report" / JSON_NAME).read_text())["checks"]
    for platform, arch in (("linux/amd64", "x64"), ("linux/arm64", "arm64")):
        smoke = checks[platform]["smoke"]
        assert [e["pattern"] for e in smoke["executables"]] == globs, smoke
        if failed:
            assert f"stage smoke on {platform} failed" in failed, failed
            assert all(f"no file matches {g}" in failed for g in globs), failed
        else:  # where the engine host is reachable, the files are there and for the target
            assert all(f[1] == f"{arch} 64-bit" for e in smoke["executables"] for f in e["files"])


async def test_prisma_client_is_generated_for_the_image_that_ships(
    engine: None, tmp_path: Path
) -> None:
    """@prisma/client's install script never runs (scripts are off): the build runs `prisma
    generate` after the install, and both images carry the client; the service refuses to start
    without it, so the probe is the proof, and each smoke check requires the generated folder.

    Prisma's engine host is unreachable from this machine: the CLI fetches its schema engine
    before any command, so the build points it at a stand-in (generate does not use it); and the
    production install holds the prisma CLI (npm installs @prisma/client's optional peer), whose
    @prisma/engines download finds nothing, which the smoke check says. Where that host is
    reachable the build passes; here the only failures allowed are those two sentences."""
    source = copy_service(SERVICES / "prisma-client", tmp_path)
    try:
        await build(tmp_path, source, build_env="PRISMA_SCHEMA_ENGINE_BINARY=/bin/true")
        failed: list[str] = []
    except BaseException as error:  # noqa: BLE001 - an exception group of check failures
        failed = sentences(error)
    checks = json.loads((tmp_path / "report" / JSON_NAME).read_text())["checks"]
    for platform in ("linux/amd64", "linux/arm64"):
        smoke = checks[platform]["smoke"]
        assert [(g["name"], g["ok"]) for g in smoke["generated"]] == [
            ("node_modules/.prisma/client", True)], smoke
        assert checks[platform]["probe"]["ok"], checks[platform]["probe"]
    engines = "executable node_modules/@prisma/engines/schema-engine-*: no file matches"
    assert all(engines in sentence for sentence in failed), failed
