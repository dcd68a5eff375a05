"""Install scripts from the registry where the lockfile is silent (pnpm 9+, yarn berry): the
client against a stub transport (a test double, not the npm registry), and the audit of a
pnpm lockfile from a cache the stub filled."""

from __future__ import annotations

import io
import shutil
import tarfile
from pathlib import Path

import anyio
import httpx

from pipelines.audit import Mechanism, RegistryConfig, audit_source
from pipelines.audit.registry import NpmRegistry

from .conftest import LOCKFILES

ABBREVIATED = "application/vnd.npm.install-v1+json"


def config(tmp_path: Path) -> RegistryConfig:
    """A stub registry's URL and an empty cache."""
    return RegistryConfig(url="https://npm.stub.test/", cache_dir=tmp_path / "cache",
                          retry_delay_s=0.0)


def packuments(requests: list[httpx.Request]) -> httpx.MockTransport:
    """ssh2's abbreviated packument (hasInstallScript), and a registry that answers the full
    document instead for `plain` (scripts only, as the mirror here does)."""
    documents = {
        "/ssh2": {"name": "ssh2", "versions": {
            "1.16.0": {"version": "1.16.0", "hasInstallScript": True},
            "1.17.0": {"version": "1.17.0", "hasInstallScript": True}}},
        "/asn1": {"name": "asn1", "versions": {"0.2.6": {"version": "0.2.6"}}},
        "/plain": {"name": "plain", "versions": {"1.0.0": {
            "name": "plain", "version": "1.0.0", "scripts": {"postinstall": "node x.js"},
            "dist": {"tarball": "https://npm.stub.test/plain/-/plain-1.0.0.tgz"}}}},
    }

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        found = documents.get(request.url.path)
        return httpx.Response(200, json=found) if found else httpx.Response(404)

    return httpx.MockTransport(handler)


async def test_one_abbreviated_request_per_name_answers_every_version(tmp_path: Path) -> None:
    """Two versions of ssh2, one request with npm's Accept header; a package without the flag
    runs none; the answers are cached by name@version and served offline."""
    seen: list[httpx.Request] = []
    async with NpmRegistry(config(tmp_path), offline=False,
                           transport=packuments(seen)) as client:
        assert await client.install_scripts("ssh2", ["1.16.0", "1.17.0"]) == {
            "1.16.0": True, "1.17.0": True}
        assert await client.install_scripts("asn1", ["0.2.6"]) == {"0.2.6": False}
        assert await client.install_scripts("gone", ["1.0.0"]) == {}
    assert [r.url.path for r in seen] == ["/ssh2", "/asn1", "/gone"]
    assert all(r.headers["accept"].startswith(ABBREVIATED) for r in seen)
    cached = NpmRegistry(config(tmp_path), offline=True)
    assert cached.cached_install_script("ssh2", "1.17.0") is True
    assert cached.cached_install_script("asn1", "0.2.6") is False
    assert cached.cached_install_script("gone", "1.0.0") is None


async def test_a_full_document_answers_from_its_scripts_and_is_kept(tmp_path: Path) -> None:
    """A registry that ignores the Accept header: the version's own scripts answer, and the
    version document is cached, so the audit need not ask for it again."""
    seen: list[httpx.Request] = []
    async with NpmRegistry(config(tmp_path), offline=False,
                           transport=packuments(seen)) as client:
        assert await client.install_scripts("plain", ["1.0.0"]) == {"1.0.0": True}
        manifest = await client.manifest("plain", "1.0.0")
    assert manifest is not None and manifest["scripts"] == {"postinstall": "node x.js"}
    assert len(seen) == 1


def pnpm_case(tmp_path: Path) -> Path:
    """pnpm10-optional-native: ssh2, whose install script its lockfile does not record."""
    source = tmp_path / "case"
    shutil.copytree(LOCKFILES / "pnpm10-optional-native", source)
    return source


def test_offline_the_audit_counts_what_it_could_not_classify(tmp_path: Path) -> None:
    """An empty cache: ssh2 and the rest are unknown, and a note says how many."""
    report = audit_source(pnpm_case(tmp_path), offline=True, registry=config(tmp_path))
    assert "ssh2" not in {p.name for p in report.packages}
    (note,) = [n for n in report.notes if "could not be classified" in n]
    assert note.startswith("8 production packages could not be classified (")
    assert "run online to know" in note


async def test_the_registry_answer_makes_ssh2_a_compile(tmp_path: Path) -> None:
    """Once the registry said ssh2 has an install script, the offline audit lists it (its
    install.js builds an optional crypto binding) and counts one fewer unknown."""
    async with NpmRegistry(config(tmp_path), offline=False,
                           transport=packuments([])) as client:
        await client.install_scripts("ssh2", ["1.17.0"])
        await client.install_scripts("asn1", ["0.2.6"])
    report = audit_source(pnpm_case(tmp_path), offline=True, registry=config(tmp_path))
    ssh2 = next(p for p in report.packages if p.name == "ssh2")
    assert ssh2.mechanism is Mechanism.COMPILE
    assert ssh2.evidence[0].startswith("known: ssh2's install script `node install.js`")
    (note,) = [n for n in report.notes if "could not be classified" in n]
    assert note.startswith("6 production packages could not be classified (")


async def test_after_a_whole_packument_version_documents_are_asked(tmp_path: Path) -> None:
    """A registry that answered the abbreviated request with the whole packument (it has
    `time`) is asked for version documents from then on: a few KB instead of megabytes."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        if request.url.path == "/big":
            return httpx.Response(200, json={"name": "big", "time": {}, "versions": {
                "1.0.0": {"version": "1.0.0", "scripts": {}}}})
        if request.url.path == "/small/2.0.0":
            return httpx.Response(200, json={"name": "small", "version": "2.0.0",
                                             "scripts": {"install": "node-gyp rebuild"}})
        return httpx.Response(404)

    async with NpmRegistry(config(tmp_path), offline=False,
                           transport=httpx.MockTransport(handler)) as client:
        assert await client.install_scripts("big", ["1.0.0"]) == {"1.0.0": False}
        assert await client.install_scripts("small", ["2.0.0"]) == {"2.0.0": True}
    assert seen == ["/big", "/small/2.0.0"]


async def test_onnxruntime_node_without_a_script_is_found_by_its_files(tmp_path: Path) -> None:
    """onnxruntime-node 1.17 has no install script and no native helper: its name asks for
    its version document and file list, whose bin/napi-v3/linux/<cpu>/ binaries make it
    prebuilt on both targets (so the smoke check loads it)."""
    files = ["package.json", "dist/index.js", *(
        f"bin/napi-v3/{p}/onnxruntime_binding.node"
        for p in ("linux/x64", "linux/arm64", "darwin/arm64", "win32/x64"))]
    tarball = io.BytesIO()
    with tarfile.open(fileobj=tarball, mode="w:gz") as archive:
        for name in files:
            info = tarfile.TarInfo(f"package/{name}")
            archive.addfile(info, io.BytesIO(b""))

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/onnxruntime-node/1.17.0":
            return httpx.Response(200, json={"name": "onnxruntime-node", "version": "1.17.0",
                                             "scripts": {"build": "tsc"}})
        return httpx.Response(200, content=tarball.getvalue())

    async with NpmRegistry(config(tmp_path), offline=False,
                           transport=httpx.MockTransport(handler)) as client:
        await client.manifest("onnxruntime-node", "1.17.0")
        await client.files("onnxruntime-node", "1.17.0", "https://npm.stub.test/o.tgz")
    report = audit_source(LOCKFILES / "onnxruntime-no-script", offline=True,
                          registry=config(tmp_path))
    (ort,) = report.native()
    assert ort.mechanism is Mechanism.BUNDLED_PREBUILDS
    assert {p: v.reason for p, v in ort.targets.items()} == {
        "linux/amd64": "registry cache tarball: bin/napi-v3/linux/x64/onnxruntime_binding.node",
        "linux/arm64": "registry cache tarball: bin/napi-v3/linux/arm64/onnxruntime_binding.node"}


async def test_concurrent_askers_wait_for_the_first_answer(tmp_path: Path) -> None:
    """Asked in parallel (as the audit does), only the first name goes out as a packument;
    once it comes back whole, every other name is asked by version document."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        name, _, version = request.url.path.strip("/").partition("/")
        if not version:
            return httpx.Response(200, json={"name": name, "time": {}, "versions": {
                "1.0.0": {"version": "1.0.0", "scripts": {}}}})
        return httpx.Response(200, json={"name": name, "version": version, "scripts": {}})

    client = NpmRegistry(config(tmp_path), offline=False, transport=httpx.MockTransport(handler))
    async with client, anyio.create_task_group() as group:
        for name in ("a", "b", "c", "d"):
            group.start_soon(client.install_scripts, name, ["1.0.0"])
    assert sorted(seen) == ["/a", "/b/1.0.0", "/c/1.0.0", "/d/1.0.0"]
