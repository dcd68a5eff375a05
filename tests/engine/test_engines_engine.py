"""Two engines on one machine: linux/arm64 mapped to a second engine (`--engine`), linux/amd64
on the default one. Each target is built, checked and pushed on its own engine, and one index
is assembled, verified and tagged; an export merges both engines' images into one archive.

The second engine's runner host comes from NODEPIPE_TEST_SECOND_ENGINE (e.g.
tcp://127.0.0.1:8600); without it the tests skip, as they do in CI. When the engines' logs are
named (NODEPIPE_TEST_SECOND_ENGINE_LOG, NODEPIPE_TEST_DEFAULT_ENGINE_LOG), the engines' own
records of the commands they ran show where each target's work went. On a single amd64
machine both engines are amd64, so arm64 runs cross-built and its checks emulated there: the
routing is what is tested, not the speed. Two engines sharing one network namespace must also
share iptables' lock file (XTABLES_LOCKFILE), or their CNI setups race and a container fails
to start with `iptables: Resource temporarily unavailable` (seen: a probe reported as exited).
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pipelines.publish.archive import platform_sizes
from tests.components.registry import PASSWORD, USER, LocalRegistry, assert_no_secret
from tests.engine.test_pipeline_engine import archive_platforms, build, index_platforms, tags_of

SECOND = os.environ.get("NODEPIPE_TEST_SECOND_ENGINE", "")
pytestmark = [
    pytest.mark.engine,
    pytest.mark.skipif(not SECOND, reason="NODEPIPE_TEST_SECOND_ENGINE is not set: start a "
                       "second Dagger engine and set it to its runner host, e.g. "
                       "tcp://127.0.0.1:8600"),
]
ARM_SMOKE = "smoke.js --arch arm64"
AMD_SMOKE = "smoke.js --arch x64"


class EngineLog:
    """What an engine's log file gained while the test ran (nothing when it is not named)."""

    def __init__(self, variable: str) -> None:
        self.path = Path(os.environ[variable]) if os.environ.get(variable) else None
        self.start = self.path.stat().st_size if self.path else 0

    def since(self) -> str | None:
        """The log lines written since the start, or None without a log."""
        if self.path is None:
            return None
        with self.path.open("rb") as log:
            log.seek(self.start)
            return log.read().decode(errors="replace")


@pytest.fixture
def logs() -> Iterator[tuple[EngineLog, EngineLog]]:
    """The default and the second engine's logs, from now on."""
    yield EngineLog("NODEPIPE_TEST_DEFAULT_ENGINE_LOG"), EngineLog(
        "NODEPIPE_TEST_SECOND_ENGINE_LOG")


def manifest(registry: LocalRegistry, repository: str, reference: str) -> tuple[dict, str]:
    """The manifest or index at `reference`, and its digest."""
    accept = ("application/vnd.oci.image.index.v1+json, "
              "application/vnd.oci.image.manifest.v1+json")
    answer = httpx.get(f"http://{registry.host}/v2/{repository}/manifests/{reference}",
                       auth=(USER, PASSWORD), timeout=10, headers={"Accept": accept})
    answer.raise_for_status()
    return answer.json(), answer.headers["docker-content-digest"]


def assert_routed(logs: tuple[EngineLog, EngineLog]) -> None:
    """The second engine ran the arm64 checks and none of amd64's; the default ran amd64's."""
    default, second = (log.since() for log in logs)
    if second is not None:
        assert ARM_SMOKE in second, "the second engine ran no arm64 smoke test"
        assert AMD_SMOKE not in second, "the second engine ran the amd64 smoke test"
        print(f"second engine ran: {second.count('container done')} containers, "
              f"{second.count(ARM_SMOKE)} arm64 smoke runs, {second.count(AMD_SMOKE)} amd64")
    if default is not None:
        assert AMD_SMOKE in default, "the default engine ran no amd64 smoke test"


def assert_engines_in_report(data: dict[str, object]) -> None:
    """The report names each target's engine and the platform that engine reported."""
    targets = {t["platform"]: t for t in data["plan"]["targets"]}  # type: ignore[index]
    assert targets["linux/arm64"]["engine"] == SECOND
    assert targets["linux/amd64"]["engine"] == "default"
    assert data["plan"]["engines"] == {"linux/arm64": SECOND}  # type: ignore[index]
    for platform in targets:
        assert {data["checks"][platform][k]["ok"]  # type: ignore[index]
                for k in ("smoke", "hygiene", "probe")} == {True}


async def test_two_engines_publish_one_verified_index(
    engine: None, tmp_path: Path, registry: LocalRegistry, logs: tuple[EngineLog, EngineLog],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """arm64 is built, checked and pushed by digest on the second engine, amd64 on the
    default; one index of both is staged, verified and tagged, and each platform's image is
    the one its engine pushed."""
    repository = f"team/two-engines-{secrets.token_hex(3)}"
    image = f"{registry.host}/{repository}"
    output, report = await build(
        tmp_path, publish=True, image=image, tags="1.0.0,latest", registry_username=USER,
        registry_password=PASSWORD, engines=[f"linux/arm64={SECOND}"])
    assert output.startswith(f"{image}@sha256:")
    assert tags_of(registry, repository)[:2] == ["1.0.0", "latest"]
    assert index_platforms(registry, repository, "latest") == ["linux/amd64", "linux/arm64/v8"]
    staging = report.staging.split(":", 2)[-1].split("@")[0]
    assert {f"{staging}-linux-amd64", f"{staging}-linux-arm64"} <= set(tags_of(registry,
                                                                              repository))
    index, _ = manifest(registry, repository, "latest")
    for entry in index["manifests"]:
        arch = entry["platform"]["architecture"]
        pushed, digest = manifest(registry, repository, f"{staging}-linux-{arch}")
        assert entry["digest"] in (digest, *(m["digest"] for m in pushed.get("manifests", [])))
    data = report.to_json()
    assert_engines_in_report(data)
    print("durations:", json.dumps(report.durations, sort_keys=True))
    print("published:", output, "staged:", report.staging)
    assert_routed(logs)
    captured = capsys.readouterr()
    assert_no_secret(captured.out + captured.err + json.dumps(data))
    print(captured.out[-2000:])


async def test_two_engines_export_one_archive(
    engine: None, tmp_path: Path, logs: tuple[EngineLog, EngineLog]
) -> None:
    """Each engine exports its own image; the archive merges both under one index."""
    output, report = await build(tmp_path, engines=[f"linux/arm64={SECOND}"])
    platforms = sorted("/".join(p.get(k, "") for k in ("os", "architecture", "variant")
                                ).strip("/") for p in archive_platforms(output))
    assert platforms == ["linux/amd64", "linux/arm64/v8"]
    assert set(platform_sizes(Path(output))) == {"linux/amd64", "linux/arm64"}
    assert_engines_in_report(report.to_json())
    markdown = report.to_markdown()
    assert f"on {SECOND} |" in markdown, markdown
    print(markdown)
    assert_routed(logs)
