"""Sizes per platform read from a multi-platform OCI archive (layout as Dagger exports it)."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

from pipelines.archive import platform_sizes


def write_archive(path: Path) -> None:
    """An OCI layout tar: index.json -> image index -> two manifests with config and layers."""
    blobs: dict[str, bytes] = {}

    def add(doc: dict) -> dict:
        data = json.dumps(doc).encode()
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        blobs[digest] = data
        return {"digest": digest, "size": len(data), "mediaType": doc.get("mediaType", "")}

    entries = []
    for arch, layers in (("amd64", [100, 200]), ("arm64", [300, 5])):
        manifest = add({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                        "config": {"size": 10, "digest": "sha256:c"},
                        "layers": [{"size": n, "digest": f"sha256:{n}"} for n in layers]})
        entries.append({**manifest, "platform": {"os": "linux", "architecture": arch}})
    index = add({"mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries})
    files = {"index.json": json.dumps({"manifests": [index]}).encode(),
             **{f"blobs/sha256/{d.split(':')[1]}": b for d, b in blobs.items()}}
    with tarfile.open(path, "w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_sizes_per_platform(tmp_path: Path) -> None:
    """Each platform's size is its config plus its layers, following the nested index."""
    path = tmp_path / "image.oci.tar"
    write_archive(path)
    assert platform_sizes(path) == {"linux/amd64": 310, "linux/arm64": 315}
