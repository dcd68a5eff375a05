"""Pure parts of registry verification: auth challenges, retry delays, URL schemes, index entry
classification and how a report reads."""

from __future__ import annotations

import json

import pytest
from pydantic import SecretStr

from pipelines.errors import InputError
from pipelines.platforms import Platform
from pipelines.registry.client import (
    DOCKER_MANIFEST_LIST,
    OCI_INDEX,
    Manifest,
    RegistryClient,
    RetryPolicy,
    parse_challenge,
)
from pipelines.registry.credentials import CredentialsError, explicit_credentials
from pipelines.registry.index_checks import (
    config_platform_problem,
    manifest_type,
    normalised,
    platform_entries,
    shared_digests,
)
from pipelines.registry.verify import verify_index
from pipelines.registry.verify_report import NotVerified, PlatformRow, VerifyReport

D1, D2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64


@pytest.mark.parametrize(
    ("header", "scheme", "params"),
    [
        ('Basic realm="registry"', "basic", {"realm": "registry"}),
        ('Bearer realm="https://auth.example/token",service="registry.example",'
         'scope="repository:team/app:pull,push"', "bearer",
         {"realm": "https://auth.example/token", "service": "registry.example",
          "scope": "repository:team/app:pull,push"}),
        ("Bearer realm=https://a.example/t, service=svc", "bearer",
         {"realm": "https://a.example/t", "service": "svc"}),
        ("", "", {}),
    ],
)
def test_parse_challenge(header: str, scheme: str, params: dict[str, str]) -> None:
    """WWW-Authenticate headers split into scheme and parameters, quoted or not."""
    assert parse_challenge(header) == (scheme, params)


def test_retry_delays_grow_and_are_capped() -> None:
    """Backoff doubles from the base delay and stops at the cap."""
    policy = RetryPolicy(attempts=6, base_delay_s=0.5, max_delay_s=3.0)
    assert [policy.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


@pytest.mark.parametrize(
    ("host", "insecure", "scheme"),
    [("localhost:5000", (), "http"), ("127.0.0.1:5000", (), "http"),
     ("registry.example", (), "https"),
     ("registry.example:5000", ("registry.example:5000",), "http"),
     ("registry.example:5000", ("registry.example",), "https")],
)
async def test_scheme_per_registry(host: str, insecure: tuple[str, ...], scheme: str) -> None:
    """Loopback and --insecure-registry hosts get plain HTTP; every other host HTTPS."""
    async with RegistryClient(host, None, insecure_registries=insecure) as client:
        assert client.base_url == f"{scheme}://{host}"


def entry(os_: str, arch: str, digest: str, **extra: object) -> dict[str, object]:
    """An index entry."""
    return {"mediaType": "x", "digest": digest, "size": 1,
            "platform": {"os": os_, "architecture": arch}, **extra}


ATTESTATION = {"annotations": {"vnd.docker.reference.type": "attestation-manifest"}}


def test_attestations_need_unknown_platform_and_annotation() -> None:
    """Only unknown/unknown entries annotated attestation-manifest are ignored."""
    entries, ignored, problems = platform_entries({"manifests": [
        entry("linux", "amd64", D1),
        entry("unknown", "unknown", D2, **ATTESTATION),
        entry("linux", "arm64", D2, **ATTESTATION),  # a real platform cannot hide as attestation
        entry("unknown", "unknown", D2),  # no annotation: counted, as an unknown platform
        {"digest": D1},
    ]})
    assert ignored == 1
    assert [str(p) for p, _ in entries] == ["linux/amd64", "linux/arm64", "unknown/unknown"]
    assert problems == ["index entry 5 has no platform"]


def test_shared_digests_name_both_platforms() -> None:
    """Two platforms on one digest give one sentence naming both."""
    entries, _, _ = platform_entries({"manifests": [entry("linux", "amd64", D1),
                                                    entry("linux", "arm64", D1)]})
    assert shared_digests(entries) == [
        f"linux/amd64 and linux/arm64 share the manifest {D1}: each platform needs its own"]
    repeated, _, _ = platform_entries({"manifests": [entry("linux", "amd64", D1)] * 2})
    assert shared_digests(repeated) == []  # a repeated platform is a duplicate, not a share


@pytest.mark.parametrize(
    ("parts", "wanted"),
    [(("linux", "arm64", "v8"), "linux/arm64"), (("linux", "aarch64", None), "linux/arm64"),
     (("linux", "arm", "v7"), "linux/arm/v7"), (("windows", "amd64", None), "windows/amd64"),
     ((None, None, None), "?/?")],
)
def test_platform_normalisation(parts: tuple[str | None, ...], wanted: str) -> None:
    """Index and config platforms normalise like Platform.parse, and odd ones survive."""
    assert str(normalised(*parts)) == wanted


def report(*rows: PlatformRow, problems: tuple[str, ...] = ()) -> VerifyReport:
    """A report for r.example/app:1."""
    return VerifyReport("r.example/app:1", D1, "application/vnd.oci.image.index.v1+json",
                        rows=rows, problems=problems, expected=("linux/amd64", "linux/arm64"))


def test_report_ok_and_summary() -> None:
    """All rows ok (extras allowed) is verified, and the summary names the platforms."""
    good = report(PlatformRow("linux/amd64", "ok", D1, 2, 10),
                  PlatformRow("linux/arm64", "ok", D2, 2, 10),
                  PlatformRow("linux/arm/v7", "extra", D2))
    assert good.ok
    assert good.summary() == f"r.example/app:1 verified at {D1}: linux/amd64, linux/arm64"
    assert not report().ok  # nothing checked is not verified


def test_report_failure_sentence_counts_problems() -> None:
    """A failed report leads with the first problem and counts the rest."""
    bad = report(PlatformRow("linux/amd64", "ok", D1),
                 PlatformRow("linux/arm64", "missing", problems=("linux/arm64 is missing",)),
                 problems=("index-level problem",))
    assert not bad.ok
    assert bad.summary() == ("r.example/app:1 is not verified: index-level problem "
                             "(and 1 more problem)")
    error = NotVerified(bad)
    assert error.exit_code == 1 and str(error) == bad.summary() and error.report is bad


def test_report_json_and_table() -> None:
    """JSON round-trips with rows; the table has a row per platform and a result line."""
    bad = report(PlatformRow("linux/amd64", "failed", D1, 1, 2048, ("layer gone",)))
    data = json.loads(json.dumps(bad.to_json()))
    assert data["ok"] is False and data["platforms"][0]["problems"] == ["layer gone"]
    lines = bad.table().splitlines()
    assert lines[0].split() == ["PLATFORM", "STATUS", "DIGEST", "LAYERS", "SIZE", "PROBLEM"]
    assert lines[1].split()[:2] == ["linux/amd64", "failed"] and "2.0 KiB" in lines[1]
    assert lines[-1] == "result: NOT verified"


def test_expected_platforms_use_platform_parse() -> None:
    """Aliases in expected platforms normalise the same way as index entries."""
    assert Platform.parse("linux/aarch64") == normalised("linux", "arm64", "v8")


@pytest.mark.parametrize(
    ("entry_platform", "config", "fragment"),
    [
        ("linux/arm64", {"os": "linux", "architecture": "arm64", "variant": "v8"}, ""),
        ("linux/arm/v7", {"os": "linux", "architecture": "arm", "variant": "v6"},
         "the config of linux/arm/v7 says linux/arm/v6"),
        ("linux/amd64", {"os": "linux", "architecture": "arm64"},
         "the config of linux/amd64 says linux/arm64"),
        ("linux/amd64", ["not", "an", "object"], "is not a JSON image config"),
    ],
)
def test_config_platform_comparison(entry_platform: str, config: object, fragment: str) -> None:
    """os, architecture and variant of a config must match its index entry, after normalising."""
    problem = config_platform_problem(Platform.parse(entry_platform), D1,
                                      json.dumps(config).encode())
    assert (fragment in problem) if fragment else problem == ""


@pytest.mark.parametrize(
    ("content_type", "declared", "wanted"),
    [
        (OCI_INDEX, None, OCI_INDEX),
        ("application/json", DOCKER_MANIFEST_LIST, DOCKER_MANIFEST_LIST),
        ("", OCI_INDEX, OCI_INDEX),
        ("application/json", None, "application/json"),
    ],
)
def test_manifest_type_falls_back_to_declared(
    content_type: str, declared: str | None, wanted: str
) -> None:
    """A generic Content-Type gives way to the manifest's own mediaType field."""
    body = json.dumps({"schemaVersion": 2, **({"mediaType": declared} if declared else {})})
    assert manifest_type(Manifest(D1, content_type, body.encode())) == wanted


async def test_verify_index_needs_a_platform() -> None:
    """No expected platform is an input error raised before any request."""
    with pytest.raises(InputError, match="no platform to verify"):
        await verify_index("127.0.0.1:1/app:v1", [], None)


def test_explicit_credentials_from_settings() -> None:
    """Settings' username and SecretStr password become credentials; half-set is an error."""
    assert explicit_credentials("", SecretStr("")) is None
    found = explicit_credentials("ci", SecretStr("pw-unit"))
    assert found is not None and found.password.get_secret_value() == "pw-unit"
    with pytest.raises(CredentialsError, match="NODEPIPE_REGISTRY_PASSWORD is not set"):
        explicit_credentials("ci", SecretStr(""))
