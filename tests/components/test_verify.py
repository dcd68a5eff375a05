"""verify_index and `python -m pipelines.verify` against a real local registry, one fault each."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipelines.registry.client import DOCKER_MANIFEST_LIST, OCI_INDEX, AuthRefusedError
from pipelines.registry.credentials import Credentials
from pipelines.registry.verify import verify_index
from tests.components.registry import (
    PASSWORD,
    USER,
    LocalRegistry,
    Pusher,
    assert_no_secret,
    running_registry,
)
from tests.conftest import REPO

pytestmark = pytest.mark.registry

CREDENTIALS = Credentials.of(USER, PASSWORD)
PLATFORMS = ("linux/amd64", "linux/arm64")


@dataclass(frozen=True)
class Case:
    """A way to build an image in the registry, and what verification must say about it."""

    build: Callable[[Pusher, str], str]  # pushes into a repository, returns the reference path
    ok: bool
    sentence: str  # a fragment of the summary sentence
    docker_types: bool = False


def complete(p: Pusher, repo: str) -> str:
    p.index(repo, "v1", [p.image(repo, "linux/amd64"), p.image(repo, "linux/arm64")])
    return f"{repo}:v1"


def by_digest(p: Pusher, repo: str) -> str:
    digest = p.index(repo, "v1", [p.image(repo, "linux/amd64"), p.image(repo, "linux/arm64")])
    return f"{repo}@{digest}"


def missing_platform(p: Pusher, repo: str) -> str:
    p.index(repo, "v1", [p.image(repo, "linux/amd64")])
    return f"{repo}:v1"


def same_digest(p: Pusher, repo: str) -> str:
    amd64 = p.image(repo, "linux/amd64")
    p.index(repo, "v1", [amd64, {**amd64, "platform": {"os": "linux", "architecture": "arm64"}}])
    return f"{repo}:v1"


def twice(p: Pusher, repo: str) -> str:
    entries = [p.image(repo, "linux/amd64"), p.image(repo, "linux/arm64"),
               p.image(repo, "linux/amd64", layers=1)]
    p.index(repo, "v1", entries)
    return f"{repo}:v1"


def child_deleted(p: Pusher, repo: str) -> str:
    arm64 = p.image(repo, "linux/arm64")
    p.index(repo, "v1", [p.image(repo, "linux/amd64"), arm64])
    p.delete_manifest(repo, arm64["digest"])
    return f"{repo}:v1"


def layer_deleted(p: Pusher, repo: str) -> str:
    arm64 = p.image(repo, "linux/arm64")
    p.index(repo, "v1", [p.image(repo, "linux/amd64"), arm64])
    p.delete_blob(repo, p.layers_of[arm64["digest"]][1])
    return f"{repo}:v1"


def wrong_architecture(p: Pusher, repo: str) -> str:
    arm64 = p.image(repo, "linux/arm64", config_platform="linux/amd64")
    p.index(repo, "v1", [p.image(repo, "linux/amd64"), arm64])
    return f"{repo}:v1"


def with_attestations(p: Pusher, repo: str) -> str:
    amd64, arm64 = p.image(repo, "linux/amd64"), p.image(repo, "linux/arm64")
    p.index(repo, "v1", [amd64, arm64, p.attestation(repo, amd64), p.attestation(repo, arm64)])
    return f"{repo}:v1"


def attestations_only_for_missing(p: Pusher, repo: str) -> str:
    amd64 = p.image(repo, "linux/amd64")
    p.index(repo, "v1", [amd64, p.attestation(repo, amd64), p.attestation(repo, amd64)])
    return f"{repo}:v1"


def with_extra_platform(p: Pusher, repo: str) -> str:
    entries = [p.image(repo, "linux/amd64"), p.image(repo, "linux/arm64"),
               p.image(repo, "linux/arm/v7")]
    p.index(repo, "v1", entries)
    return f"{repo}:v1"


def single_manifest(p: Pusher, repo: str) -> str:
    p.image(repo, "linux/amd64", tag="v1")
    return f"{repo}:v1"


def absent(p: Pusher, repo: str) -> str:
    p.image(repo, "linux/amd64", tag="other")
    return f"{repo}:v1"


CASES = {
    "complete": Case(complete, True, "verified at sha256:"),
    "by-digest": Case(by_digest, True, "verified at sha256:"),
    "docker-list": Case(complete, True, "verified at sha256:", docker_types=True),
    "attestations": Case(with_attestations, True, "verified at sha256:"),
    "extra-platform": Case(with_extra_platform, True, "verified at sha256:"),
    "missing-platform": Case(missing_platform, False, "linux/arm64 is missing from the index"),
    "docker-list-missing": Case(missing_platform, False, "linux/arm64 is missing from the index",
                                docker_types=True),
    "attestations-not-counted": Case(attestations_only_for_missing, False,
                                     "linux/arm64 is missing from the index"),
    "same-digest": Case(same_digest, False, "linux/amd64 and linux/arm64 share the manifest"),
    "platform-twice": Case(twice, False, "linux/amd64 appears 2 times in the index"),
    "child-404": Case(child_deleted, False,
                      "of linux/arm64 is missing from the registry (HTTP 404)"),
    "layer-missing": Case(layer_deleted, False, "of linux/arm64 is missing from the registry"),
    "config-disagrees": Case(wrong_architecture, False,
                             "the config of linux/arm64 says linux/amd64"),
    "single-manifest": Case(single_manifest, False,
                            "is a single-platform image manifest, not an index"),
    "tag-absent": Case(absent, False, "the registry has no manifest for"),
}


def build(registry: LocalRegistry, name: str, suffix: str) -> str:
    """Push case `name` into its own repository; return the full reference."""
    case = CASES[name]
    pusher = Pusher(registry.host, docker_types=case.docker_types)
    return f"{registry.host}/{case.build(pusher, f'{name}-{suffix}')}"


@pytest.mark.parametrize("name", CASES)
async def test_verify_index_api(registry: LocalRegistry, name: str) -> None:
    """verify_index reports `ok` and the expected sentence for each way an image can be built."""
    case = CASES[name]
    report = await verify_index(build(registry, name, "api"), PLATFORMS, CREDENTIALS)
    assert report.ok is case.ok, report.table()
    assert case.sentence in report.summary(), report.summary()
    wanted_type = DOCKER_MANIFEST_LIST if case.docker_types else OCI_INDEX
    if name not in {"single-manifest", "tag-absent"}:
        assert report.media_type == wanted_type


async def test_attestations_are_ignored_not_counted(registry: LocalRegistry) -> None:
    """Attestation entries are counted as ignored and get no platform row."""
    report = await verify_index(build(registry, "attestations", "rows"), PLATFORMS, CREDENTIALS)
    assert report.attestations_ignored == 2
    assert [row.platform for row in report.rows] == list(PLATFORMS)
    assert all(row.layers == 2 and row.size > 0 for row in report.rows)


async def test_wrong_password_is_refused(registry: LocalRegistry) -> None:
    """Wrong credentials raise AuthRefusedError (exit 2) whose sentence holds no password."""
    wrong = Credentials.of(USER, "not-the-" + PASSWORD)
    with pytest.raises(AuthRefusedError) as caught:
        await verify_index(build(registry, "complete", "auth"), PLATFORMS, wrong)
    assert caught.value.exit_code == 2
    assert "refused user 'pipeline' access" in str(caught.value)
    seen = f"{caught.value} {caught.value!r}"
    assert_no_secret(seen, PASSWORD, wrong.password.get_secret_value())


@pytest.mark.parametrize("expected", ["linux/arm64", "linux/arm64/v8"])
@pytest.mark.parametrize("config", ["linux/arm64", "linux/arm64/v8"])
@pytest.mark.parametrize("spelled", ["linux/arm64", "linux/arm64/v8"])
async def test_arm64_variant_spellings_are_the_same_platform(
    registry: LocalRegistry, spelled: str, config: str, expected: str
) -> None:
    """An index entry and a config with or without variant v8 verify for either expectation."""
    pusher = Pusher(registry.host)
    repo = f"variant-{spelled.count('/')}-{config.count('/')}-{expected.count('/')}"
    arm64 = pusher.image(repo, spelled, config_platform=config)
    pusher.index(repo, "v1", [pusher.image(repo, "linux/amd64"), arm64])
    report = await verify_index(f"{registry.host}/{repo}:v1", ["linux/amd64", expected],
                                CREDENTIALS)
    assert report.ok, report.table()
    assert [(row.platform, row.status) for row in report.rows] == [
        ("linux/amd64", "ok"), ("linux/arm64", "ok")]


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run `python -m pipelines.verify` and check what must hold for every run."""
    done = subprocess.run([sys.executable, "-m", "pipelines.verify", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    output = done.stdout + done.stderr
    assert "Traceback" not in output, output
    assert_no_secret(output)
    return done


def cli_env(tmp_path: Path, *, login: bool = True) -> dict[str, str]:
    """An environment with (or without) the registry login and an empty Docker config."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NODEPIPE_REGISTRY_")}
    env["DOCKER_CONFIG"] = str(tmp_path)
    if login:
        env |= {"NODEPIPE_REGISTRY_USERNAME": USER, "NODEPIPE_REGISTRY_PASSWORD": PASSWORD}
    return env


@pytest.mark.parametrize("name", CASES)
def test_verify_cli(registry: LocalRegistry, name: str, tmp_path: Path) -> None:
    """The CLI exits 0 or 1 with the case's sentence, JSON on stdout and no traceback."""
    case = CASES[name]
    ref = build(registry, name, "cli")
    done = run_cli(ref, "--platform", ",".join(PLATFORMS), "--format", "json",
                   env=cli_env(tmp_path))
    assert done.returncode == (0 if case.ok else 1), done.stderr
    assert json.loads(done.stdout)["ok"] is case.ok
    if case.ok:
        assert done.stderr.strip() == "", done.stderr
    else:
        assert f"ERROR {ref} is not verified: " in done.stderr
        assert case.sentence in done.stderr


@pytest.mark.parametrize("spelled", ["linux/arm64", "linux/arm64/v8"])
def test_cli_accepts_both_arm64_spellings(
    registry: LocalRegistry, spelled: str, tmp_path: Path
) -> None:
    """`--platform linux/arm64/v8` verifies an index whose arm64 entry has or lacks the variant."""
    pusher = Pusher(registry.host)
    repo = f"variant-cli-{spelled.count('/')}"
    pusher.index(repo, "v1", [pusher.image(repo, "linux/amd64"), pusher.image(repo, spelled)])
    done = run_cli(f"{registry.host}/{repo}:v1", "--platform", "linux/amd64,linux/arm64/v8",
                   "--format", "json", env=cli_env(tmp_path))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["ok"] is True


def test_cli_table_names_each_platform(registry: LocalRegistry, tmp_path: Path) -> None:
    """The table format prints one row per platform and the result line."""
    ref = build(registry, "layer-missing", "table")
    done = run_cli(ref, "--platform", "linux/amd64", "--platform", "linux/arm64",
                   env=cli_env(tmp_path))
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert any(line.startswith("linux/amd64") and " ok " in line for line in lines)
    assert any(line.startswith("linux/arm64") and " failed " in line for line in lines)
    assert lines[-1] == "result: NOT verified"


def test_cli_expects_the_pipeline_platforms_by_default(
    registry: LocalRegistry, tmp_path: Path
) -> None:
    """Without --platform, verify expects linux/amd64 and linux/arm64, as the build makes."""
    done = run_cli(build(registry, "complete", "defaults"), "--format", "json",
                   env=cli_env(tmp_path))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["expected"] == ["linux/amd64", "linux/arm64"]


def test_cli_wrong_password_exits_2(registry: LocalRegistry, tmp_path: Path) -> None:
    """Wrong credentials exit 2 with the refusal sentence and never print either password."""
    env = cli_env(tmp_path) | {"NODEPIPE_REGISTRY_PASSWORD": PASSWORD + "-wrong"}
    done = run_cli(build(registry, "complete", "cli-auth"), "--platform", "linux/amd64", env=env)
    assert done.returncode == 2
    assert "refused user 'pipeline' access" in done.stderr
    assert_no_secret(done.stdout + done.stderr, PASSWORD + "-wrong")


def test_cli_without_credentials_exits_2(registry: LocalRegistry, tmp_path: Path) -> None:
    """No login anywhere: exit 2, and the sentence says where credentials come from."""
    done = run_cli(build(registry, "complete", "cli-anon"), "--platform", "linux/amd64",
                   env=cli_env(tmp_path, login=False))
    assert done.returncode == 2
    assert "wants credentials" in done.stderr and "NODEPIPE_REGISTRY_USERNAME" in done.stderr


@pytest.mark.parametrize("style", ["auth", "username-password"])
def test_cli_uses_docker_config(registry: LocalRegistry, tmp_path: Path, style: str) -> None:
    """Credentials from $DOCKER_CONFIG/config.json (both entry styles) are used."""
    entry = ({"auth": base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}
             if style == "auth" else {"username": USER, "password": PASSWORD})
    (tmp_path / "config.json").write_text(json.dumps({"auths": {registry.host: entry}}))
    done = run_cli(build(registry, "complete", f"cli-{style}"), "--platform", "linux/amd64",
                   env=cli_env(tmp_path, login=False))
    assert done.returncode == 0, done.stderr


def test_cli_unreachable_registry_exits_2(tmp_path: Path) -> None:
    """A registry that was pushed to and then stopped gives exit 2 and 'cannot reach'."""
    with running_registry(tmp_path / "stopped") as stopped:
        ref = f"{stopped.host}/{complete(Pusher(stopped.host), 'gone')}"
    done = run_cli(ref, "--platform", "linux/amd64", env=cli_env(tmp_path))
    assert done.returncode == 2
    assert f"ERROR cannot reach registry {stopped.host}: ConnectError" in done.stderr
    assert "(after 4 attempts)" in done.stderr


@pytest.mark.parametrize(
    ("args", "sentence"),
    [
        (["Not A/Reference!", "--platform", "linux/amd64"], "invalid image reference"),
        (["127.0.0.1:1/app:v1", "--platform", "linux/sparc"], "platform 'linux/sparc'"),
    ],
)
def test_cli_bad_input_exits_2(args: list[str], sentence: str, tmp_path: Path) -> None:
    """A malformed reference or platform exits 2 with one sentence, before any network call."""
    done = run_cli(*args, env=cli_env(tmp_path))
    assert done.returncode == 2
    assert done.stderr.startswith("ERROR ") and sentence in done.stderr
