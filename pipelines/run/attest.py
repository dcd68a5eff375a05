"""Each platform's SBOM and provenance, made once the image's digest is known: attached to the
staged index as referrers (publish), or written beside the archive (export)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as dist_version
from pathlib import Path

import anyio
import dagger

from pipelines.attest import PROVENANCE_TYPE, SBOM_TYPE, Subject, provenance, sbom
from pipelines.attest.provenance import provenance_json
from pipelines.logs import get_logger
from pipelines.plan.model import Plan, Target
from pipelines.platforms import Platform
from pipelines.publish.archive import platform_manifests
from pipelines.registry.credentials import Credentials
from pipelines.registry.reference import parse_reference
from pipelines.registry.referrers import Artifact, attach_to_index
from pipelines.registry.signatures import (
    SigningKey,
    SigningKeyError,
    load_signing_key,
    sign_all,
)
from pipelines.run.legs import Leg
from pipelines.settings import Settings, public_view


@dataclass
class Facts:
    """What the documents say about the build beyond the plan: versions and base digests."""

    versions: dict[str, str] = field(default_factory=dict)
    base_digests: dict[Platform, str] = field(default_factory=dict)


async def build_facts(plan: Plan, legs: Sequence[Leg]) -> Facts:
    """node-pipelines', the SDK's and each engine's versions; each target's base by digest."""
    facts = Facts(versions={"node-pipelines": _version("node-pipelines"),
                            "dagger-io": _version("dagger-io")})
    for part in legs:
        client = part.images.client
        name = f"dagger-engine@{part.plan.targets[0].engine}" if part.plan.targets and \
            part.plan.targets[0].engine else "dagger-engine"
        facts.versions[name] = await client.version()
        for target in part.plan.targets:
            facts.base_digests[target.platform] = await _base_digest(client, plan, target)
    return facts


async def _base_digest(client: dagger.Client, plan: Plan, target: Target) -> str:
    """The base image's digest for the target, as the engine resolved it ('' if it cannot)."""
    base = client.container(platform=dagger.Platform(str(target.platform))).from_(plan.base_image)
    try:
        reference = await base.image_ref()
    except dagger.QueryError:  # the documents say the base by name then; the build stands
        return ""
    return reference.rpartition("@")[2] if "@sha256:" in reference else ""


def documents(plan: Plan, settings: Settings, facts: Facts, subject: Subject) -> list[Artifact]:
    """The SBOM and the provenance of one platform's image."""
    target = next(t for t in plan.targets if t.platform == subject.platform)
    base = facts.base_digests.get(target.platform, "")
    created = plan.labels.get("org.opencontainers.image.created")
    notes = (("org.opencontainers.image.created", created),) if created else ()
    bom = sbom(plan, target, subject, tool_version=facts.versions["node-pipelines"],
               base_digest=base)
    statement = provenance(plan, target, subject, settings=public_view(settings),
                           versions=facts.versions, base_digest=base)
    return [Artifact(SBOM_TYPE, bom.encode(), notes),
            Artifact(PROVENANCE_TYPE, provenance_json(statement).encode(), notes)]


def signing_key(settings: Settings) -> SigningKey | None:
    """The settings' cosign key, decrypted (a bad key or password is one sentence, exit 2,
    before anything is built); None without one."""
    given = settings.sign_key.get_secret_value()
    if not given:
        return None
    if "-----BEGIN" in given:
        text = given
    else:
        try:
            text = Path(given).expanduser().read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise SigningKeyError(f"cannot read the signing key {given}: "
                                  f"{getattr(error, 'strerror', None) or error}") from None
    return load_signing_key(text, settings.sign_password.get_secret_value())


async def attest_published(
    reference: str, plan: Plan, settings: Settings, facts: Facts | None,
    login: Credentials | None, *, key: SigningKey | None = None,
) -> None:
    """Attach every platform's SBOM and provenance to the staged index at `reference` (unless
    `facts` is None: attestations off), then with `key` sign the index and each of them."""
    name = parse_reference(reference).name
    wanted = {t.platform for t in plan.targets}

    async def make(platform: Platform, digest: str) -> list[Artifact]:
        if platform not in wanted or facts is None:
            return []
        subject = Subject(name, digest, platform)
        return await anyio.to_thread.run_sync(documents, plan, settings, facts, subject)

    attached = await attach_to_index(reference, make, login) if facts is not None else []
    if facts is not None:
        get_logger().info("attestations_attached", staging=reference, documents=len(attached))
    if key is not None:
        count = await sign_all(reference, attached, key, login)
        get_logger().info("index_signed", staging=reference, signatures=count)


async def attest_exported(path: str, plan: Plan, settings: Settings, facts: Facts) -> list[Path]:
    """Write every platform's SBOM and provenance beside the archive at `path`."""
    archive = Path(path)
    entries = await anyio.to_thread.run_sync(platform_manifests, archive)
    written = []
    stem = archive.name.removesuffix(".tar").removesuffix(".oci")
    for target in plan.targets:
        entry = entries.get(str(target.platform))
        if entry is None:
            continue
        subject = Subject(archive.name, entry["digest"], target.platform)
        bom, statement = await anyio.to_thread.run_sync(documents, plan, settings, facts,
                                                        subject)
        slug = str(target.platform).replace("/", "-")
        for artifact, suffix in ((bom, "cdx.json"), (statement, "intoto.json")):
            file = archive.with_name(f"{stem}.{slug}.{suffix}")
            await anyio.Path(file).write_bytes(artifact.data)
            written.append(file)
    for file in written:
        get_logger().info("attestation_written", path=str(file))
    return written


def _version(distribution: str) -> str:
    try:
        return dist_version(distribution)
    except PackageNotFoundError:
        return "unknown"
