"""The checks behind `verify_index`, one index entry at a time: child manifest, config, layers."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any, TypeVar

import anyio

from pipelines.platforms import Platform, PlatformError
from pipelines.registry.client import (
    IMAGE_MANIFEST_TYPES,
    INDEX_TYPES,
    CannotCheck,
    Manifest,
    RegistryClient,
    sha256_digest,
)
from pipelines.registry.verify_report import PlatformRow

T = TypeVar("T")
ATTESTATION_ANNOTATION = "vnd.docker.reference.type"
_CONCURRENCY = 8
_MAX_CONFIG = 4 * 1024 * 1024  # image configs are kilobytes; refuse to download a huge blob


def checker(
    client: RegistryClient, repository: str, platform: Platform, descriptor: dict[str, Any]
) -> Callable[[], Awaitable[PlatformRow]]:
    async def check() -> PlatformRow:
        return await check_platform(client, repository, platform, descriptor)

    return check


async def check_platform(
    client: RegistryClient, repository: str, platform: Platform, descriptor: dict[str, Any]
) -> PlatformRow:
    """Fetch one child manifest, its config and its layer sizes; return its row."""
    digest = digest_of(descriptor)
    manifest = await client.get_manifest(repository, digest)
    problem = child_problem(platform, digest, manifest)
    if problem or manifest is None:
        return PlatformRow(str(platform), "failed", digest, problems=(problem,))
    document = manifest.document()
    config = document.get("config") or {}
    layers = [layer for layer in document.get("layers") or [] if isinstance(layer, dict)]
    size = sum(int(d.get("size") or 0) for d in [config, *layers])
    problems = [await config_problem(client, repository, platform, config)]
    if not layers:
        problems.append(f"the manifest of {platform} lists no layers")
    sizes = await gather(
        [partial(client.blob_size, repository, digest_of(layer)) for layer in layers]
    )
    for layer, actual in zip(layers, sizes, strict=True):
        problems.append(layer_problem(platform, layer, actual))
    kept = tuple(p for p in problems if p)
    return PlatformRow(str(platform), "failed" if kept else "ok", digest, len(layers), size, kept)


async def config_problem(
    client: RegistryClient, repository: str, platform: Platform, config: dict[str, Any]
) -> str:
    """Fetch the config blob and say what is wrong with it, or ''."""
    digest = digest_of(config)
    if not digest:
        return f"the manifest of {platform} has no config"
    if int(config.get("size") or 0) > _MAX_CONFIG:
        return f"the config {digest} of {platform} is larger than {_MAX_CONFIG} bytes"
    blob = await client.get_blob(repository, digest)
    if blob is None:
        return f"the config {digest} of {platform} is missing from the registry"
    if sha256_digest(blob) != digest:
        return f"the registry returned content with digest {sha256_digest(blob)} for {digest}"
    return config_platform_problem(platform, digest, blob)


def config_platform_problem(platform: Platform, digest: str, blob: bytes) -> str:
    """Compare the config's os/architecture/variant with the index entry's platform."""
    try:
        document = json.loads(blob)
        said = normalised(document.get("os"), document.get("architecture"),
                          document.get("variant"))
    except (ValueError, AttributeError):
        return f"the config {digest} of {platform} is not a JSON image config"
    if said != platform:
        return f"the config of {platform} says {said}: the index entry and the image disagree"
    return ""


def layer_problem(platform: Platform, layer: dict[str, Any], actual: int | None) -> str:
    digest = digest_of(layer)
    if actual is None:
        return f"layer {digest} of {platform} is missing from the registry"
    if actual == 0:
        return f"layer {digest} of {platform} is empty (size 0)"
    declared = int(layer.get("size") or 0)
    if declared != actual:
        return f"layer {digest} of {platform} is {actual} bytes in the registry, wanted {declared}"
    return ""


def child_problem(platform: Platform, digest: str, manifest: Manifest | None) -> str:
    if manifest is None:
        return f"the manifest {digest} of {platform} is missing from the registry (HTTP 404)"
    if manifest.digest != digest:
        return f"the registry returned content with digest {manifest.digest} for {digest}"
    media_type = manifest_type(manifest)
    if media_type not in IMAGE_MANIFEST_TYPES:
        return f"the manifest {digest} of {platform} is {media_type or 'untyped'}, not an image"
    return ""


def platform_entries(
    document: dict[str, Any],
) -> tuple[list[tuple[Platform, dict[str, Any]]], int, list[str]]:
    """Split index entries into (platform, descriptor) pairs and count attestations."""
    entries: list[tuple[Platform, dict[str, Any]]] = []
    attestations, problems = 0, []
    for position, entry in enumerate(document.get("manifests") or [], start=1):
        platform = entry.get("platform") if isinstance(entry, dict) else None
        if not isinstance(platform, dict):
            problems.append(f"index entry {position} has no platform")
            continue
        if is_attestation(entry, platform):
            attestations += 1
            continue
        if not digest_of(entry):
            problems.append(f"index entry {position} has no digest")
            continue
        parsed = normalised(platform.get("os"), platform.get("architecture"),
                             platform.get("variant"))
        entries.append((parsed, entry))
    return entries, attestations, problems


def is_attestation(entry: dict[str, Any], platform: dict[str, Any]) -> bool:
    annotations = entry.get("annotations") or {}
    return (
        platform.get("os") == "unknown"
        and platform.get("architecture") == "unknown"
        and annotations.get(ATTESTATION_ANNOTATION) == "attestation-manifest"
    )


def shared_digests(entries: Sequence[tuple[Platform, dict[str, Any]]]) -> list[str]:
    """One sentence per digest that two different platforms point at."""
    owners: dict[str, list[str]] = {}
    for platform, descriptor in entries:
        names = owners.setdefault(digest_of(descriptor), [])
        if str(platform) not in names:  # one platform listed twice is reported as a duplicate
            names.append(str(platform))
    return [
        f"{' and '.join(names)} share the manifest {digest}: each platform needs its own"
        for digest, names in owners.items()
        if len(names) > 1
    ]


def normalised(os_: object, arch: object, variant: object) -> Platform:
    """Normalise like Platform.parse, but accept any os/arch an index or config may hold."""
    os_text, arch_text, variant_text = (str(part) if part else "" for part in (os_, arch, variant))
    try:
        return Platform.parse("/".join(p for p in (os_text, arch_text, variant_text) if p))
    except PlatformError:
        return Platform(os_text or "?", arch_text or "?", variant_text)


def digest_of(descriptor: dict[str, Any]) -> str:
    digest = descriptor.get("digest")
    return digest if isinstance(digest, str) else ""


def manifest_type(manifest: Manifest) -> str:
    """The media type: the Content-Type when it is a manifest type, else the declared one."""
    if manifest.media_type in INDEX_TYPES | IMAGE_MANIFEST_TYPES:
        return manifest.media_type
    return declared_type(manifest) or manifest.media_type


def declared_type(manifest: Manifest) -> str:
    try:
        declared = manifest.document().get("mediaType")
    except ValueError:
        return ""
    return declared if isinstance(declared, str) else ""


async def gather(calls: Sequence[Callable[[], Awaitable[T]]]) -> list[T]:
    """Run `calls` concurrently (bounded); a CannotCheck in any of them is raised as itself."""
    limiter = anyio.CapacityLimiter(_CONCURRENCY)
    results: dict[int, T] = {}

    async def run(position: int, call: Callable[[], Awaitable[T]]) -> None:
        async with limiter:
            results[position] = await call()

    try:
        async with anyio.create_task_group() as group:
            for position, call in enumerate(calls):
                group.start_soon(run, position, call)
    except* CannotCheck as failures:
        raise failures.exceptions[0] from None
    return [results[position] for position in range(len(calls))]
