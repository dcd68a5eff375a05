"""OCI 1.1 referrers: artifacts (an SBOM, a provenance statement) attached to an image
manifest by their `subject`, and found again from the manifest's digest.

An artifact is an image manifest with an `artifactType`, the empty config and one layer, the
document. Registries with the referrers API index it themselves (the PUT answers `OCI-Subject`);
for the others the client keeps the list, as the distribution spec's fallback says: an image
index tagged `sha256-<hex of the subject>`, holding a descriptor of each referrer. Both are read
by `referrers`: the API, and on a 404 from it, the fallback tag.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from pipelines.platforms import Platform
from pipelines.registry.client import (
    OCI_INDEX,
    OCI_MANIFEST,
    Manifest,
    RegistryClient,
    RegistryResponseError,
    RetryPolicy,
    sha256_digest,
)
from pipelines.registry.credentials import Credentials
from pipelines.registry.index_checks import digest_of, platform_entries
from pipelines.registry.reference import parse_reference

EMPTY_TYPE = "application/vnd.oci.empty.v1+json"
EMPTY = b"{}"


def fallback_tag(digest: str) -> str:
    """The tag the referrers of `digest` are listed under where there is no referrers API."""
    algorithm, _, hex_ = digest.partition(":")
    return f"{algorithm}-{hex_}"[:128]


@dataclass(frozen=True)
class Artifact:
    """A document to attach: its artifact type (also its layer's media type), its bytes and
    the annotations of its manifest."""

    artifact_type: str
    data: bytes
    annotations: tuple[tuple[str, str], ...] = ()


class ArtifactClient(RegistryClient):
    """The registry client, with blob uploads and the referrers API."""

    async def put_blob(self, repository: str, data: bytes) -> str:
        """Upload `data` unless the registry has it; return its digest."""
        digest = sha256_digest(data)
        if await self.blob_size(repository, digest) == len(data):
            return digest
        started = await self._call("POST", repository, "blobs/uploads/", push=True)
        location = started.headers.get("location", "")
        if started.status_code != 202 or not location:
            raise RegistryResponseError(f"registry {self.host} did not start an upload to "
                                        f"{repository} (HTTP {started.status_code})")
        # The upload URL keeps its own query (a state token); the digest is added to it.
        url = httpx.URL(self.base_url).join(location).copy_merge_params({"digest": digest})
        done = await self._call("PUT", repository, "", push=True, url=str(url), content=data,
                                headers={"Content-Type": "application/octet-stream"})
        if done.status_code != 201:
            raise RegistryResponseError(f"registry {self.host} refused the blob {digest} in "
                                        f"{repository} (HTTP {done.status_code})")
        return digest

    async def put_referrer(self, repository: str, manifest: Manifest) -> bool:
        """PUT an artifact manifest by digest; True when the registry indexed its subject
        itself (it answered `OCI-Subject`), so no fallback tag is needed."""
        response = await self._call("PUT", repository, f"manifests/{manifest.digest}",
                                    push=True, headers={"Content-Type": manifest.media_type},
                                    content=manifest.body)
        if response.status_code == 404:
            raise RegistryResponseError(f"registry {self.host} refused an artifact manifest "
                                        f"in {repository}")
        return bool(response.headers.get("oci-subject"))

    async def referrers_api(self, repository: str, digest: str) -> list[dict[str, Any]] | None:
        """The referrers API's list for `digest`; None where the registry has no such API."""
        response = await self._call("GET", repository, f"referrers/{digest}", push=False,
                                    headers={"Accept": OCI_INDEX})
        if response.status_code == 404 or "json" not in response.headers.get(
                "content-type", ""):
            return None
        return _manifests(response.content)


async def attach(
    client: ArtifactClient, repository: str, subject: dict[str, Any], artifact: Artifact
) -> str:
    """Attach `artifact` to the manifest `subject` (its descriptor); return the artifact
    manifest's digest."""
    await client.put_blob(repository, EMPTY)
    layer = await client.put_blob(repository, artifact.data)
    document: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact.artifact_type,
        "config": {"mediaType": EMPTY_TYPE, "digest": sha256_digest(EMPTY), "size": len(EMPTY)},
        "layers": [{"mediaType": artifact.artifact_type, "digest": layer,
                    "size": len(artifact.data)}],
        "subject": {k: subject[k] for k in ("mediaType", "digest", "size") if k in subject},
    }
    if artifact.annotations:
        document["annotations"] = dict(artifact.annotations)
    body = json.dumps(document, separators=(",", ":")).encode()
    manifest = Manifest(sha256_digest(body), OCI_MANIFEST, body)
    if not await client.put_referrer(repository, manifest):
        await _list_in_fallback(client, repository, subject["digest"], {
            "mediaType": OCI_MANIFEST, "digest": manifest.digest, "size": len(body),
            "artifactType": artifact.artifact_type, **(
                {"annotations": dict(artifact.annotations)} if artifact.annotations else {}),
        })
    return manifest.digest


async def attach_to_index(
    ref_with_digest: str,
    make: Callable[[Platform, str], Awaitable[Sequence[Artifact]]],
    credentials: Credentials | None,
    *,
    insecure_registries: Iterable[str] = (),
    retry: RetryPolicy | None = None,
) -> list[str]:
    """Attach to each platform's manifest in the index at `ref_with_digest` the artifacts
    `make(platform, manifest digest)` returns; return the artifact manifests' digests."""
    ref = parse_reference(ref_with_digest)
    async with ArtifactClient(
        ref.api_host, credentials, insecure_registries=insecure_registries, retry=retry
    ) as client:
        index = await client.get_manifest(ref.repository, ref.digest or ref.reference)
        if index is None:
            raise RegistryResponseError(f"registry {ref.api_host} has no index {ref} to attach "
                                        "attestations to")
        entries, _, _ = platform_entries(index.document())
        attached = []
        for platform, descriptor in entries:
            for artifact in await make(platform, digest_of(descriptor)):
                attached.append(await attach(client, ref.repository, descriptor, artifact))
        return attached


async def referrers(
    client: ArtifactClient, repository: str, digest: str
) -> list[dict[str, Any]]:
    """The descriptors of every artifact whose subject is `digest`: the referrers API where
    the registry has it, else the fallback tag's index (none when it has neither)."""
    listed = await client.referrers_api(repository, digest)
    if listed is not None:
        return listed
    index = await client.get_manifest(repository, fallback_tag(digest))
    return _manifests(index.body) if index is not None else []


async def _list_in_fallback(
    client: ArtifactClient, repository: str, subject: str, descriptor: dict[str, Any]
) -> None:
    """Add `descriptor` to the fallback index of `subject` (read, add, write back)."""
    tag = fallback_tag(subject)
    current = await client.get_manifest(repository, tag)
    listed = [d for d in (_manifests(current.body) if current else [])
              if d.get("digest") != descriptor["digest"]]
    document = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [*listed, descriptor]}
    body = json.dumps(document, separators=(",", ":")).encode()
    await client.put_manifest(repository, tag, Manifest(sha256_digest(body), OCI_INDEX, body))


def _manifests(body: bytes) -> list[dict[str, Any]]:
    try:
        document = json.loads(body)
    except ValueError:
        return []
    found = document.get("manifests") if isinstance(document, dict) else None
    return [d for d in found if isinstance(d, dict)] if isinstance(found, list) else []
