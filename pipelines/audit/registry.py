"""The npm registry: version documents and tarball file lists, cached on disk forever.

A published name@version never changes, so a cache entry never goes stale.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

import anyio
import httpx

from pipelines.audit.registry_config import RegistryConfig
from pipelines.errors import EXIT_USAGE, NodePipelinesError

_MAX_TARBALL = 256 * 1024 * 1024
_RETRIES = 3


# npm's abbreviated packument: versions and dist-tags without readmes, far smaller.
_ABBREVIATED = "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8"
_BUSY = frozenset({429, 500, 502, 503, 504})  # worth another attempt


class _BusyError(Exception):
    """The registry answered, but asked to come back later."""


class RegistryUnavailableError(NodePipelinesError):
    """The npm registry cannot be reached; `--offline` audits from the lockfile alone."""

    exit_code = EXIT_USAGE


class NpmRegistry:
    """Reads version documents and tarball listings; offline, it reads only its cache."""

    def __init__(
        self, config: RegistryConfig, *, offline: bool,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.config = config
        self.offline = offline
        self.fetched = 0  # network requests made: tests read it
        self._transport = transport  # tests substitute a stub; None is the network
        self._client: httpx.AsyncClient | None = None
        self._limit = anyio.Semaphore(config.concurrency) if not offline else None
        # Set once the registry answered an abbreviated request with a whole packument (some
        # mirrors do, 142 MB for 700 names): version documents are far smaller then.
        self._whole_packuments = False
        self._probed: anyio.Event | None = None  # set when the first packument answered

    async def __aenter__(self) -> NpmRegistry:
        return self  # the client is made on the first request: a warm cache needs none

    def _connect(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                verify=self.config.ssl_context(), follow_redirects=True,
                transport=self._transport,
                timeout=httpx.Timeout(self.config.timeout_s),
                limits=httpx.Limits(max_connections=self.config.concurrency),
                headers={"Accept": "application/json"})
        return self._client

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._client is not None:
            await self._client.aclose()

    def cached_manifest(self, name: str, version: str) -> dict[str, Any] | None:
        """The version document from the disk cache, or None."""
        cached = self._read("manifest", name, version)
        return cached if isinstance(cached, dict) else None

    def cached_files(self, name: str, version: str) -> tuple[str, ...] | None:
        """The tarball's file list from the disk cache, or None."""
        cached = self._read("files", name, version)
        return tuple(cached) if isinstance(cached, list) else None

    async def manifest(self, name: str, version: str) -> dict[str, Any] | None:
        """The version document of name@version (None when the registry has no such version)."""
        cached = self.cached_manifest(name, version)
        if cached is not None or self.offline:
            return cached
        base = f"{self.config.url}{quote(name, safe='@/')}"
        document = await self._json(f"{base}/{quote(version)}")
        if document is None:  # some registries serve only whole packuments
            packument = await self._json(base)
            versions = packument.get("versions", {}) if packument else {}
            document = versions.get(version) if isinstance(versions, dict) else None
        if isinstance(document, dict):
            self._write("manifest", name, version, document)
            return document
        return None

    async def published(self, name: str) -> tuple[list[str], dict[str, str]] | None:
        """Every published version of `name` and its dist-tags (None: no such package).

        Asked only after a version document was not found, to name what does exist; never
        cached, since a package gains versions.
        """
        if self.offline:
            return None
        url = f"{self.config.url}{quote(name, safe='@/')}"
        body = await self._get(url, accept=_ABBREVIATED)
        try:
            packument = json.loads(body) if body is not None else None
        except json.JSONDecodeError:
            return None
        if not isinstance(packument, dict) or not isinstance(packument.get("versions"), dict):
            return None
        tags = packument.get("dist-tags")
        return list(packument["versions"]), tags if isinstance(tags, dict) else {}

    def cached_install_script(self, name: str, version: str) -> bool | None:
        """Whether name@version runs an install script, from the disk cache (a cached
        version document answers too); None when unknown."""
        cached = self._read("scripts", name, version)
        if isinstance(cached, bool):
            return cached
        document = self.cached_manifest(name, version)
        return None if document is None else _has_install_script(document)

    async def install_scripts(self, name: str, versions: list[str]) -> dict[str, bool]:
        """Whether each version of `name` runs an install script: the abbreviated packument's
        `hasInstallScript` (what npm installs from), or, from a registry that answers with the
        whole packument, each version's own document (far smaller), cached as such too.
        Versions the registry lacks are left out."""
        found = {v: known for v in versions
                 if (known := self.cached_install_script(name, v)) is not None}
        if self.offline or len(found) == len(versions):
            return found
        # The first request tells what kind of registry this is; the others wait for it.
        if self._probed is None:
            self._probed = anyio.Event()
            try:
                return await self._from_packument(name, versions, found)
            finally:
                self._probed.set()
        await self._probed.wait()
        if not self._whole_packuments:
            return await self._from_packument(name, versions, found)
        for version in versions:
            document = None if version in found else await self.manifest(name, version)
            if document is not None:
                found[version] = _has_install_script(document)
        return found

    async def _from_packument(
        self, name: str, versions: list[str], found: dict[str, bool]
    ) -> dict[str, bool]:
        body = await self._get(f"{self.config.url}{quote(name, safe='@/')}", accept=_ABBREVIATED)
        try:
            packument = json.loads(body) if body is not None else None
        except json.JSONDecodeError:
            packument = None
        listed = packument.get("versions") if isinstance(packument, dict) else None
        if isinstance(packument, dict) and "time" in packument:  # whole: abbreviated has none
            self._whole_packuments = True
        for version in versions:
            document = listed.get(version) if isinstance(listed, dict) else None
            if version in found or not isinstance(document, dict):
                continue
            found[version] = _has_install_script(document)
            self._write("scripts", name, version, found[version])
            if isinstance(document.get("scripts"), dict):  # a whole version document
                self._write("manifest", name, version, document)
        return found

    async def files(self, name: str, version: str, tarball: str) -> tuple[str, ...] | None:
        """The paths inside name@version's tarball, relative to the package root."""
        cached = self.cached_files(name, version)
        if cached is not None or self.offline:
            return cached
        body = await self._get(tarball)
        if body is None:
            return None
        listing = await anyio.to_thread.run_sync(_list_tarball, body)
        self._write("files", name, version, list(listing))
        return listing

    async def _json(self, url: str) -> Any:
        body = await self._get(url)
        if body is None:
            return None
        try:
            return json.loads(body)
        except json.JSONDecodeError:
            raise RegistryUnavailableError(
                f"the npm registry answered {url} with something that is not JSON: "
                "check npm_config_registry") from None

    async def _get(self, url: str, accept: str | None = None) -> bytes | None:
        assert self._limit is not None, "an offline registry never fetches"
        async with self._limit:
            for attempt in range(_RETRIES):
                try:
                    return await self._get_once(url, accept)
                except (httpx.TransportError, _BusyError) as error:
                    if attempt == _RETRIES - 1:
                        raise RegistryUnavailableError(
                            f"cannot reach the npm registry ({error or type(error).__name__} "
                            f"for {url}): check the network and CA bundle, or audit with "
                            "--offline") from None
                    await anyio.sleep(self.config.retry_delay_s * 2**attempt)
        return None

    async def _get_once(self, url: str, accept: str | None = None) -> bytes | None:
        self.fetched += 1
        headers = {"Accept": accept} if accept else None
        async with self._connect().stream("GET", url, headers=headers) as response:
            if response.status_code in (404, 405):
                return None
            if response.status_code in _BUSY:
                raise _BusyError(f"HTTP {response.status_code}")
            if response.status_code >= 400:
                raise RegistryUnavailableError(
                    f"the npm registry answered HTTP {response.status_code} for {url}: check "
                    "npm_config_registry and credentials, or audit with --offline")
            chunks, size = [], 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > _MAX_TARBALL:
                    return None  # no audit needs a file list this badly
                chunks.append(chunk)
        return b"".join(chunks)

    def _key(self, kind: str, name: str, version: str) -> Path:
        digest = hashlib.sha256(f"{self.config.url}\0{name}\0{version}".encode()).hexdigest()
        return self.config.cache_dir / kind / digest[:2] / f"{digest}.json"

    def _read(self, kind: str, name: str, version: str) -> Any:
        try:
            return json.loads(self._key(kind, name, version).read_bytes())
        except (OSError, json.JSONDecodeError):
            return None  # absent or torn: fetch again

    def _write(self, kind: str, name: str, version: str, value: object) -> None:
        path = self._key(kind, name, version)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_suffix(f".{os.getpid()}.tmp")
            temporary.write_text(json.dumps(value), encoding="utf-8")
            temporary.replace(path)
        except OSError:
            pass  # a read-only cache only costs a refetch next time


def _has_install_script(document: Mapping[str, Any]) -> bool:
    """The registry's `hasInstallScript`, else whether the version's scripts hold a
    preinstall, install or postinstall (the registry writes `install: node-gyp rebuild` for a
    binding.gyp published without one)."""
    flag = document.get("hasInstallScript")
    if isinstance(flag, bool):
        return flag
    scripts = document.get("scripts")
    return isinstance(scripts, dict) and any(
        scripts.get(k) for k in ("preinstall", "install", "postinstall"))


def _list_tarball(body: bytes) -> tuple[str, ...]:
    """File paths in a .tgz, without the top directory npm packs them under (`package/`)."""
    names = []
    try:
        with tarfile.open(fileobj=io.BytesIO(body), mode="r:*") as archive:
            for member in archive:
                if member.isfile():
                    names.append(member.name.partition("/")[2] or member.name)
    except (tarfile.TarError, EOFError, OSError):
        return tuple(names)  # a truncated tarball still lists what it had
    return tuple(names)
