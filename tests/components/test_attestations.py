"""SBOM and provenance as OCI referrers on a real registry (distribution 2.8, which has no
referrers API: the tag-schema fallback is what it gets), verify --require, and the gate."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from pipelines.attest import Subject, provenance, sbom
from pipelines.attest.provenance import provenance_json
from pipelines.errors import PipelineError
from pipelines.plan.model import Plan
from pipelines.plan.prepare import prepare
from pipelines.platforms import Platform
from pipelines.publish.gate import publish_gated
from pipelines.registry.attestations import PROVENANCE_TYPE, SBOM_TYPE
from pipelines.registry.credentials import Credentials
from pipelines.registry.referrers import Artifact, ArtifactClient, attach, attach_to_index
from pipelines.registry.signatures import (
    encrypt_signing_key,
    load_signing_key,
    sign_all,
    signature_tag,
)
from pipelines.registry.variant import add_arm64_variant
from pipelines.registry.verify import verify_index
from pipelines.settings import load_settings, public_view
from tests.components.registry import OCI_INDEX, OCI_MANIFEST, PASSWORD, USER, LocalRegistry, Pusher
from tests.components.test_gate import Recorder
from tests.components.test_verify import cli_env, run_cli
from tests.graph.conftest import EXAMPLE_AUDIT

pytestmark = pytest.mark.registry
CREDENTIALS = Credentials.of(USER, PASSWORD)
PLATFORMS = ("linux/amd64", "linux/arm64")
BOTH = ("sbom", "provenance")


@pytest.fixture(scope="module")
def plan() -> Plan:
    """The bundled example's plan on an amd64 engine (its audit fixed as the graph tests do)."""
    settings = load_settings({}, {})
    return prepare(settings, Platform.parse("linux/amd64"),
                   audit=dict.fromkeys(settings.platforms, EXAMPLE_AUDIT))


def documents_for(plan: Plan, name: str):
    """The attach callback: the real SBOM and provenance of each platform's digest."""
    settings = load_settings({}, {})

    async def make(platform: Platform, digest: str) -> list[Artifact]:
        target = next(t for t in plan.targets if t.platform == platform)
        subject = Subject(name, digest, platform)
        statement = provenance(plan, target, subject, settings=public_view(settings),
                               versions={"node-pipelines": "test"})
        return [Artifact(SBOM_TYPE, sbom(plan, target, subject, tool_version="t").encode()),
                Artifact(PROVENANCE_TYPE, provenance_json(statement).encode())]

    return make


def staged(registry: LocalRegistry, repo: str) -> tuple[str, list[dict[str, Any]]]:
    """An index of two platform images under tag v1: its REF@digest and its entries."""
    pusher = Pusher(registry.host)
    entries = [pusher.image(repo, p) for p in PLATFORMS]
    return f"{registry.host}/{repo}:v1@{pusher.index(repo, 'v1', entries)}", entries


def fallback_index(registry: LocalRegistry, repo: str, digest: str) -> dict[str, Any]:
    """The `sha256-<hex>` index, read without the code under test."""
    answer = httpx.get(f"http://{registry.host}/v2/{repo}/manifests/sha256-{digest[7:]}",
                       auth=(USER, PASSWORD), headers={"Accept": OCI_INDEX})
    assert answer.status_code == 200, answer.text
    return answer.json()


def manifest_of(
    registry: LocalRegistry, repo: str, digest: str, accept: str = OCI_MANIFEST
) -> dict[str, Any]:
    """An OCI manifest (or index), read without the code under test."""
    answer = httpx.get(f"http://{registry.host}/v2/{repo}/manifests/{digest}",
                       auth=(USER, PASSWORD), headers={"Accept": accept})
    assert answer.status_code == 200, answer.text
    return answer.json()


def blob_of(registry: LocalRegistry, repo: str, digest: str) -> dict[str, Any]:
    """A JSON blob, read without the code under test."""
    answer = httpx.get(f"http://{registry.host}/v2/{repo}/blobs/{digest}",
                       auth=(USER, PASSWORD), follow_redirects=True)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_attached_documents_are_found_through_the_fallback_tag(
    registry: LocalRegistry, plan: Plan
) -> None:
    """Each platform gets an SBOM and a provenance manifest whose subject is its own
    manifest, listed in its `sha256-<hex>` index; verify --require passes."""
    ref, entries = staged(registry, "attest/ok")
    attached = await attach_to_index(ref, documents_for(plan, f"{registry.host}/attest/ok"),
                                     CREDENTIALS)
    assert len(attached) == 4
    for entry in entries:
        listed = fallback_index(registry, "attest/ok", entry["digest"])["manifests"]
        assert sorted(d["artifactType"] for d in listed) == [SBOM_TYPE, PROVENANCE_TYPE]
        for descriptor in listed:
            manifest = manifest_of(registry, "attest/ok", descriptor["digest"])
            assert manifest["subject"]["digest"] == entry["digest"]
            assert manifest["artifactType"] == descriptor["artifactType"]
    report = await verify_index(ref, PLATFORMS, CREDENTIALS, require=BOTH)
    assert report.ok, report.table()


async def test_the_arm64_sbom_in_the_registry_lists_its_binary_package(
    registry: LocalRegistry, plan: Plan
) -> None:
    """The arm64 SBOM read back from the registry lists sharp's arm64 package, the x64 one not."""
    ref, entries = staged(registry, "attest/content")
    await attach_to_index(ref, documents_for(plan, "x"), CREDENTIALS)
    listed = fallback_index(registry, "attest/content", entries[1]["digest"])["manifests"]
    sbom_manifest = next(d for d in listed if d["artifactType"] == SBOM_TYPE)
    manifest = manifest_of(registry, "attest/content", sbom_manifest["digest"])
    blob = blob_of(registry, "attest/content", manifest["layers"][0]["digest"])
    names = {c["name"] for c in blob["components"]}
    assert {"bcrypt", "better-sqlite3", "sharp", "sharp-linux-arm64"} <= names
    assert "sharp-linux-x64" not in names
    assert blob["metadata"]["component"]["version"] == entries[1]["digest"]


async def test_an_image_without_attestations_fails_in_one_sentence_each(
    registry: LocalRegistry, tmp_path: Path
) -> None:
    """Nothing attached: verify --require names each platform's missing document; the CLI
    exits 1 with the sentence; without --require the same image verifies."""
    ref, _ = staged(registry, "attest/none")
    report = await verify_index(ref, PLATFORMS, CREDENTIALS, require=BOTH)
    assert not report.ok
    sentences = report.sentences()
    assert len(sentences) == 4
    assert any(s.startswith("linux/arm64 has no provenance attached") for s in sentences)
    done = run_cli(ref, "--require", "sbom,provenance", env=cli_env(tmp_path))
    assert done.returncode == 1
    assert "ERROR" in done.stderr
    assert "has no sbom attached" in done.stderr
    assert (await verify_index(ref, PLATFORMS, CREDENTIALS)).ok


async def test_a_document_attached_to_another_image_is_refused(
    registry: LocalRegistry, plan: Plan
) -> None:
    """An SBOM listed for arm64 whose manifest's subject is amd64's, and a provenance
    about another digest: each fails with its sentence."""
    ref, (amd, arm) = staged(registry, "attest/swapped")
    repo = "attest/swapped"
    async with ArtifactClient(registry.host, CREDENTIALS) as client:
        target = plan.targets[0]
        bom = sbom(plan, target, Subject("x", amd["digest"], target.platform), tool_version="t")
        await attach(client, repo, amd, Artifact(SBOM_TYPE, bom.encode()))
        statement = provenance(plan, target, Subject("x", amd["digest"], target.platform),
                               settings={}, versions={})
        await attach(client, repo, arm, Artifact(PROVENANCE_TYPE,
                                                 provenance_json(statement).encode()))
        await attach(client, repo, amd, Artifact(PROVENANCE_TYPE,
                                                 provenance_json(statement).encode()))
    # arm64's list gains amd64's SBOM manifest (its subject is amd64's manifest).
    amd_list = fallback_index(registry, repo, amd["digest"])["manifests"]
    arm_list = fallback_index(registry, repo, arm["digest"])["manifests"]
    moved = next(d for d in amd_list if d["artifactType"] == SBOM_TYPE)
    Pusher(registry.host).manifest(repo, f"sha256-{arm['digest'][7:]}", {
        "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [*arm_list, moved]})
    report = await verify_index(ref, PLATFORMS, CREDENTIALS, require=BOTH)
    sentences = report.sentences()
    assert f"the sbom of linux/arm64 is attached to {amd['digest']}, not {arm['digest']}" \
        in sentences
    assert any(s.startswith("the provenance of linux/arm64 is a statement about another "
                            "image") for s in sentences)
    assert not any(s.startswith("linux/amd64") or "of linux/amd64" in s for s in sentences)


async def test_the_gate_attaches_before_verify_and_moves_tags_only_when_attested(
    registry: LocalRegistry, plan: Plan
) -> None:
    """With an attest step the gate verifies --require and tags; without one, a verify that
    requires attestations fails and no tag is moved."""
    recorder = Recorder(registry)
    name = f"{registry.host}/team/api"

    async def attest(ref: str) -> None:
        recorder.calls.append("attest")
        await attach_to_index(ref, documents_for(plan, name), CREDENTIALS)

    async def verify(ref: str):
        recorder.calls.append("verify")
        return await verify_index(ref, PLATFORMS, CREDENTIALS, require=BOTH)

    from dataclasses import replace  # noqa: PLC0415 - only this test builds its own steps

    # First without (the test pusher's images are the same each time: once attached, they
    # stay attached).
    bare = replace(recorder.steps(("bare",)), verify=verify)
    with pytest.raises(PipelineError, match=r"has no sbom attached.*no tag was moved"):
        await publish_gated(name, bare)
    assert recorder.pusher.tag_digest("team/api", "bare") is None
    recorder.calls.clear()
    steps = replace(recorder.steps(("attested",)), attest=attest, verify=verify)
    result = await publish_gated(name, steps)
    assert recorder.calls == ["stage", "check", "attest", "verify", "move"]
    assert [m.tag for m in result.moves] == ["attested"]


async def test_the_amended_index_carries_the_labels_as_annotations(
    registry: LocalRegistry,
) -> None:
    """The amend step PUTs the staged index with the OCI labels as its annotations."""
    ref, _ = staged(registry, "attest/annotated")
    labels = {"org.opencontainers.image.revision": "a" * 40}
    amended = await add_arm64_variant(ref, CREDENTIALS, annotations=labels)
    digest = amended.rpartition("@")[2]
    assert digest != ref.rpartition("@")[2]
    assert manifest_of(registry, "attest/annotated", digest, OCI_INDEX)["annotations"] == labels


SIGNING = ec.generate_private_key(ec.SECP256R1())
KEY_PASSWORD = "key-pa55-never-printed"  # noqa: S105 - a test key's password


def key_files(tmp_path: Path) -> tuple[Path, Path]:
    """cosign.key (cosign's encrypted format) and cosign.pub of the test key."""
    private = tmp_path / "cosign.key"
    private.write_text(encrypt_signing_key(SIGNING, KEY_PASSWORD, b"s" * 32, b"n" * 24))
    public = tmp_path / "cosign.pub"
    public.write_bytes(load_signing_key(private.read_text(), KEY_PASSWORD).public_pem())
    return private, public


async def test_signed_index_and_attestations_verify_with_the_key_and_fail_when_tampered(
    registry: LocalRegistry, plan: Plan, tmp_path: Path
) -> None:
    """Signed as cosign stores it (`sha256-<hex>.sig`, simple-signing payload, signature
    annotation): verify --key passes; another key, a changed signature, or an unsigned index
    each fail with one sentence and exit 1."""
    ref, _ = staged(registry, "attest/signed")
    private, public = key_files(tmp_path)
    key = load_signing_key(private.read_text(), KEY_PASSWORD)
    attached = await attach_to_index(ref, documents_for(plan, "x"), CREDENTIALS)
    assert await sign_all(ref, attached, key, CREDENTIALS) == 5
    index_digest = ref.rpartition("@")[2]
    signature = manifest_of(registry, "attest/signed", signature_tag(index_digest))
    (layer,) = signature["layers"]
    assert layer["mediaType"] == "application/vnd.dev.cosign.simplesigning.v1+json"
    signed = blob_of(registry, "attest/signed", layer["digest"])
    assert signed["critical"]["image"]["docker-manifest-digest"] == index_digest
    report = await verify_index(ref, PLATFORMS, CREDENTIALS, require=BOTH,
                                key=key.key.public_key())
    assert report.ok, report.table()
    done = run_cli(ref, "--require", "sbom,provenance", "--key", str(public),
                   env=cli_env(tmp_path))
    assert done.returncode == 0, done.stderr
    assert KEY_PASSWORD not in done.stdout + done.stderr

    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    report = await verify_index(ref, PLATFORMS, CREDENTIALS, key=other)
    assert report.problems == (f"the index {index_digest} has no signature that verifies "
                               "with the given key",)

    tampered = {**layer, "annotations": {
        "dev.cosignproject.cosign/signature": base64.b64encode(b"\x30" * 70).decode()}}
    Pusher(registry.host).manifest("attest/signed", signature_tag(index_digest),
                                   {**signature, "layers": [tampered]})
    done = run_cli(ref, "--key", str(public), env=cli_env(tmp_path))
    assert done.returncode == 1
    assert "has no signature that verifies with the given key" in done.stderr

    unsigned, _ = staged(registry, "attest/unsigned")
    report = await verify_index(unsigned, PLATFORMS, CREDENTIALS, key=key.key.public_key())
    assert report.problems[0].endswith(".sig)")
    assert "is not signed" in report.problems[0]
