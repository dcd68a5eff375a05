"""Verify a multi-platform image in a registry: the index and every platform's image in it.

Every expected platform must appear exactly once in the index (OCI image index or Docker
manifest list) with its own digest; each child manifest must be fetchable, its config must name
the same os/architecture/variant, and each layer blob must exist with a non-zero size.
Attestation entries (unknown/unknown, annotated attestation-manifest) are ignored.
Exit 0 verified, 1 not verified, 2 cannot check.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from pipelines.errors import InputError
from pipelines.platforms import Platform
from pipelines.registry.attestations import with_attestations
from pipelines.registry.client import (
    IMAGE_MANIFEST_TYPES,
    INDEX_TYPES,
    CannotCheck,
    Manifest,
    RegistryClient,
    RetryPolicy,
)
from pipelines.registry.credentials import Credentials
from pipelines.registry.index_checks import (
    checker,
    digest_of,
    gather,
    manifest_type,
    platform_entries,
    shared_digests,
)
from pipelines.registry.reference import ImageReference, parse_reference
from pipelines.registry.referrers import ArtifactClient
from pipelines.registry.signatures import signature_problem
from pipelines.registry.verify_report import NotVerified, PlatformRow, VerifyReport

__all__ = ["CannotCheck", "NotVerified", "PlatformRow", "VerifyReport", "verify_index"]


async def verify_index(
    ref: ImageReference | str,
    platforms: Iterable[Platform | str],
    credentials: Credentials | None,
    *,
    insecure_registries: Iterable[str] = (),
    retry: RetryPolicy | None = None,
    require: Sequence[str] = (),
    key: ec.EllipticCurvePublicKey | None = None,
) -> VerifyReport:
    """Check the index at `ref` against `platforms`, that each platform's image has the
    attestations `require` names (sbom, provenance), and with `key`, that the index and those
    attestations carry cosign signatures made with it; raise CannotCheck if the registry
    can't say."""
    ref = parse_reference(ref) if isinstance(ref, str) else ref
    expected = tuple(dict.fromkeys(
        p if isinstance(p, Platform) else Platform.parse(p) for p in platforms
    ))
    if not expected:
        raise InputError(
            "no platform to verify: name at least one, e.g. --platform linux/amd64"
        )
    base = VerifyReport(str(ref), None, "", expected=tuple(str(p) for p in expected))
    async with ArtifactClient(
        ref.api_host, credentials, insecure_registries=insecure_registries, retry=retry
    ) as client:
        index = await client.get_manifest(ref.repository, ref.reference)
        if index is None:
            return _failed(base, f"the registry has no manifest for {ref} (HTTP 404)")
        media_type = manifest_type(index)
        base = VerifyReport(str(ref), index.digest, media_type, expected=base.expected)
        problem = _index_problem(ref, index, media_type, expected)
        if problem:
            return _failed(base, problem)
        report = await _check_entries(client, ref.repository, base, index, expected)
        if key is not None:
            signed = await signature_problem(client, ref.repository, index.digest, key,
                                             f"the index {index.digest}")
            report = replace(report, problems=(*report.problems, *filter(None, [signed])))
        if not require:
            return report
        return await with_attestations(client, ref.repository, index.document(), report,
                                       require, key=key)


async def _check_entries(
    client: RegistryClient,
    repository: str,
    base: VerifyReport,
    index: Manifest,
    expected: Sequence[Platform],
) -> VerifyReport:
    entries, attestations, problems = platform_entries(index.document())
    found = Counter(platform for platform, _ in entries)
    problems += shared_digests(entries)
    rows: dict[Platform, PlatformRow] = {}
    to_check: list[tuple[Platform, dict[str, Any]]] = []
    for platform in expected:
        count = found[platform]
        if count == 0:
            rows[platform] = PlatformRow(str(platform), "missing",
                                         problems=(f"{platform} is missing from the index",))
        elif count > 1:
            rows[platform] = PlatformRow(
                str(platform), "duplicated",
                problems=(f"{platform} appears {count} times in the index, wanted once",))
        else:
            to_check.append(next((p, d) for p, d in entries if p == platform))
    checked = await gather([checker(client, repository, p, d) for p, d in to_check])
    rows.update((row_platform, row) for (row_platform, _), row in zip(to_check, checked,
                                                                         strict=True))
    extras = [PlatformRow(str(p), "extra", digest_of(d)) for p, d in entries if p not in expected]
    return VerifyReport(
        base.reference, base.digest, base.media_type,
        rows=(*(rows[p] for p in expected), *extras),
        problems=tuple(problems), attestations_ignored=attestations, expected=base.expected,
    )


def _index_problem(
    ref: ImageReference, index: Manifest, media_type: str, expected: Sequence[Platform]
) -> str:
    wanted = ", ".join(str(p) for p in expected)
    if ref.digest and index.digest != ref.digest:
        return f"the registry returned content with digest {index.digest} for {ref.digest}"
    if media_type in IMAGE_MANIFEST_TYPES:
        return (f"{ref} is a single-platform image manifest, not an index: "
                f"wanted an index with {wanted}")
    if media_type not in INDEX_TYPES:
        return f"{ref} has media type {media_type or 'none'}, which is not an image index"
    try:
        manifests = index.document().get("manifests")
    except ValueError:
        manifests = None
    if not isinstance(manifests, list):
        return f"the index at {ref} has no list of manifests"
    return ""


def _failed(base: VerifyReport, problem: str) -> VerifyReport:
    return VerifyReport(base.reference, base.digest, base.media_type, problems=(problem,),
                        expected=base.expected)
