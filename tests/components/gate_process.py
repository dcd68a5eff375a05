"""A publish gate in a process of its own, for the cancellation tests to send signals to.

`python -m tests.components.gate_process HOST TAGS HOLD RELEASE_FILE` runs the gate against the
real registry at HOST (test pusher for staging, no engine) under the build's own cancellation
handling (`pipelines.run.cancel.cancellable`) and prints the build's ERROR sentence and exit
code. HOLD names the step that is held: `check` never ends (a long smoke test), `move` waits
inside the shielded tag move until RELEASE_FILE exists (a registry that is slow to answer
the tag writes), `none` holds nothing. When held it prints `HELD <step>` on stdout.
"""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path
from types import SimpleNamespace

import anyio

from pipelines.errors import NodePipelinesError
from pipelines.logs import configure_logging
from pipelines.publish.gate import GateSteps, publish_gated
from pipelines.registry.staging import delete_staging_tags
from pipelines.registry.tags import TagMove, move_tags
from pipelines.run.cancel import cancellable
from tests.components.test_gate import REPO, Recorder
from tests.unit.test_cancel import Progress


class HeldRecorder(Recorder):
    """The test gate's steps, with one of them held."""

    def __init__(self, host: str, hold: str, release: Path) -> None:
        super().__init__(SimpleNamespace(host=host))  # type: ignore[arg-type] # reads .host
        self.hold, self.release = hold, release

    async def check(self) -> None:
        if self.hold == "check":
            print("HELD check", flush=True)
            await anyio.sleep_forever()

    async def move(self, ref: str, tags: tuple[str, ...]) -> tuple[TagMove, ...]:
        if self.hold == "move":
            print("HELD move", flush=True)
            # The test process touches the file: there is no event to share across processes.
            while not self.release.exists():  # noqa: ASYNC110
                await anyio.sleep(0.05)
        return await move_tags(ref, tags, self.login)

    def gate_steps(self, tags: tuple[str, ...]) -> GateSteps:
        """The steps, with the run's staging tags deleted at the end."""
        return GateSteps(stage=self.stage, check=self.check, verify=self.verify,
                         move=lambda ref: self.move(ref, tags),
                         cleanup=lambda staging: delete_staging_tags(
                             f"{self.host}/{REPO}", staging, self.login))


def main(argv: list[str]) -> int:
    """Run the held gate; the build's boundary: ERROR sentence and exit code."""
    host, tags, hold, release = argv
    configure_logging("json")
    gate = HeldRecorder(host, hold, Path(release))
    progress = Progress()
    work = partial(publish_gated, f"{host}/{REPO}", gate.gate_steps(tuple(tags.split(","))),
                   staged=progress)
    try:
        result = anyio.run(partial(cancellable, work, progress, publishing=True))
    except NodePipelinesError as error:
        print(f"ERROR {error}", file=sys.stderr)
        return error.exit_code
    print(result.pinned)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
