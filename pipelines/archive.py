"""Reading an exported multi-platform OCI archive: the size of each platform's image."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Any

INDEX_TYPES = ("application/vnd.oci.image.index.v1+json",
               "application/vnd.docker.distribution.manifest.list.v2+json")


def platform_sizes(path: Path) -> dict[str, int]:
    """Compressed size (config plus layers) of each platform's image in the archive at `path`."""
    with tarfile.open(path) as archive:

        def blob(digest: str) -> dict[str, Any]:
            member = archive.extractfile(f"blobs/{digest.replace(':', '/', 1)}")
            assert member is not None, f"{digest} is not a file in the archive"
            data: dict[str, Any] = json.load(member)
            return data

        top = archive.extractfile("index.json")
        assert top is not None, "the archive has no index.json"
        entries: list[dict[str, Any]] = json.load(top)["manifests"]
        # Dagger writes index.json -> one nested image index -> one manifest per platform.
        while len(entries) == 1 and entries[0].get("mediaType") in INDEX_TYPES:
            entries = blob(entries[0]["digest"])["manifests"]
        sizes = {}
        for entry in entries:
            platform = entry.get("platform") or {}
            name = "/".join(p for p in (platform.get("os"), platform.get("architecture"),
                                        platform.get("variant")) if p)
            manifest = blob(entry["digest"])
            sizes[name] = manifest["config"]["size"] + sum(x["size"] for x in manifest["layers"])
        return sizes
