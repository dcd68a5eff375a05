"""The SBOM and the provenance of each platform: what they list, and that they are valid."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from pipelines.attest import Subject, provenance, sbom
from pipelines.plan.model import Plan, Target
from pipelines.plan.prepare import prepare
from pipelines.platforms import Platform
from pipelines.settings import load_settings, public_view
from tests.graph.conftest import EXAMPLE_AUDIT

SCHEMA = Path(__file__).parents[1] / "fixtures" / "attest" / "slsa-provenance-v1.schema.json"
DIGEST = "sha256:" + "ab" * 32
LOCK = Path(__file__).parents[2] / "examples" / "native-service" / "package-lock.json"


@pytest.fixture(scope="module")
def plan() -> Plan:
    """The bundled example on an amd64 engine, its audit fixed as the graph tests fix it."""
    settings = load_settings({"registry_username": "ci", "registry_password": "hunter2-secret"},
                             {})
    return prepare(settings, Platform.parse("linux/amd64"),
                   audit=dict.fromkeys(settings.platforms, EXAMPLE_AUDIT))


def target_of(plan: Plan, platform: str) -> Target:
    """The plan's target for `platform`."""
    return next(t for t in plan.targets if str(t.platform) == platform)


def bom_of(plan: Plan, platform: str) -> dict[str, Any]:
    """The SBOM of `platform`'s image as parsed JSON."""
    target = target_of(plan, platform)
    subject = Subject("127.0.0.1:5000/team/api", DIGEST, target.platform)
    return json.loads(sbom(plan, target, subject, tool_version="0.1.0"))


def by_name(bom: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Components by their full npm name (@group/name)."""
    return {f"{c['group']}/{c['name']}" if c.get("group") else c["name"]: c
            for c in bom["components"]}


def props(component: dict[str, Any]) -> dict[str, str]:
    """A component's properties as a mapping."""
    return {p["name"]: p["value"] for p in component.get("properties", [])}


@pytest.mark.parametrize("platform", ["linux/amd64", "linux/arm64"])
def test_the_sbom_validates_against_the_cyclonedx_schema(plan: Plan, platform: str) -> None:
    """Each platform's SBOM is valid CycloneDX 1.6 JSON (the library's strict validator)."""
    target = target_of(plan, platform)
    text = sbom(plan, target, Subject("r.example/team/api", DIGEST, target.platform),
                tool_version="0.1.0")
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    assert error is None, str(error)


def test_each_platform_lists_its_own_binary_packages_only(plan: Plan) -> None:
    """arm64's SBOM has sharp with @img/sharp-linux-arm64 and no x64 package; amd64 the
    reverse; bcrypt and better-sqlite3 in both, prebuilt."""
    arm, amd = by_name(bom_of(plan, "linux/arm64")), by_name(bom_of(plan, "linux/amd64"))
    for name in ("bcrypt", "better-sqlite3", "sharp"):
        assert props(arm[name])["node-pipelines:native"] == "prebuilt"
        assert name in amd
    assert "@img/sharp-linux-arm64" in arm
    assert "@img/sharp-linux-x64" not in arm
    assert "@img/sharp-linux-x64" in amd
    assert "@img/sharp-linux-arm64" not in amd
    assert props(arm["@img/sharp-linux-arm64"])["node-pipelines:platform-package"] == "true"
    assert "typescript" not in arm, "a devDependency is in the SBOM"


def depends_on(bom: dict[str, Any]) -> dict[str, list[str]]:
    """The dependency graph by bom-ref."""
    return {d["ref"]: d.get("dependsOn", []) for d in bom.get("dependencies", [])}


def test_the_dependency_graph_is_the_lockfiles_for_the_target(plan: Plan) -> None:
    """The image depends on the service's direct dependencies; sharp on its own platform's
    binary package only, for each platform; a package the target lacks has no edge."""
    for platform, own, other in (("linux/arm64", "arm64", "x64"), ("linux/amd64", "x64", "arm64")):
        bom = bom_of(plan, platform)
        graph = depends_on(bom)
        image = bom["metadata"]["component"]["bom-ref"]
        assert graph[image] == ["npm:node_modules/bcrypt", "npm:node_modules/better-sqlite3",
                                "npm:node_modules/sharp"], graph[image]
        sharp = graph["npm:node_modules/sharp"]
        assert f"npm:node_modules/@img/sharp-linux-{own}" in sharp, sharp
        assert not any(other in ref or "darwin" in ref for ref in sharp), sharp
        refs = {c["bom-ref"] for c in bom["components"]}
        assert all(r in refs for deps in graph.values() for r in deps)


def test_a_pnpm_graph_follows_the_lockfiles_links(tmp_path: Path) -> None:
    """pnpm's packages sit in its .pnpm store: edges follow the importer's and the packages'
    links, so the image depends on bcrypt and sharp as pnpm installed them."""
    source = Path(__file__).parents[1] / "fixtures" / "services" / "pnpm-api"
    settings = load_settings({"source": str(source)}, {})
    pnpm = prepare(settings, Platform.parse("linux/amd64"),
                   audit=dict.fromkeys(settings.platforms, EXAMPLE_AUDIT))
    bom = bom_of(pnpm, "linux/arm64")
    graph = depends_on(bom)
    top = graph[bom["metadata"]["component"]["bom-ref"]]
    assert [ref.rpartition("/node_modules/")[2] for ref in top] == ["bcrypt", "sharp"], top
    sharp = next(deps for ref, deps in graph.items() if ref.endswith("/node_modules/sharp"))
    assert any(ref.endswith("/@img/sharp-linux-arm64") for ref in sharp), sharp


def test_the_own_addon_says_how_it_was_built_per_platform(plan: Plan) -> None:
    """On an amd64 engine the arm64 addon was cross-compiled, the amd64 one compiled."""
    addon = "native-service (native addon)"
    arm, amd = by_name(bom_of(plan, "linux/arm64")), by_name(bom_of(plan, "linux/amd64"))
    assert props(arm[addon])["node-pipelines:native"] == "cross-compiled"
    assert props(amd[addon])["node-pipelines:native"] == "compiled"
    assert props(arm[addon])["node-pipelines:path"] == "/app/native/build/Release"


def test_versions_purls_hashes_and_licenses_come_from_the_lockfile(plan: Plan) -> None:
    """bcrypt's version, purl, sha512 (the lockfile's integrity as hex) and license."""
    locked = json.loads(LOCK.read_text())["packages"]["node_modules/bcrypt"]
    bcrypt = by_name(bom_of(plan, "linux/arm64"))["bcrypt"]
    assert bcrypt["version"] == locked["version"]
    assert bcrypt["purl"] == f"pkg:npm/bcrypt@{locked['version']}"
    want = base64.b64decode(locked["integrity"].removeprefix("sha512-")).hex()
    assert bcrypt["hashes"] == [{"alg": "SHA-512", "content": want}]
    assert bcrypt["licenses"] == [{"expression": locked["license"]}]
    scoped = by_name(bom_of(plan, "linux/arm64"))["@img/sharp-linux-arm64"]
    assert scoped["purl"].startswith("pkg:npm/%40img/sharp-linux-arm64@")


def test_the_subject_base_image_and_system_packages_are_listed(plan: Plan) -> None:
    """The image by digest is the BOM's subject; the base image and apt packages are listed."""
    with_apt = replace(plan, shape=replace(plan.shape, apt_packages=("tini",)))
    bom = bom_of(with_apt, "linux/arm64")
    subject = bom["metadata"]["component"]
    assert (subject["type"], subject["version"]) == ("container", DIGEST)
    assert subject["purl"].startswith(f"pkg:oci/api@sha256:{'ab' * 32}?arch=arm64")
    names = by_name(bom)
    assert names[plan.base_image]["type"] == "container"
    assert names["tini"]["purl"] == "pkg:deb/debian/tini?arch=arm64"


def test_the_same_image_gives_the_same_sbom(plan: Plan) -> None:
    """No time of the run and no random serial number: same inputs, same bytes."""
    target = target_of(plan, "linux/arm64")
    subject = Subject("r.example/team/api", DIGEST, target.platform)
    assert sbom(plan, target, subject, tool_version="1") == sbom(plan, target, subject,
                                                                 tool_version="1")


def statement(plan: Plan, platform: str) -> dict[str, Any]:
    """The provenance of `platform`'s image."""
    target = target_of(plan, platform)
    settings = load_settings({"registry_username": "ci", "registry_password": "hunter2-secret"},
                             {})
    return provenance(plan, target, Subject("r.example/team/api", DIGEST, target.platform),
                      settings=public_view(settings),
                      versions={"node-pipelines": "0.1.0", "dagger-io": "0.21.8"},
                      base_digest="sha256:" + "cd" * 32)


@pytest.mark.parametrize("platform", ["linux/amd64", "linux/arm64"])
def test_the_provenance_validates_against_the_slsa_v1_shape(plan: Plan, platform: str) -> None:
    """An in-toto Statement v1 with a SLSA Provenance v1 predicate, subject = the digest."""
    document = statement(plan, platform)
    jsonschema.validate(document, json.loads(SCHEMA.read_text()))
    assert document["subject"] == [{"name": "r.example/team/api", "digest": {"sha256": "ab" * 32}}]


def test_the_schema_rejects_what_the_spec_forbids() -> None:
    """The transcribed schema can fail: no subject digest, a non-URI builder id."""
    schema = json.loads(SCHEMA.read_text())
    good: dict[str, Any] = {
        "_type": "https://in-toto.io/Statement/v1", "predicateType": "https://slsa.dev/provenance/v1",
        "subject": [{"name": "x", "digest": {"sha256": "ab" * 32}}],
        "predicate": {"buildDefinition": {"buildType": "urn:x", "externalParameters": {}},
                      "runDetails": {"builder": {"id": "urn:y"}}}}
    jsonschema.validate(good, schema)
    for broken in ({**good, "subject": [{"name": "x", "digest": {}}]},
                   {**good, "predicate": {**good["predicate"],
                                          "runDetails": {"builder": {"id": "a builder"}}}}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, schema)


def test_the_provenance_says_how_each_stage_ran_and_keeps_secrets_out(plan: Plan) -> None:
    """arm64's addon was cross-compiled on the amd64 engine, its checks emulated; the
    registry password is not in the statement; the lockfile and base are dependencies."""
    document = statement(plan, "linux/arm64")
    stages = {s["stage"]: s for s in
              document["predicate"]["buildDefinition"]["internalParameters"]["stages"]}
    assert stages["bindings"] == {"stage": "bindings", "platform": "linux/amd64",
                                  "runs": "cross", "for": "linux/arm64"}
    assert stages["smoke"]["runs"] == "emulated"
    assert stages["app"]["runs"] == "native"
    assert "hunter2-secret" not in json.dumps(document)
    assert "registry_password" not in document["predicate"]["buildDefinition"][
        "externalParameters"]["settings"]
    deps = document["predicate"]["buildDefinition"]["resolvedDependencies"]
    assert {"package-lock.json", "base image"} <= {d.get("name") for d in deps}
    amd = statement(plan, "linux/amd64")["predicate"]["buildDefinition"]["internalParameters"]
    assert {s["runs"] for s in amd["stages"]} == {"native"}


async def test_an_export_writes_both_documents_per_platform_beside_the_archive(
    plan: Plan, tmp_path: Path
) -> None:
    """image.oci.tar gets image.linux-<arch>.cdx.json and .intoto.json, each about the
    digest of that platform's manifest in the archive."""
    from pipelines.publish.archive import platform_manifests  # noqa: PLC0415
    from pipelines.run.attest import Facts, attest_exported  # noqa: PLC0415
    from tests.unit.test_archive import write_archive  # noqa: PLC0415

    archive = tmp_path / "image.oci.tar"
    write_archive(archive, (("amd64", "", [1]), ("arm64", "v8", [2])))
    facts = Facts(versions={"node-pipelines": "0.1.0"})
    written = await attest_exported(str(archive), plan, load_settings({}, {}), facts)
    assert sorted(p.name for p in written) == [
        "image.linux-amd64.cdx.json", "image.linux-amd64.intoto.json",
        "image.linux-arm64.cdx.json", "image.linux-arm64.intoto.json"]
    digest = platform_manifests(archive)["linux/arm64"]["digest"]
    bom = json.loads((tmp_path / "image.linux-arm64.cdx.json").read_text())
    assert bom["metadata"]["component"]["version"] == digest
    stated = json.loads((tmp_path / "image.linux-arm64.intoto.json").read_text())
    assert stated["subject"][0]["digest"]["sha256"] == digest.partition(":")[2]
