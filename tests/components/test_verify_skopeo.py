"""verify_index on images written by another tool: skopeo copies (and converts) our test index."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from pipelines.registry.client import DOCKER_MANIFEST_LIST, OCI_INDEX
from pipelines.registry.credentials import Credentials
from pipelines.registry.verify import verify_index
from tests.components.registry import PASSWORD, USER, LocalRegistry, Pusher, running_registry
from tests.conftest import require_program

pytestmark = pytest.mark.registry

CREDENTIALS = Credentials.of(USER, PASSWORD)
PLATFORMS = ("linux/amd64", "linux/arm64")


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRegistry]:
    """One real docker-registry with htpasswd auth, holding a complete two-platform index."""
    with running_registry(tmp_path_factory.mktemp("registry")) as started:
        pusher = Pusher(started.host)
        pusher.index("source", "v1", [pusher.image("source", p) for p in PLATFORMS])
        yield started


def skopeo_copy(registry: LocalRegistry, destination: str, *options: str) -> None:
    """Copy source:v1 to `destination` in the same registry with skopeo."""
    skopeo = require_program("skopeo")
    login = f"{USER}:{PASSWORD}"
    done = subprocess.run(
        [skopeo, "copy", *options, "--src-creds", login, "--dest-creds", login,
         "--src-tls-verify=false", "--dest-tls-verify=false",
         f"docker://{registry.host}/source:v1", f"docker://{registry.host}/{destination}"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    # Not check=True: CalledProcessError would print the command line and its password.
    assert done.returncode == 0, done.stderr.replace(PASSWORD, "***")


@pytest.mark.parametrize(
    ("options", "media_type"),
    [(("--all",), OCI_INDEX), (("--all", "--format", "v2s2"), DOCKER_MANIFEST_LIST)],
    ids=["oci-index", "converted-to-docker-list"],
)
async def test_skopeo_written_index_verifies(
    registry: LocalRegistry, options: tuple[str, ...], media_type: str
) -> None:
    """An index skopeo pushed (as is, or converted to a Docker manifest list) verifies."""
    name = f"copied-{media_type.rsplit('.', 2)[-2]}"
    skopeo_copy(registry, f"{name}:v1", *options)
    report = await verify_index(f"{registry.host}/{name}:v1", PLATFORMS, CREDENTIALS)
    assert report.ok, report.table()
    assert report.media_type == media_type


async def test_skopeo_single_platform_copy_is_refused(registry: LocalRegistry) -> None:
    """skopeo copying one platform only leaves a single manifest: not verified, own sentence."""
    skopeo_copy(registry, "one-arch:v1", "--override-arch", "arm64")
    report = await verify_index(f"{registry.host}/one-arch:v1", PLATFORMS, CREDENTIALS)
    assert not report.ok
    assert "is a single-platform image manifest, not an index" in report.summary()
