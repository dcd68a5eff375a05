"""A small client for the OCI distribution API: manifests and blobs, basic or bearer auth, retries.

Loopback registries are spoken to over plain HTTP, as Docker does; every other registry over
HTTPS unless it is named in `insecure_registries`. Transient failures (5xx, connection errors,
timeouts) are retried with exponential backoff; 4xx answers and refused credentials are not.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import anyio
import certifi
import httpx
import structlog

from pipelines.errors import EXIT_USAGE, NodePipelinesError
from pipelines.registry.credentials import Credentials
from pipelines.registry.reference import is_loopback

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
IMAGE_MANIFEST_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
ACCEPT_ALL = ", ".join([OCI_INDEX, DOCKER_MANIFEST_LIST, OCI_MANIFEST, DOCKER_MANIFEST])
_ACCEPT = {"Accept": ACCEPT_ALL}

log = structlog.get_logger("pipelines.registry.client")


class CannotCheck(NodePipelinesError):  # noqa: N818 - the name the publish gate uses
    """The registry could not be asked: unreachable, credentials refused, or answering errors."""

    exit_code = EXIT_USAGE


class RegistryUnreachableError(CannotCheck):
    """No HTTP answer from the registry after the retries (refused, reset, timed out)."""


class AuthRefusedError(CannotCheck):
    """The registry (or its token service) refused the credentials, or wanted some and got none."""


class RegistryResponseError(CannotCheck):
    """The registry answered with a status this client cannot act on."""


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently transient failures are retried."""

    # The push's patience (pipelines/registry/push.py: 2, 4 and 8 s): a registry that rides out a
    # restart during the push must not fail the variant fix, verification or the tag move.
    attempts: int = 4
    base_delay_s: float = 2.0
    max_delay_s: float = 8.0
    timeout_s: float = 30.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        return float(min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1)))


@dataclass(frozen=True)
class Manifest:
    """A manifest as stored: exact bytes, their media type and their digest."""

    digest: str
    media_type: str
    body: bytes

    def document(self) -> dict[str, Any]:
        """The manifest parsed as a JSON object."""
        parsed = json.loads(self.body)
        if not isinstance(parsed, dict):
            # ValueError like json's own errors, so callers handle one kind of bad document.
            raise ValueError("manifest is not a JSON object")  # noqa: TRY004
        return parsed


def sha256_digest(data: bytes) -> str:
    """The OCI digest of `data`."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """Split a WWW-Authenticate header into its scheme and its key=value parameters."""
    scheme, _, rest = header.strip().partition(" ")
    params = {
        key.lower(): quoted if quoted or not bare else bare
        for key, quoted, bare in re.findall(r'(\w+)=(?:"([^"]*)"|([^,\s]*))', rest)
    }
    return scheme.lower(), params


class RegistryClient:
    """One registry host; use as `async with RegistryClient(host, credentials) as client`."""

    def __init__(
        self,
        host: str,
        credentials: Credentials | None,
        *,
        insecure_registries: Iterable[str] = (),
        retry: RetryPolicy | None = None,
    ) -> None:
        self.host = host
        plain = is_loopback(host) or host in set(insecure_registries)
        self.base_url = f"{'http' if plain else 'https'}://{host}"
        self._credentials = credentials
        self._retry = retry or RetryPolicy()
        # Proxy variables are for the outside world; a loopback registry is spoken to directly.
        self._http = httpx.AsyncClient(
            timeout=self._retry.timeout_s,
            follow_redirects=True,
            verify=_tls_context(),
            trust_env=not is_loopback(host),
        )
        self._basic = False
        self._tokens: dict[str, str] = {}

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._http.aclose()

    async def get_manifest(self, repository: str, reference: str) -> Manifest | None:
        """Fetch a manifest by tag or digest; None when the registry has none there."""
        response = await self._call(
            "GET", repository, f"manifests/{reference}", push=False, headers=_ACCEPT
        )
        if response.status_code == 404:
            return None
        body = response.content
        media_type = response.headers.get("content-type", "").split(";")[0].strip()
        return Manifest(digest=sha256_digest(body), media_type=media_type, body=body)

    async def manifest_digest(self, repository: str, reference: str) -> str | None:
        """The digest a tag (or digest) currently resolves to; None when absent."""
        response = await self._call(
            "HEAD", repository, f"manifests/{reference}", push=False, headers=_ACCEPT
        )
        if response.status_code == 404:
            return None
        digest: str = response.headers.get("docker-content-digest", "")
        if digest:
            return digest
        manifest = await self.get_manifest(repository, reference)  # header is optional in OCI
        return manifest.digest if manifest else None

    async def put_manifest(self, repository: str, reference: str, manifest: Manifest) -> str:
        """Store `manifest`'s exact bytes under `reference`; return the registry's digest."""
        response = await self._call(
            "PUT",
            repository,
            f"manifests/{reference}",
            push=True,
            headers={"Content-Type": manifest.media_type},
            content=manifest.body,
        )
        if response.status_code == 404:  # a PUT has nothing to miss: the repository was refused
            raise RegistryResponseError(
                f"registry {self.host} refused the manifest for {repository}:{reference}"
                f"{error_code(response)}"
            )
        return response.headers.get("docker-content-digest") or manifest.digest

    async def blob_size(self, repository: str, digest: str) -> int | None:
        """The size of a blob as the registry reports it; None when the blob is missing."""
        response = await self._call("HEAD", repository, f"blobs/{digest}", push=False)
        if response.status_code == 404:
            return None
        return int(response.headers.get("content-length") or 0)

    async def get_blob(self, repository: str, digest: str) -> bytes | None:
        """Fetch a (small) blob such as an image config; None when it is missing."""
        response = await self._call("GET", repository, f"blobs/{digest}", push=False)
        return None if response.status_code == 404 else response.content

    async def _call(
        self,
        method: str,
        repository: str,
        path: str,
        *,
        push: bool,
        headers: dict[str, str] | None = None,
        content: bytes | None = None,
        url: str | None = None,
        keep: tuple[int, ...] = (),
    ) -> httpx.Response:
        """Send a request, answering at most one auth challenge; 2xx, 404 and the statuses in
        `keep` are returned. `url` replaces the one made of `repository` and `path` (an
        upload's location)."""
        scope = f"repository:{repository}:{'pull,push' if push else 'pull'}"
        url = url or f"{self.base_url}/v2/{repository}/{path}"
        extra = headers or {}
        response = await self._send(method, url, {**extra, **self._auth_headers(scope)}, content)
        if response.status_code == 401:
            await self._answer_challenge(response, scope, repository)
            response = await self._send(method, url, {**extra, **self._auth_headers(scope)},
                                        content)
        if response.status_code in (401, 403):
            raise AuthRefusedError(
                f"registry {self.host} refused {self._who()} access to {repository} "
                f"(HTTP {response.status_code})"
            )
        if response.is_success or response.status_code in (404, *keep):
            return response
        raise RegistryResponseError(
            f"registry {self.host} answered HTTP {response.status_code} to {method} "
            f"/v2/{repository}/{path}{error_code(response)}"
        )

    def _auth_headers(self, scope: str) -> dict[str, str]:
        token = self._tokens.get(scope)
        if token is not None:
            return {"Authorization": f"Bearer {token}"}
        if self._basic and self._credentials is not None:
            return {"Authorization": _basic(self._credentials)}
        return {}

    async def _answer_challenge(self, response: httpx.Response, scope: str, repo: str) -> None:
        scheme, params = parse_challenge(response.headers.get("www-authenticate", ""))
        if scheme == "basic":
            if self._credentials is None:
                raise AuthRefusedError(self._no_credentials(repo))
            self._basic = True
        elif scheme == "bearer" and params.get("realm"):
            self._tokens[scope] = await self._fetch_token(params, scope, repo)
        else:
            raise AuthRefusedError(
                f"registry {self.host} asked for credentials with an unsupported challenge "
                f"({scheme or 'none'}) for {repo}"
            )

    async def _fetch_token(self, params: dict[str, str], scope: str, repo: str) -> str:
        query = {"scope": params.get("scope") or scope}
        if params.get("service"):
            query["service"] = params["service"]
        headers = {"Authorization": _basic(self._credentials)} if self._credentials else {}
        realm = httpx.URL(params["realm"]).copy_merge_params(query)
        response = await self._send("GET", str(realm), headers)
        if response.status_code in (401, 403):
            raise AuthRefusedError(
                f"the token service of registry {self.host} refused {self._who()} "
                f"access to {repo} (HTTP {response.status_code})"
            )
        try:
            answer = response.json()
            token = answer.get("token") or answer.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not response.is_success or not isinstance(token, str) or not token:
            raise RegistryResponseError(
                f"the token service of registry {self.host} gave no token "
                f"(HTTP {response.status_code})"
            )
        return token

    async def _send(
        self, method: str, url: str, headers: dict[str, str], content: bytes | None = None
    ) -> httpx.Response:
        """Send once per attempt; retry 5xx and transport errors with backoff, nothing else."""
        attempts = self._retry.attempts
        for attempt in range(1, attempts + 1):
            try:
                response = await self._http.request(method, url, headers=headers, content=content)
            except httpx.TransportError as error:
                if attempt == attempts:
                    raise RegistryUnreachableError(
                        f"cannot reach registry {self.host}: {_describe(error)} "
                        f"(after {attempts} attempts)"
                    ) from None
                failure = type(error).__name__
            else:
                if response.status_code < 500 or attempt == attempts:
                    return response
                failure = f"HTTP {response.status_code}"
            delay = self._retry.delay(attempt)
            log.warning("registry_request_retried", host=self.host, method=method,
                        failure=failure, attempt=attempt, delay_s=delay)
            await anyio.sleep(delay)
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    def _who(self) -> str:
        return f"user {self._credentials.username!r}" if self._credentials else "anonymous"

    def _no_credentials(self, repo: str) -> str:
        return (
            f"registry {self.host} wants credentials for {repo} and none were found: set "
            "NODEPIPE_REGISTRY_USERNAME and NODEPIPE_REGISTRY_PASSWORD, or log in with docker"
        )


def _tls_context() -> ssl.SSLContext:
    # The system store holds private and proxy CAs (Docker trusts it too); certifi covers
    # systems whose Python has no usable default store.
    context = ssl.create_default_context()
    context.load_verify_locations(certifi.where())
    return context


def _basic(credentials: Credentials | None) -> str:
    assert credentials is not None
    pair = f"{credentials.username}:{credentials.password.get_secret_value()}"
    return "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")


def _describe(error: httpx.TransportError) -> str:
    detail = str(error).strip()
    return f"{type(error).__name__}: {detail}" if detail else type(error).__name__


def error_code(response: httpx.Response) -> str:
    # Registries explain a refusal in {"errors": [{"code": ...}]}; the code is enough.
    try:
        errors = response.json().get("errors") or []
        return f" ({errors[0]['code']})" if errors else ""
    except (ValueError, AttributeError, KeyError, IndexError, TypeError):
        return ""
