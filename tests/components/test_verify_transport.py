"""The registry client's retries and auth over real loopback HTTP: scripted stubs for 503s,
resets, stalls and 401s, and a bearer-token gate in front of the real local registry."""

from __future__ import annotations

import json

import pytest

from pipelines.registry.client import (
    OCI_MANIFEST,
    AuthRefusedError,
    RegistryClient,
    RegistryResponseError,
    RegistryUnreachableError,
    RetryPolicy,
    sha256_digest,
)
from pipelines.registry.credentials import Credentials
from pipelines.registry.tags import move_tags
from pipelines.registry.verify import verify_index
from tests.components.registry import (
    PASSWORD,
    USER,
    LocalRegistry,
    Pusher,
    assert_no_secret,
    free_port,
)
from tests.components.registry_stubs import Reply, Reset, Stall, bearer_gate, scripted_registry

pytestmark = pytest.mark.registry

CREDENTIALS = Credentials.of(USER, PASSWORD)
FAST = RetryPolicy(attempts=4, base_delay_s=0.01, timeout_s=0.5)
MANIFEST = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST}).encode()
OK = Reply(200, MANIFEST, (("Content-Type", OCI_MANIFEST),))
BASIC_CHALLENGE = Reply(401, b"", (("WWW-Authenticate", 'Basic realm="stub"'),))


async def fetch(host: str, credentials: Credentials | None = CREDENTIALS) -> object:
    """Fetch one manifest from `host` with fast retries."""
    async with RegistryClient(host, credentials, retry=FAST) as client:
        return await client.get_manifest("app", "v1")


async def test_503_twice_then_200_is_retried() -> None:
    """Two 503 answers are retried and the third answer's manifest is returned."""
    with scripted_registry([Reply(503), Reply(503), OK]) as (host, record):
        manifest = await fetch(host)
    assert getattr(manifest, "digest", None) == sha256_digest(MANIFEST)
    assert [method for method, _, _ in record.requests] == ["GET"] * 3


async def test_persistent_503_gives_up_after_the_attempts() -> None:
    """A registry that always answers 503 is asked exactly `attempts` times, then CannotCheck."""
    with (
        scripted_registry([Reply(503)]) as (host, record),
        pytest.raises(RegistryResponseError, match="answered HTTP 503"),
    ):
        await fetch(host)
    assert len(record.requests) == FAST.attempts


@pytest.mark.parametrize("fault", [Reset(), Stall(1.0)], ids=["reset", "timeout"])
async def test_reset_and_timeout_are_retried(fault: Reset | Stall) -> None:
    """A reset connection or a stalled answer is retried and the next answer is used."""
    with scripted_registry([fault, OK]) as (host, record):
        manifest = await fetch(host)
    assert getattr(manifest, "media_type", None) == OCI_MANIFEST
    assert len(record.requests) == 2


async def test_always_401_is_not_retried() -> None:
    """A Basic challenge answered with credentials and refused again is not retried."""
    with (
        scripted_registry([BASIC_CHALLENGE]) as (host, record),
        pytest.raises(AuthRefusedError, match=f"registry {host} refused user 'pipeline'"),
    ):
        await fetch(host)
    assert [bool(auth) for _, _, auth in record.requests] == [False, True]
    assert record.requests[1][2].startswith("Basic ")


@pytest.mark.parametrize("status", [400, 403, 405])
async def test_4xx_is_not_retried(status: int) -> None:
    """Client errors are final: one request, and a CannotCheck naming the status."""
    with (
        scripted_registry([Reply(status)]) as (host, record),
        pytest.raises((RegistryResponseError, AuthRefusedError), match=f"HTTP {status}"),
    ):
        await fetch(host)
    assert len(record.requests) == 1


async def test_connection_refused_is_unreachable() -> None:
    """Nothing listening: RegistryUnreachableError after the attempts, exit code 2."""
    with pytest.raises(RegistryUnreachableError, match="cannot reach registry") as caught:
        await fetch(f"127.0.0.1:{free_port()}")
    assert caught.value.exit_code == 2


def push_complete(registry: LocalRegistry, repo: str) -> str:
    """Push a complete two-platform index as `repo:v1`; return its digest."""
    p = Pusher(registry.host)
    return p.index(repo, "v1", [p.image(repo, "linux/amd64"), p.image(repo, "linux/arm64")])


async def test_bearer_token_flow_verifies(registry: LocalRegistry) -> None:
    """Through a Bearer gate, the client gets a pull token with basic credentials and verifies."""
    push_complete(registry, "bearer")
    with bearer_gate(registry.host) as (gate, tokens):
        report = await verify_index(f"{gate}/bearer:v1", ["linux/amd64", "linux/arm64"],
                                    CREDENTIALS)
    assert report.ok, report.table()
    assert tokens.grants == [("repository:bearer:pull", True)]  # one token, reused


async def test_bearer_wrong_password_is_refused(registry: LocalRegistry) -> None:
    """The token service refusing the credentials is AuthRefusedError, without the password."""
    push_complete(registry, "bearer-wrong")
    wrong = Credentials.of(USER, "wrong-" + PASSWORD)
    with (
        bearer_gate(registry.host) as (gate, tokens),
        pytest.raises(AuthRefusedError, match="token service") as caught,
    ):
        await verify_index(f"{gate}/bearer-wrong:v1", ["linux/amd64"], wrong)
    assert tokens.grants == [("repository:bearer-wrong:pull", False)]
    assert_no_secret(str(caught.value), wrong.password.get_secret_value())


async def test_bearer_push_scope_for_tag_moves(registry: LocalRegistry) -> None:
    """move_tags through the Bearer gate asks for a pull,push token and moves the tag."""
    digest = push_complete(registry, "bearer-tags")
    with bearer_gate(registry.host) as (gate, tokens):
        moved = await move_tags(f"{gate}/bearer-tags@{digest}", ["latest"], CREDENTIALS)
    assert [m.digest for m in moved] == [digest]
    assert ("repository:bearer-tags:pull,push", True) in tokens.grants
    assert Pusher(registry.host).tag_digest("bearer-tags", "latest") == digest


async def test_tag_move_is_confirmed_by_reading_back() -> None:
    """A tag that resolves elsewhere right after the PUT (another publish moved it too) is
    returned with the digest it names now, for the gate to say which index holds it."""
    other = "sha256:" + "0" * 64
    script = [OK, Reply(404), Reply(201),
              Reply(200, b"", (("Docker-Content-Digest", other),))]
    with scripted_registry(script) as (host, record):
        moved = await move_tags(f"{host}/app@{sha256_digest(MANIFEST)}", ["latest"],
                                CREDENTIALS, retry=FAST)
    assert [(m.tag, m.digest, m.previous, m.now) for m in moved] == [
        ("latest", sha256_digest(MANIFEST), None, other)]
    assert [method for method, _, _ in record.requests] == ["GET", "HEAD", "PUT", "HEAD"]
