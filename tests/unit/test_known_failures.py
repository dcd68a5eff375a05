"""Failures the README explains get the README's fix in their sentence."""

from __future__ import annotations

import dagger
import pytest

from pipelines.errors import PipelineError, explain
from pipelines.run.graph import Clock

# As corepack printed it in the deps stage behind a registry mirror that serves no signatures.
COREPACK = """Internal Error: No compatible signature found in package metadata
    at verifySignature (/usr/local/lib/node_modules/corepack/dist/lib/corepack.cjs:21533:11)
    at fetchLatestStableVersion (/usr/local/lib/node_modules/corepack/dist/lib/corepack.cjs:21553:5)
"""


@pytest.mark.parametrize(("output", "words"), [
    (COREPACK, "--build-env COREPACK_INTEGRITY_KEYS=0"),
    ("npm error code SELF_SIGNED_CERT_IN_CHAIN", "give the Dagger engine that CA"),
    ("npm error code E404\nnpm error 404 Not Found - GET x.tgz", "a registry mirror may lack"),
    ("ERR_PNPM_FETCH_404  GET x.tgz: Not Found - 404", "a registry mirror may lack"),
    ("../src/vips.cc:1:10: fatal error: vips/vips8: foo.h: No such file or directory\n"
     "fatal error: vips.h: No such file or directory", "--build-apt-packages"),
    ("Package libpq was not found in the pkg-config search path", "--build-apt-packages"),
    ('failed to resolve image "mirror.invalid/library/node:18-bookworm-slim" (platform: '
     '"linux/amd64"): mirror.invalid/library/node:18-bookworm-slim: not found',
     "--node-major (NODEPIPE_NODE_MAJOR)"),
])
def test_known_output_gets_the_fix(output: str, words: str) -> None:
    """Each documented failure is recognised from the tool's own output."""
    hint = explain(output)
    assert hint is not None and words in hint


def test_other_output_gets_no_fix() -> None:
    """An unrelated failure is left as it is, without a guess."""
    assert explain("Error: Cannot find module 'express'\nE4040 is a part number") is None


async def test_a_stage_failure_carries_the_fix() -> None:
    """A failed exec of the deps stage (an ExecError built by hand, a test double of the
    engine's answer) reads `... exited with 1: corepack found no signature ...`."""
    error = Exception.__new__(dagger.ExecError)  # skips the SDK's GraphQL-error constructor
    error.command, error.exit_code, error.stderr, error.stdout = (
        ["corepack", "install", "-g", "pnpm@10.34.9"], 1, COREPACK, "")

    async def fails() -> None:
        raise error

    with pytest.raises(PipelineError) as caught:
        await Clock().run("deps", None, fails())
    assert str(caught.value).startswith(
        "stage deps failed: `corepack install -g pnpm@10.34.9` exited with 1: corepack found no "
        "signature")
    assert "COREPACK_INTEGRITY_KEYS=0" in str(caught.value)
