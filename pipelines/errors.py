"""The error tree: every failure a user can see, and the exit code it maps to.

`str(error)` is the one sentence the user reads; entry points print it after `ERROR` and exit
with `error.exit_code`. Nothing here may carry a secret.
"""

from __future__ import annotations

import re

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # what shells report for SIGINT (128 + 2)
EXIT_TERMINATED = 143  # for SIGTERM (128 + 15): a CI provider cancelling the job


class NodePipelinesError(Exception):
    """Base of every error the command-line boundary turns into a sentence and an exit code."""

    exit_code = EXIT_FAILURE


class InputError(NodePipelinesError):
    """Invalid input: a flag, a setting, a source tree or a lockfile the tool cannot use."""

    exit_code = EXIT_USAGE


class EngineUnavailableError(NodePipelinesError):
    """No Dagger engine can be reached: nothing was built."""

    exit_code = EXIT_USAGE


class PipelineError(NodePipelinesError):
    """A stage failed on a platform; carries the tail of its stderr."""

    exit_code = EXIT_FAILURE

    def __init__(
        self, message: str, *, stage: str, platform: str | None = None, stderr: str = ""
    ) -> None:
        super().__init__(message)
        self.message = message
        self.stage = stage
        self.platform = platform
        self.stderr_tail = tail(stderr)

    def __str__(self) -> str:
        where = f"stage {self.stage}" + (f" on {self.platform}" if self.platform else "")
        text = f"{where} failed: {self.message}"
        if self.stderr_tail:
            text += "\n" + "\n".join("  | " + line for line in self.stderr_tail.splitlines())
        return text


# Failures whose output says what the README's fix is: (pattern in the output, the sentence).
KNOWN_FAILURES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"No compatible signature found in package metadata"),
     "corepack found no signature it can check in the registry's metadata (a registry mirror "
     "that serves none): pass --build-env COREPACK_INTEGRITY_KEYS=0, or pin packageManager "
     "with its +sha512 hash, which corepack checks instead"),
    (re.compile(r"UNABLE_TO_GET_ISSUER_CERT_LOCALLY|SELF_SIGNED_CERT_IN_CHAIN|"
                r"unable to get local issuer certificate"),
     "TLS to the registry is intercepted by a certificate the build containers do not trust: "
     "give the Dagger engine that CA (its /usr/local/share/ca-certificates), which the build "
     "containers then trust through NODE_EXTRA_CA_CERTS"),
    (re.compile(r"npm (?:ERR!|error) code E404|ERR_PNPM_FETCH_404|Response Code: 404|"
                r"Request failed \\?\"404 Not Found"),
     "the registry answered 404 for a package the lockfile names: a registry mirror may lack "
     "that version (check it is published, or point npm_config_registry with --build-env at "
     "one that has it)"),
    (re.compile(r"fatal error: [^\s:]+\.h: No such file or directory|"
                r"Package \S+ was not found in the pkg-config search path"),
     "a native compile lacks a system library's headers: pass --build-apt-packages with its "
     "-dev package (for example libvips-dev)"),
    (re.compile(r"failed to resolve (?:source metadata for|image) \S+.*(?:not found|manifest "
                r"unknown)", re.DOTALL),
     "the base image is not in its registry (or in this engine's registry mirror): the Node "
     "major comes from the project's engines/.nvmrc/.node-version unless --node-major "
     "(NODEPIPE_NODE_MAJOR) says otherwise; pick one the registry has, or --base-image "
     "(NODEPIPE_BASE_IMAGE)"),
)


def explain(output: str) -> str | None:
    """The fix the README gives for a failure whose output shows it, or None."""
    return next((sentence for pattern, sentence in KNOWN_FAILURES if pattern.search(output)),
                None)


def distinct(errors: list[NodePipelinesError]) -> list[NodePipelinesError]:
    """The errors without echoes: a shared stage's failure (one without a platform, the build
    stage's) also reaches every target's stage that waits on it, with the same message and
    output; it is said once, as the shared stage's. Targets failing alike each keep theirs."""
    shared = {(e.message, e.stderr_tail) for e in errors
              if isinstance(e, PipelineError) and e.platform is None}
    return [e for e in errors if not (isinstance(e, PipelineError) and e.platform is not None
                                      and (e.message, e.stderr_tail) in shared)]


# A line of a stack trace: Node's `    at f (file:1:2)`, Python's `  File "x", line 1`.
_FRAME = re.compile(r"^\s+(at\s|File \")")
_FRAMES_KEPT = 2


def tail(text: str, lines: int = 12) -> str:
    """Return the last `lines` non-empty lines of `text`, each stack trace cut to its first
    frames: the message that says what failed is kept, not a screenful of frames under it."""
    kept: list[str] = []
    run = 0
    for line in (line for line in text.splitlines() if line.strip()):
        run = run + 1 if _FRAME.match(line) else 0
        if run <= _FRAMES_KEPT:
            kept.append(line)
        elif run == _FRAMES_KEPT + 1:
            kept.append(line[: len(line) - len(line.lstrip())] + "...")
    return "\n".join(kept[-lines:])
