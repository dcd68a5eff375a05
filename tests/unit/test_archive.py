"""Sizes per platform read from a multi-platform OCI archive (layout as Dagger exports it), and
the arm64 variant written into its image index."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

from pipelines.publish.archive import (
    add_arm64_variant,
    merge_archives,
    platform_manifests,
    platform_sizes,
)

PLATFORMS = (("amd64", "", [100, 200]), ("arm64", "", [300, 5]))


def sha256(data: bytes) -> str:
    """The OCI digest of `data`."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def write_archive(path: Path, platforms=PLATFORMS, *, single: bool = False) -> None:
    """An OCI layout tar: index.json -> image index -> manifests with config and layers; with
    `single`, as Dagger exports one image: index.json -> the manifest, no platform, the
    platform in the config."""
    blobs: dict[str, bytes] = {}

    def add(doc: dict) -> dict:
        data = json.dumps(doc).encode()
        blobs[sha256(data)] = data
        return {"digest": sha256(data), "size": len(data), "mediaType": doc.get("mediaType", "")}

    entries = []
    for arch, variant, layers in platforms:
        config = add({"architecture": arch, "os": "linux"}) if single else {
            "size": 10, "digest": "sha256:c"}
        manifest = add({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                        "config": {"size": 10, "digest": config["digest"]},
                        "layers": [{"size": n, "digest": f"sha256:{n}"} for n in layers]})
        platform = {"os": "linux", "architecture": arch}
        if variant:
            platform["variant"] = variant
        entries.append({**manifest, "platform": platform})
    index = add({"mediaType": "application/vnd.oci.image.index.v1+json", "schemaVersion": 2,
                 "manifests": entries})
    top = {"schemaVersion": 2, "manifests": [{**index, "annotations": {"x": "kept"}}]}
    if single:
        blobs.pop(index["digest"])
        (entry,) = entries
        top = {"schemaVersion": 2, "manifests": [{k: v for k, v in entry.items()
                                                  if k != "platform"}]}
    files = {"oci-layout": b'{"imageLayoutVersion":"1.0.0"}',
             "index.json": json.dumps(top).encode(),
             **{f"blobs/sha256/{d.split(':')[1]}": b for d, b in blobs.items()}}
    with tarfile.open(path, "w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def read_all(path: Path) -> dict[str, bytes]:
    """Every file of the tar at `path`, by name."""
    with tarfile.open(path) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]


def test_a_single_platform_export_is_named_by_its_config(tmp_path: Path) -> None:
    """Dagger lists one image with no platform: its config says which (not `?/?`)."""
    path = tmp_path / "image.oci.tar"
    write_archive(path, [("arm64", None, [100, 200])], single=True)
    assert list(platform_sizes(path)) == ["linux/arm64"]


def test_sizes_per_platform(tmp_path: Path) -> None:
    """Each platform's size is its config plus its layers, following the nested index."""
    path = tmp_path / "image.oci.tar"
    write_archive(path)
    assert platform_sizes(path) == {"linux/amd64": 310, "linux/arm64": 315}


def test_arm64_gets_variant_v8_with_right_digests(tmp_path: Path) -> None:
    """arm64 gains variant v8 in a new index blob; index.json names its true digest and size."""
    path = tmp_path / "image.oci.tar"
    write_archive(path)
    before = read_all(path)
    old_index = json.loads(before["index.json"])["manifests"][0]
    old_name = f"blobs/sha256/{old_index['digest'].split(':')[1]}"
    assert add_arm64_variant(path) is True
    after = read_all(path)
    top = json.loads(after["index.json"])
    [entry] = top["manifests"]
    blob = after[f"blobs/sha256/{entry['digest'].split(':')[1]}"]
    assert entry["digest"] == sha256(blob) and entry["size"] == len(blob)
    assert entry["annotations"] == {"x": "kept"}
    assert entry["mediaType"] == old_index["mediaType"]
    index = json.loads(blob)
    assert [m["platform"] for m in index["manifests"]] == [
        {"os": "linux", "architecture": "amd64"},
        {"os": "linux", "architecture": "arm64", "variant": "v8"},
    ]
    old_blob = json.loads(before[old_name])
    assert [{k: v for k, v in m.items() if k != "platform"} for m in index["manifests"]] == [
        {k: v for k, v in m.items() if k != "platform"} for m in old_blob["manifests"]]
    assert old_name not in after  # the old index blob is dropped
    for name, data in before.items():  # every other file is carried over byte for byte
        if name not in ("index.json", old_name):
            assert after[name] == data, name
    for name, data in after.items():  # every blob is stored under its own digest
        if name.startswith("blobs/sha256/"):
            assert sha256(data) == "sha256:" + name.rsplit("/", 1)[1], name
    assert platform_sizes(path) == {"linux/amd64": 310, "linux/arm64": 315}
    assert add_arm64_variant(path) is False  # a second pass finds nothing to do


def test_already_v8_archive_is_left_byte_identical(tmp_path: Path) -> None:
    """An index whose arm64 entry already says v8 is not rewritten: same bytes on disk."""
    path = tmp_path / "image.oci.tar"
    write_archive(path, (("amd64", "", [1]), ("arm64", "v8", [2])))
    before = path.read_bytes()
    assert add_arm64_variant(path) is False
    assert path.read_bytes() == before


def test_amd64_only_archive_is_left_byte_identical(tmp_path: Path) -> None:
    """An index with no arm64 entry is not rewritten: same bytes on disk, no stray file."""
    path = tmp_path / "image.oci.tar"
    write_archive(path, (("amd64", "", [1, 2]),))
    before = path.read_bytes()
    assert add_arm64_variant(path) is False
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["image.oci.tar"]


def test_archives_of_two_engines_merge_into_one_index(tmp_path: Path) -> None:
    """Each engine's archive holds its own platform; the merge lists both under one index
    (arm64 with its v8 variant), keeps every blob once, and drops the parts' own indexes."""
    amd, arm = tmp_path / "amd.tar", tmp_path / "arm.tar"
    write_archive(amd, (PLATFORMS[0],), single=True)
    write_archive(arm, (PLATFORMS[1],), single=True)
    merged = tmp_path / "image.tar"
    merge_archives([amd, arm], merged)
    assert platform_sizes(merged) == {"linux/amd64": 310, "linux/arm64": 315}
    files = read_all(merged)
    (entry,) = json.loads(files["index.json"])["manifests"]
    index = json.loads(files[f"blobs/sha256/{entry['digest'].split(':')[1]}"])
    assert [m["platform"] for m in index["manifests"]] == [
        {"os": "linux", "architecture": "amd64"},
        {"os": "linux", "architecture": "arm64", "variant": "v8"}]
    parts = {**read_all(amd), **read_all(arm)}
    manifests = {m["digest"].split(":")[1] for m in index["manifests"]}
    assert manifests <= {name.rsplit("/", 1)[-1] for name in files}
    blobs = [name for name in files if name.startswith("blobs/")]
    assert len(blobs) == len(set(blobs)) == 5  # two configs, two manifests, the merged index
    assert set(blobs) - set(parts) == {f"blobs/sha256/{entry['digest'].split(':')[1]}"}
    assert files["oci-layout"] == b'{"imageLayoutVersion":"1.0.0"}'


def test_the_index_carries_the_labels_as_annotations(tmp_path: Path) -> None:
    """The archive's image index gets the OCI labels as annotations, once: a second pass with
    the same annotations changes nothing."""
    path = tmp_path / "image.oci.tar"
    write_archive(path, (("amd64", "", [1]), ("arm64", "v8", [2])))
    labels = {"org.opencontainers.image.revision": "a" * 40}
    assert add_arm64_variant(path, labels) is True
    files = read_all(path)
    (entry,) = json.loads(files["index.json"])["manifests"]
    index = json.loads(files[f"blobs/sha256/{entry['digest'].split(':')[1]}"])
    assert index["annotations"] == labels
    assert add_arm64_variant(path, labels) is False


def test_platform_manifests_name_each_platforms_descriptor(tmp_path: Path) -> None:
    """Each platform's index entry, arm64/v8 named as the plan names it."""
    path = tmp_path / "image.oci.tar"
    write_archive(path, (("amd64", "", [1]), ("arm64", "v8", [2])))
    found = platform_manifests(path)
    assert sorted(found) == ["linux/amd64", "linux/arm64"]
    assert found["linux/arm64"]["digest"].startswith("sha256:")
