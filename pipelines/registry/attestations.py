"""Checks of what is attached to each platform's image: an SBOM and a provenance statement,
found through the referrers of its manifest, each naming that manifest as its subject."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from pipelines.errors import InputError
from pipelines.platforms import Platform
from pipelines.registry.client import sha256_digest
from pipelines.registry.index_checks import digest_of, gather, platform_entries
from pipelines.registry.referrers import ArtifactClient, referrers
from pipelines.registry.signatures import signature_problem
from pipelines.registry.verify_report import PlatformRow, VerifyReport

SBOM_TYPE = "application/vnd.cyclonedx+json"
PROVENANCE_TYPE = "application/vnd.in-toto+json"
KINDS = {"sbom": SBOM_TYPE, "provenance": PROVENANCE_TYPE}
_MAX_DOCUMENT = 64 * 1024 * 1024  # an SBOM of tens of thousands of packages is megabytes


def required_kinds(values: Sequence[str]) -> tuple[str, ...]:
    """`--require` values (comma-separated, repeatable) as kinds; one sentence for others."""
    kinds = tuple(dict.fromkeys(v.strip() for value in values for v in value.split(",")
                                if v.strip()))
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise InputError(f"--require {', '.join(unknown)} is not something verify can check: "
                         f"name {' and/or '.join(KINDS)}")
    return kinds


async def with_attestations(
    client: ArtifactClient, repository: str, index: dict[str, Any], report: VerifyReport,
    required: Sequence[str], *, key: ec.EllipticCurvePublicKey | None = None,
) -> VerifyReport:
    """`report` with each checked platform's missing, wrong (or, given `key`, unsigned)
    attestations as its problems."""
    entries = dict(platform_entries(index)[0])
    rows = [row for row in report.rows if row.status in ("ok", "failed")
            and Platform.parse(row.platform) in entries]

    def checker(row: PlatformRow) -> Any:
        async def check() -> list[str]:
            descriptor = entries[Platform.parse(row.platform)]
            return await platform_problems(client, repository, row.platform, descriptor,
                                           required, key=key)
        return check

    found = await gather([checker(row) for row in rows])
    changed = {row.platform: replace(row, status="failed", problems=(*row.problems, *problems))
               for row, problems in zip(rows, found, strict=True) if problems}
    return replace(report, rows=tuple(changed.get(r.platform, r) for r in report.rows))


async def platform_problems(
    client: ArtifactClient, repository: str, platform: str, descriptor: dict[str, Any],
    required: Sequence[str], *, key: ec.EllipticCurvePublicKey | None = None,
) -> list[str]:
    """One sentence per required attestation that `platform`'s manifest lacks or that is wrong."""
    digest = digest_of(descriptor)
    listed = await referrers(client, repository, digest)
    problems = []
    for kind in required:
        candidates = [d for d in listed if d.get("artifactType") == KINDS[kind]]
        if not candidates:
            problems.append(f"{platform} has no {kind} attached ({KINDS[kind]} referrer of "
                            f"{digest})")
            continue
        # The newest is listed last (API order is the registry's; any valid one will do).
        found = [await _problem(client, repository, platform=platform, digest=digest,
                                kind=kind, descriptor=d) for d in reversed(candidates)]
        if key is not None:
            found = [problem or await signature_problem(
                client, repository, digest_of(d), key, f"the {kind} of {platform}")
                for problem, d in zip(found, reversed(candidates), strict=True)]
        if all(found):
            problems.append(found[0])
    return problems


async def _problem(
    client: ArtifactClient, repository: str, *, platform: str, digest: str, kind: str,
    descriptor: dict[str, Any],
) -> str:
    """What is wrong with one attached document, or ''."""
    artifact = await client.get_manifest(repository, digest_of(descriptor))
    if artifact is None or artifact.digest != digest_of(descriptor):
        return f"the {kind} manifest {digest_of(descriptor)} of {platform} is missing"
    try:
        document = artifact.document()
    except ValueError:
        return f"the {kind} manifest of {platform} is not JSON"
    subject = digest_of(document.get("subject") or {})
    if subject != digest:
        return f"the {kind} of {platform} is attached to {subject or 'no subject'}, not {digest}"
    layers = [layer for layer in document.get("layers") or [] if isinstance(layer, dict)]
    if not layers or int(layers[0].get("size") or 0) > _MAX_DOCUMENT:
        return f"the {kind} manifest of {platform} holds no document of a usable size"
    blob = await client.get_blob(repository, digest_of(layers[0]))
    if blob is None or sha256_digest(blob) != digest_of(layers[0]):
        return f"the {kind} document of {platform} is missing or does not match its digest"
    return _content_problem(kind, platform, digest, blob)


def _content_problem(kind: str, platform: str, digest: str, blob: bytes) -> str:
    """The document's own subject must be the platform's digest too."""
    try:
        document = json.loads(blob)
    except ValueError:
        return f"the {kind} of {platform} is not JSON"
    if not isinstance(document, dict):
        return f"the {kind} of {platform} is not a JSON object"
    if kind == "provenance":
        return _statement_problem(platform, digest, document)
    return _sbom_problem(platform, digest, document)


def _statement_problem(platform: str, digest: str, document: dict[str, Any]) -> str:
    subjects = document.get("subject") or []
    hexes = [s.get("digest", {}).get("sha256") for s in subjects if isinstance(s, dict)]
    if digest.partition(":")[2] not in hexes:
        return f"the provenance of {platform} is a statement about another image, not {digest}"
    return ""


def _sbom_problem(platform: str, digest: str, document: dict[str, Any]) -> str:
    named = ((document.get("metadata") or {}).get("component") or {}).get("version")
    if isinstance(named, str) and named.startswith("sha256:") and named != digest:
        return f"the sbom of {platform} describes {named}, not {digest}"
    if document.get("bomFormat") != "CycloneDX":
        return f"the sbom of {platform} is not a CycloneDX document"
    return ""
