"""The registry client against a stub transport (a test double, not the npm registry)."""

from __future__ import annotations

import dataclasses
import io
import json
import tarfile
from pathlib import Path

import httpx
import pytest

from pipelines.audit import RegistryConfig, RegistryUnavailableError
from pipelines.audit.registry import NpmRegistry


def _config(tmp_path: Path) -> RegistryConfig:
    return RegistryConfig(url="https://npm.stub.test/", cache_dir=tmp_path / "cache",
                          retry_delay_s=0.0)


def _tarball(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


async def test_busy_answers_are_retried(tmp_path: Path) -> None:
    """Two 503s then a 200: the document arrives after three requests."""
    answers = iter([503, 503, 200])

    def handler(request: httpx.Request) -> httpx.Response:
        status = next(answers)
        return httpx.Response(status, json={"version": "1.0.0"} if status == 200 else None)

    async with NpmRegistry(_config(tmp_path), offline=False,
                           transport=httpx.MockTransport(handler)) as client:
        assert await client.manifest("x", "1.0.0") == {"version": "1.0.0"}
        assert client.fetched == 3


async def test_persistent_errors_become_one_sentence(tmp_path: Path) -> None:
    """A registry that keeps failing raises RegistryUnavailableError suggesting --offline."""
    transport = httpx.MockTransport(lambda request: httpx.Response(502))
    async with NpmRegistry(_config(tmp_path), offline=False, transport=transport) as client:
        with pytest.raises(RegistryUnavailableError, match=r"HTTP 502.*--offline"):
            await client.manifest("x", "1.0.0")


async def test_forbidden_is_not_retried(tmp_path: Path) -> None:
    """401/403 (a private registry without credentials) fails at once with the status."""
    transport = httpx.MockTransport(lambda request: httpx.Response(403))
    async with NpmRegistry(_config(tmp_path), offline=False, transport=transport) as client:
        with pytest.raises(RegistryUnavailableError, match="HTTP 403"):
            await client.manifest("x", "1.0.0")
        assert client.fetched == 1


async def test_version_document_falls_back_to_the_packument(tmp_path: Path) -> None:
    """A registry without per-version documents is asked for the whole packument."""
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/@scope/pkg":
            return httpx.Response(200, json={"versions": {"2.0.0": {"version": "2.0.0"}}})
        return httpx.Response(404)

    async with NpmRegistry(_config(tmp_path), offline=False,
                           transport=httpx.MockTransport(handler)) as client:
        assert await client.manifest("@scope/pkg", "2.0.0") == {"version": "2.0.0"}


async def test_tarball_listing_is_cached_relative_to_the_package(tmp_path: Path) -> None:
    """The listing drops `package/`, and a second ask is answered from disk."""
    body = _tarball({"binding.gyp": b"{}", "prebuilds/linux-x64/a.node": b"\x7fELF"})
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=body))
    config = _config(tmp_path)
    async with NpmRegistry(config, offline=False, transport=transport) as client:
        first = await client.files("a", "1.0.0", "https://npm.stub.test/a/-/a-1.0.0.tgz")
        again = await client.files("a", "1.0.0", "https://npm.stub.test/a/-/a-1.0.0.tgz")
        assert client.fetched == 1
    assert first == again == ("binding.gyp", "prebuilds/linux-x64/a.node")
    offline = NpmRegistry(dataclasses.replace(config), offline=True)
    assert offline.cached_files("a", "1.0.0") == first
    assert json.loads(next((config.cache_dir / "files").rglob("*.json")).read_text()) == list(
        first)
