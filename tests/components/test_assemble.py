"""The index of images pushed by digest from several engines, assembled in a real registry
(Debian's docker-registry with auth) and checked by the same verification the gate runs."""

from __future__ import annotations

import pytest

from pipelines.platforms import Platform
from pipelines.registry.assemble import assemble_index
from pipelines.registry.client import RegistryResponseError
from pipelines.registry.credentials import Credentials
from pipelines.registry.verify import verify_index
from tests.components.registry import PASSWORD, USER, LocalRegistry, Pusher

pytestmark = pytest.mark.registry

CREDENTIALS = Credentials.of(USER, PASSWORD)
AMD64, ARM64 = Platform.parse("linux/amd64"), Platform.parse("linux/arm64")


async def test_one_index_of_manifests_and_of_one_image_indexes_verifies(
    registry: LocalRegistry,
) -> None:
    """amd64 pushed as a plain manifest, arm64 as an index of one image (as an engine may
    push it): the assembled index lists both manifests, arm64 as arm64/v8, and verifies."""
    pusher, repo = Pusher(registry.host), "team/assembled"
    amd = pusher.image(repo, "linux/amd64", tag="stage-linux-amd64")
    arm = pusher.image(repo, "linux/arm64")
    arm_index = pusher.index(repo, "stage-linux-arm64", [arm])
    image = f"{registry.host}/{repo}"
    ref = await assemble_index(f"{image}:stage", [
        (AMD64, f"{image}:stage-linux-amd64@{amd['digest']}"),
        (ARM64, f"{image}:stage-linux-arm64@{arm_index}"),
    ], CREDENTIALS)
    assert ref.startswith(f"{image}:stage@sha256:")
    assert pusher.tag_digest(repo, "stage") == ref.rsplit("@", 1)[1]
    index = pusher.client.get(f"/v2/{repo}/manifests/stage", headers={
        "Accept": "application/vnd.oci.image.index.v1+json"}).json()
    assert [(m["digest"], m["platform"]) for m in index["manifests"]] == [
        (amd["digest"], {"architecture": "amd64", "os": "linux"}),
        (arm["digest"], {"architecture": "arm64", "os": "linux", "variant": "v8"})]
    report = await verify_index(ref, [AMD64, ARM64], CREDENTIALS)
    assert report.ok, report.summary()


async def test_an_image_pushed_elsewhere_is_refused(registry: LocalRegistry) -> None:
    """A platform's image in another repository cannot be referenced: one sentence."""
    pusher = Pusher(registry.host)
    amd = pusher.image("team/other", "linux/amd64")
    with pytest.raises(RegistryResponseError) as caught:
        await assemble_index(f"{registry.host}/team/mine:stage", [
            (AMD64, f"{registry.host}/team/other@{amd['digest']}")], CREDENTIALS)
    assert "the linux/amd64 image was pushed as" in str(caught.value)
