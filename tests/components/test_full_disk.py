"""A full disk while the archive is written, on a real tmpfs of 1 MiB (mounted by the test, so
it needs root): one sentence, nothing at the export path but what was there before, and no
partial file left. The engine's own export into a full disk is said the same way
(tests/graph/test_export_disk_full.py checks that mapping from the engine's error text)."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.errors import PipelineError
from pipelines.publish.archive import finish_archive
from tests.conftest import require
from tests.unit.test_archive import write_archive

SIZE = 1024 * 1024


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs, unmounted afterwards."""
    require("root, to mount a 1 MiB tmpfs", os.geteuid() == 0)
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE}", "tmpfs", str(mount)],
                   check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def exported_piece(path: Path, filler: int) -> None:
    """What the engine exports for one engine: an archive whose arm64 entry lacks its variant
    (so it is rewritten), with `filler` bytes of layer data."""
    write_archive(path)
    with tarfile.open(path, "a") as tar:
        info = tarfile.TarInfo("blobs/sha256/" + "f" * 64)
        info.size = filler
        tar.addfile(info, io.BytesIO(os.urandom(filler)))


def test_a_full_disk_leaves_no_archive_and_no_partial_file(tiny_disk: Path) -> None:
    """The variant rewrite needs a second copy that does not fit: one sentence naming the
    disk, nothing at the export path, and the disk empty again."""
    path = tiny_disk / "service.oci.tar"
    piece = tiny_disk / ".service.oci.tar.partial.0"
    exported_piece(piece, 600 * 1024)
    with pytest.raises(PipelineError) as caught:
        finish_archive([piece], path)
    assert caught.value.stage == "export"
    assert str(caught.value) == (
        f"stage export failed: the disk holding {tiny_disk} is full (no space left on device) "
        "while writing the archive service.oci.tar: nothing is there, and the partial files "
        "were removed; free some space or choose another --export-path")
    assert list(tiny_disk.iterdir()) == []


def test_a_full_disk_keeps_the_previous_archive(tiny_disk: Path) -> None:
    """With last build's archive at the path, a write that fills the disk leaves that
    archive byte for byte, and says so."""
    path = tiny_disk / "service.oci.tar"
    exported_piece(path, 300 * 1024)
    previous = path.read_bytes()
    piece = tiny_disk / ".service.oci.tar.partial.0"
    exported_piece(piece, 400 * 1024)
    with pytest.raises(PipelineError) as caught:
        finish_archive([piece], path)
    assert "the previous archive there is unchanged" in str(caught.value)
    assert path.read_bytes() == previous
    assert sorted(p.name for p in tiny_disk.iterdir()) == ["service.oci.tar"]


def test_an_archive_that_fits_is_written(tiny_disk: Path) -> None:
    """The same steps with room to spare: the archive is there, nothing else."""
    path = tiny_disk / "service.oci.tar"
    piece = tiny_disk / ".service.oci.tar.partial.0"
    exported_piece(piece, 100 * 1024)
    finish_archive([piece], path)
    assert sorted(p.name for p in tiny_disk.iterdir()) == ["service.oci.tar"]
    with tarfile.open(path) as tar:
        assert "index.json" in tar.getnames()
