"""One image index from images pushed by digest on different engines.

When platforms are built on engines of their own, no engine holds every platform's image, so
none can publish the index. Each pushes its images by digest; this module then PUTs one OCI
index referencing those digests through the registry API, and the publish gate verifies and
tags that index like any other.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from pipelines.platforms import Platform
from pipelines.registry.client import (
    INDEX_TYPES,
    OCI_INDEX,
    RegistryClient,
    RegistryResponseError,
    RetryPolicy,
)
from pipelines.registry.credentials import Credentials
from pipelines.registry.index_checks import manifest_type, platform_entries
from pipelines.registry.reference import ImageReference, parse_reference
from pipelines.registry.variant import ARM64_VARIANT, put_index


def index_platform(platform: Platform) -> dict[str, str]:
    """An index entry's platform; arm64 says `v8` as its base image's index does."""
    variant = platform.variant or (ARM64_VARIANT if platform.arch == "arm64" else "")
    entry = {"architecture": platform.arch, "os": platform.os}
    return {**entry, "variant": variant} if variant else entry


def index_document(descriptors: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The OCI image index listing `descriptors`, in order."""
    return {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": list(descriptors)}


async def assemble_index(
    address: str,
    pushed: Iterable[tuple[Platform, str]],
    credentials: Credentials | None,
    *,
    insecure_registries: Iterable[str] = (),
    retry: RetryPolicy | None = None,
) -> str:
    """PUT one index at `address` (REPO:TAG) listing each platform's image pushed as
    `REPO...@sha256:...`; return `REPO:TAG@sha256:...` of the index."""
    ref = parse_reference(address)
    async with RegistryClient(
        ref.api_host, credentials, insecure_registries=insecure_registries, retry=retry
    ) as client:
        descriptors = [await _descriptor(client, ref, platform, parse_reference(image))
                       for platform, image in pushed]
        return await put_index(client, ref, index_document(descriptors), OCI_INDEX,
                               what="the index")


async def _descriptor(
    client: RegistryClient, ref: ImageReference, platform: Platform, image: ImageReference
) -> dict[str, Any]:
    """The index entry of `platform`'s pushed image: its manifest, or the one entry for the
    platform when the engine pushed an index of one image."""
    if image.digest is None or image.name != ref.name:
        raise RegistryResponseError(f"the {platform} image was pushed as {image}, not as "
                                    f"{ref.name}@sha256:...")
    manifest = await client.get_manifest(ref.repository, image.digest)
    if manifest is None:
        raise RegistryResponseError(
            f"registry {ref.api_host} has no manifest {image.digest} for {platform} in "
            f"{ref.repository}, though it was just pushed"
        )
    media_type = manifest_type(manifest)
    if media_type not in INDEX_TYPES:
        return {"mediaType": media_type, "digest": manifest.digest, "size": len(manifest.body),
                "platform": index_platform(platform)}
    entries, _, _ = platform_entries(manifest.document())
    for found, entry in entries:
        if found == platform:
            return {**entry, "platform": index_platform(platform)}
    listed = ", ".join(str(p) for p, _ in entries)
    raise RegistryResponseError(f"the index pushed for {platform} ({image.digest}) lists "
                                f"{listed or 'no image'}, not {platform}")
