"""Cancelling a publish with SIGTERM or SIGINT, as a CI provider does, on a real registry: the
gate runs in a process of its own (tests/components/gate_process.py, no engine), held at a
step; the test sends the signal and checks the sentence, the exit code and the tags."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.registry.staging import STAGING_PREFIX
from tests.components.registry import LocalRegistry, Pusher, registry_v3, running_registry
from tests.components.test_gate import REPO, existing_release
from tests.conftest import REPO as PROJECT

pytestmark = pytest.mark.registry


@pytest.fixture(scope="module")
def v3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRegistry]:
    """A distribution v3 registry (it deletes tags) for this module."""
    with running_registry(tmp_path_factory.mktemp("registry-v3"), registry_v3()) as started:
        yield started


class Gate:
    """The gate's process, held at a step."""

    def __init__(self, registry: LocalRegistry, tags: str, hold: str, release: Path) -> None:
        env = {**os.environ, "PYTHONPATH": str(PROJECT)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.components.gate_process", registry.host, tags, hold,
             str(release)], cwd=PROJECT, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        self.release = release

    def wait_held(self, step: str, timeout_s: float = 30) -> None:
        """Block until the process says it is held at `step`."""
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], timeout_s)
        line = self.process.stdout.readline() if ready else ""
        if line.strip() != f"HELD {step}":
            self.process.kill()
            raise AssertionError(f"wanted HELD {step}, got {line!r}: {self.process.stderr.read()}")

    def send(self, signum: int) -> None:
        """Send `signum` to the process."""
        self.process.send_signal(signum)

    def finish(self, timeout_s: float = 60) -> tuple[int, str]:
        """Exit code and stderr once it ends."""
        _, err = self.process.communicate(timeout=timeout_s)
        return self.process.returncode, err


def staging_left(registry: LocalRegistry) -> set[str]:
    """The staging tags of the test repository."""
    answer = Pusher(registry.host).client.get(f"/v2/{REPO}/tags/list").json()
    return {t for t in answer.get("tags") or [] if t.startswith(STAGING_PREFIX)}


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_during_the_checks_moves_no_tag_and_deletes_the_staging_tag(
    v3: LocalRegistry, tmp_path: Path, signum: int, code: int
) -> None:
    """Cancelled while the checks run: exit 128 + the signal, one sentence naming the step and
    saying no tag was moved; 1.0 still names its earlier index, candidate does not exist, and
    the staging tag is deleted."""
    before = existing_release(v3)
    gate = Gate(v3, "1.0,candidate", "check", tmp_path / "release")
    gate.wait_held("check")
    gate.send(signum)
    returncode, err = gate.finish()
    name = signal.Signals(signum).name
    assert returncode == code, err
    assert err.strip().splitlines()[-1] == (
        f"ERROR cancelled by {name} during the publish gate's check step: no tag was moved")
    assert '"event": "staging_deleted"' in err, err
    pusher = Pusher(v3.host)
    assert pusher.tag_digest(REPO, "1.0") == before
    assert pusher.tag_digest(REPO, "candidate") is None
    assert staging_left(v3) == set()


def test_a_signal_during_the_tag_move_lets_it_finish_and_names_the_tags(
    v3: LocalRegistry, tmp_path: Path
) -> None:
    """SIGTERM while the tag move waits on the registry: the process keeps going until the
    move is done, then exits 143 naming the tags moved and the index they name; both tags
    name it, and the staging tag is deleted."""
    existing_release(v3)
    gate = Gate(v3, "1.0,latest", "move", tmp_path / "release")
    gate.wait_held("move")
    gate.send(signal.SIGTERM)
    time.sleep(1.0)
    assert gate.process.poll() is None, "the cancellation did not wait for the tag move"
    gate.release.touch()
    returncode, err = gate.finish()
    assert returncode == 143, err
    pusher = Pusher(v3.host)
    digest = pusher.tag_digest(REPO, "latest")
    assert err.strip().splitlines()[-1] == (
        "ERROR cancelled by SIGTERM during the publish gate's move step: tags moved: 1.0, "
        f"latest (to {v3.host}/{REPO}@{digest})")
    assert pusher.complete_tags(REPO)["1.0"] == digest
    assert staging_left(v3) == set()


def test_a_second_signal_ends_the_process_at_once(v3: LocalRegistry, tmp_path: Path) -> None:
    """A second SIGTERM while the move is still held: the process ends within seconds with
    143 and one sentence of what may be left; the move never started, so 1.0 is unchanged."""
    before = existing_release(v3)
    gate = Gate(v3, "1.0", "move", tmp_path / "release")
    gate.wait_held("move")
    gate.send(signal.SIGTERM)
    time.sleep(0.5)
    started = time.monotonic()
    gate.send(signal.SIGTERM)
    returncode, err = gate.finish(timeout_s=10)
    assert time.monotonic() - started < 5
    assert returncode == 143, err
    assert err.strip().splitlines()[-1] == (
        "ERROR SIGTERM again: stopped at once during the publish gate's move step; the tag "
        "move was under way: each tag names its previous or the new index; its staging tags "
        "may remain (python -m pipelines.verify --gc-staging)")
    assert Pusher(v3.host).tag_digest(REPO, "1.0") == before
