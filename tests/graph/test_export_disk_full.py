"""The engine's export failing on a full disk becomes the full-disk sentence; other export
failures pass through as they are. (The engine's text is the Dagger CLI's `write ...: no space
left on device`; a real full disk is in tests/components/test_full_disk.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.errors import PipelineError
from pipelines.run.graph import mapped_export


async def _failing(message: str) -> None:
    raise PipelineError(message, stage="export")


async def test_an_engine_export_into_a_full_disk_is_one_sentence(tmp_path: Path) -> None:
    """`no space left on device` in the engine's error: the sentence names the disk and says
    nothing is at the path."""
    text = ("failed to export: write /work/build/.svc.oci.tar.partial.0: no space left on "
            "device")
    with pytest.raises(PipelineError) as caught:
        await mapped_export(_failing(text), tmp_path / "svc.oci.tar")
    assert caught.value.message == (
        f"the disk holding {tmp_path} is full (no space left on device) while writing the "
        "archive svc.oci.tar: nothing is there, and the partial files were removed; free some "
        "space or choose another --export-path")


async def test_other_export_failures_pass_through(tmp_path: Path) -> None:
    """A failure that is not a full disk keeps its own sentence."""
    with pytest.raises(PipelineError) as caught:
        await mapped_export(_failing("connection reset by peer"), tmp_path / "svc.oci.tar")
    assert caught.value.message == "connection reset by peer"
