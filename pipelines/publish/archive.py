"""An exported multi-platform OCI archive: the size of each platform's image, and the arm64
variant written into its image index."""

from __future__ import annotations

import errno
import hashlib
import io
import json
import tarfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pipelines.errors import PipelineError
from pipelines.registry.index_checks import normalised
from pipelines.registry.variant import amended, encode

INDEX_TYPES = ("application/vnd.oci.image.index.v1+json",
               "application/vnd.docker.distribution.manifest.list.v2+json")
MANIFEST_TYPES = ("application/vnd.oci.image.manifest.v1+json",
                  "application/vnd.docker.distribution.manifest.v2+json")


def partial_paths(path: Path) -> list[Path]:
    """The files an export of `path` writes before the rename: `.NAME.partial`, its pieces
    (one per engine) and the variant fix's copy of it."""
    return [*sorted(path.parent.glob(f".{path.name}.partial*")),
            *sorted(path.parent.glob(f"..{path.name}.partial.variant"))]


def finish_archive(
    pieces: Sequence[Path], path: Path, annotations: Mapping[str, str] | None = None
) -> None:
    """Make the engines' exported `pieces` the one archive at `path` (its index carrying
    `annotations`), all or nothing: one piece gets arm64's variant, several are merged, and
    only a complete archive is renamed to `path`. A write that fails (a full disk) is one
    sentence, with nothing at `path` but what was there before."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        if len(pieces) == 1:
            pieces[0].replace(partial)
            add_arm64_variant(partial, annotations)
        else:
            merge_archives(pieces, partial, annotations)
        partial.replace(path)
    except OSError as error:
        reason = (error.strerror or str(error)).lower()
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            raise PipelineError(disk_full(path, reason), stage="export") from None
        raise PipelineError(f"cannot write the archive {path}: {reason}",
                            stage="export") from None
    finally:
        remove_partials(path)


def is_disk_full(message: str) -> bool:
    """Whether an error's text (the engine's, or the OS's) says the disk is full."""
    return any(words in message.lower() for words in ("no space left on device",
                                                      "disk quota exceeded"))


def disk_full(path: Path, reason: str) -> str:
    """The sentence of a full disk while writing the archive at `path`."""
    kept = "the previous archive there is unchanged" if path.exists() else "nothing is there"
    return (f"the disk holding {path.parent} is full ({reason}) while writing the archive "
            f"{path.name}: {kept}, and the partial files were removed; free some space or "
            "choose another --export-path")


def remove_partials(path: Path) -> None:
    """Remove what an unfinished export of `path` left beside it (never `path` itself)."""
    for leftover in partial_paths(path):
        leftover.unlink(missing_ok=True)


def platform_sizes(path: Path) -> dict[str, int]:
    """Compressed size (config plus layers) of each platform's image in the archive at `path`."""
    with tarfile.open(path) as archive:
        sizes = {}
        for name, entry in _platform_entries(archive):
            manifest = _blob(archive, entry["digest"])
            sizes[name] = manifest["config"]["size"] + sum(x["size"] for x in manifest["layers"])
        return sizes


def platform_manifests(path: Path) -> dict[str, dict[str, Any]]:
    """The index entry (descriptor) of each platform's image in the archive at `path`."""
    with tarfile.open(path) as archive:
        return dict(_platform_entries(archive))


def _platform_entries(archive: tarfile.TarFile) -> list[tuple[str, dict[str, Any]]]:
    """Each platform's index entry, named as the plan names it (linux/arm64/v8 is the target
    linux/arm64)."""
    top = archive.extractfile("index.json")
    assert top is not None, "the archive has no index.json"
    entries: list[dict[str, Any]] = json.load(top)["manifests"]
    # Dagger writes index.json -> one nested image index -> one manifest per platform.
    while len(entries) == 1 and entries[0].get("mediaType") in INDEX_TYPES:
        entries = _blob(archive, entries[0]["digest"])["manifests"]
    return [(str(normalised(*_platform_of(archive, entry))), entry) for entry in entries]


def _platform_of(archive: tarfile.TarFile, entry: dict[str, Any]) -> tuple[Any, Any, Any]:
    """(os, architecture, variant) of an index entry: its own `platform`, else (a
    single-platform export lists none) its image's config."""
    platform = entry.get("platform") or {}
    if not platform.get("architecture") and entry.get("mediaType") in MANIFEST_TYPES:
        platform = _blob(archive, _blob(archive, entry["digest"])["config"]["digest"])
    return platform.get("os"), platform.get("architecture"), platform.get("variant")


def _blob(archive: tarfile.TarFile, digest: str) -> dict[str, Any]:
    member = archive.extractfile(f"blobs/{digest.replace(':', '/', 1)}")
    assert member is not None, f"{digest} is not a file in the archive"
    data: dict[str, Any] = json.load(member)
    return data


def add_arm64_variant(path: Path, annotations: Mapping[str, str] | None = None) -> bool:
    """Rewrite the archive at `path` so its image index lists arm64 with `variant: v8` (and
    carries `annotations`): a new index blob, index.json pointing at it, the old blob gone.
    Returns whether anything changed; an archive that needs nothing (or is not laid out as
    Dagger writes it) is left untouched."""
    with tarfile.open(path) as archive:
        top = json.loads(_read(archive, "index.json") or b"{}")
        entries = top.get("manifests") or []
        if len(entries) != 1 or entries[0].get("mediaType") not in INDEX_TYPES:
            return False
        old_name = f"blobs/{entries[0]['digest'].replace(':', '/', 1)}"
        index = _read(archive, old_name)
        fixed = amended(json.loads(index), annotations) if index is not None else None
    if fixed is None:
        return False
    body = encode(fixed)
    digest = hashlib.sha256(body).hexdigest()
    top["manifests"] = [{**entries[0], "digest": f"sha256:{digest}", "size": len(body)}]
    replaced = {"index.json": (encode(top), "index.json"),
                old_name: (body, f"blobs/sha256/{digest}")}
    partial = path.with_name(f".{path.name}.variant")
    try:
        with tarfile.open(path) as archive, tarfile.open(partial, "w") as out:
            for member in archive:
                if member.name not in replaced:  # layers are streamed, never held in memory
                    out.addfile(member, archive.extractfile(member) if member.isfile() else None)
                    continue
                data, member.name = replaced[member.name]
                member.size = len(data)
                out.addfile(member, io.BytesIO(data))
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return True


def merge_archives(
    parts: Sequence[Path], path: Path, annotations: Mapping[str, str] | None = None
) -> None:
    """Write one multi-platform OCI archive at `path` holding every image of `parts` (archives
    Dagger exported, one per engine) under one image index, arm64 with its variant."""
    entries: list[dict[str, Any]] = []
    nested: set[str] = set()  # the parts' own index blobs, replaced by the merged one
    for part in parts:
        with tarfile.open(part) as archive:
            leaves, indexes = _leaf_entries(archive)
            entries += leaves
            nested |= indexes
    document = {"schemaVersion": 2, "mediaType": INDEX_TYPES[0], "manifests": entries}
    body = encode(amended(document, annotations) or document)
    digest = hashlib.sha256(body).hexdigest()
    top = {"schemaVersion": 2, "mediaType": INDEX_TYPES[0], "manifests": [
        {"mediaType": INDEX_TYPES[0], "digest": f"sha256:{digest}", "size": len(body)}]}
    written = {"index.json", "oci-layout", *nested}
    with tarfile.open(path, "w") as out:
        for name, data in (("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'),
                           ("index.json", encode(top)), (f"blobs/sha256/{digest}", body)):
            member = tarfile.TarInfo(name)
            member.size, member.mode = len(data), 0o644
            out.addfile(member, io.BytesIO(data))
        written.add(f"blobs/sha256/{digest}")
        for part in parts:
            with tarfile.open(part) as archive:
                for member in archive:
                    if member.name in written:  # a layer both engines share goes in once
                        continue
                    written.add(member.name)
                    out.addfile(member, archive.extractfile(member) if member.isfile() else None)


def _leaf_entries(archive: tarfile.TarFile) -> tuple[list[dict[str, Any]], set[str]]:
    """The image entries of an archive's index, and the member names of the indexes read."""
    entries: list[dict[str, Any]] = json.loads(_read(archive, "index.json") or b"{}").get(
        "manifests") or []
    indexes: set[str] = set()
    while len(entries) == 1 and entries[0].get("mediaType") in INDEX_TYPES:
        name = f"blobs/{entries[0]['digest'].replace(':', '/', 1)}"
        indexes.add(name)
        entries = json.loads(_read(archive, name) or b"{}").get("manifests") or []
    # An archive of one image lists its manifest without a platform: its config says it.
    return [entry if entry.get("platform") else {**entry, "platform": _platform(archive, entry)}
            for entry in entries], indexes


def _platform(archive: tarfile.TarFile, entry: dict[str, Any]) -> dict[str, str]:
    """The platform of the image `entry` describes, read from its config."""
    def blob(digest: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(_read(archive, f"blobs/{digest.replace(':', '/', 1)}")
                                          or b"{}")
        return data

    config = blob(blob(entry["digest"]).get("config", {}).get("digest", ":"))
    found = {key: config[key] for key in ("architecture", "os", "variant") if config.get(key)}
    return found


def _read(archive: tarfile.TarFile, name: str) -> bytes | None:
    try:
        stream = archive.extractfile(name)
    except KeyError:
        return None
    return stream.read() if stream is not None else None
