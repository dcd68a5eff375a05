"""The arm64 variant: an index lists `linux/arm64/v8`, as its base image's index does.

Dagger (through containerd's platform normalisation) writes arm64 entries without `variant`;
`with_arm64_variant` is the pure fix of one index document, `add_arm64_variant` applies it to a
staged index in a registry by PUTting the corrected index under the same tag.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from pipelines.registry.client import (
    INDEX_TYPES,
    Manifest,
    RegistryClient,
    RegistryResponseError,
    RetryPolicy,
    sha256_digest,
)
from pipelines.registry.credentials import Credentials
from pipelines.registry.index_checks import manifest_type
from pipelines.registry.reference import ImageReference, parse_reference

ARM64_VARIANT = "v8"


def with_arm64_variant(document: dict[str, Any]) -> dict[str, Any] | None:
    """`document` (an image index) with `variant: v8` on each linux/arm64 entry lacking one;
    None when no entry needs it, so the caller keeps the original bytes."""
    manifests = document.get("manifests")
    if not isinstance(manifests, list):
        return None
    changed = False
    fixed = []
    for entry in manifests:
        platform = entry.get("platform") if isinstance(entry, dict) else None
        if (isinstance(platform, dict) and platform.get("os") == "linux"
                and platform.get("architecture") == "arm64" and not platform.get("variant")):
            fixed.append({**entry, "platform": {**platform, "variant": ARM64_VARIANT}})
            changed = True
        else:
            fixed.append(entry)
    return {**document, "manifests": fixed} if changed else None


def amended(
    document: dict[str, Any], annotations: Mapping[str, str] | None = None
) -> dict[str, Any] | None:
    """`document` with its arm64 variant and the index `annotations` (the image's OCI
    labels); None when it has both already, so the caller keeps the original bytes."""
    fixed = with_arm64_variant(document) or document
    given = document.get("annotations")
    present: dict[str, Any] = given if isinstance(given, dict) else {}
    if annotations and any(present.get(k) != v for k, v in annotations.items()):
        fixed = {**fixed, "annotations": {**present, **annotations}}
    return None if fixed is document else fixed


def encode(document: dict[str, Any]) -> bytes:
    """Compact JSON, keys in their original order: the bytes a corrected index is stored as."""
    return json.dumps(document, separators=(",", ":")).encode()


async def add_arm64_variant(
    ref_with_digest: ImageReference | str,
    credentials: Credentials | None,
    *,
    insecure_registries: Iterable[str] = (),
    retry: RetryPolicy | None = None,
    annotations: Mapping[str, str] | None = None,
) -> str:
    """Give the staged index at `ref_with_digest` its arm64 variant (and `annotations`);
    return `REF@digest` of the index to go on with: the corrected one, PUT under the same tag,
    or the same one when it needs nothing (or cannot be read: verify says why)."""
    ref = parse_reference(ref_with_digest) if isinstance(ref_with_digest, str) else ref_with_digest
    if ref.digest is None:
        return str(ref)
    async with RegistryClient(
        ref.api_host, credentials, insecure_registries=insecure_registries, retry=retry
    ) as client:
        index = await client.get_manifest(ref.repository, ref.digest)
        if index is None or index.digest != ref.digest:
            return str(ref)
        media_type = manifest_type(index)
        try:
            fixed = amended(index.document(), annotations) if media_type in INDEX_TYPES else None
        except ValueError:
            fixed = None
        if fixed is None:
            return str(ref)
        return await put_index(client, ref, fixed, media_type, what="the corrected index")


async def put_index(
    client: RegistryClient, ref: ImageReference, document: dict[str, Any], media_type: str,
    *, what: str,
) -> str:
    """PUT `document` under `ref`'s tag (else its own digest) as exactly its compact bytes,
    check the registry stored that digest, and return `REF@sha256:...`."""
    body = encode(document)
    index = Manifest(sha256_digest(body), media_type, body)
    stored = await client.put_manifest(ref.repository, ref.tag or index.digest, index)
    if stored != index.digest:
        raise RegistryResponseError(
            f"registry {ref.api_host} stored {what} of {ref.name} as {stored}, "
            f"wanted {index.digest}"
        )
    return str(ref.with_digest(index.digest))
