"""Pushing through the engine: transient registry failures are retried, a refused login is not."""

from __future__ import annotations

import json

import pytest

from pipelines.errors import PipelineError
from pipelines.logs import configure_logging
from pipelines.registry.push import ATTEMPTS, kind_of, push_with_retries

REFUSED = ("failed to do request: Head \"https://reg.example:5000/v2/svc/blobs/sha256:ab\": "
           "dial tcp 10.0.0.9:5000: connect: connection refused")
UNAUTHORIZED = ("failed to authorize: failed to fetch oauth token: unexpected status from GET "
                "request to https://reg.example/token: 401 Unauthorized")


class Flaky:
    """A push that fails with `messages` in turn, then returns the reference."""

    def __init__(self, *messages: str) -> None:
        self.messages = list(messages)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.messages:
            raise PipelineError(self.messages.pop(0), stage="publish")
        return "reg.example/svc@sha256:" + "a" * 64


async def no_sleep(seconds: float) -> None:
    """Backoff without waiting."""


@pytest.mark.parametrize(("message", "kind"), [
    (REFUSED, "transient"), ("received unexpected HTTP status: 503 Service Unavailable",
                             "transient"),
    ("429 Too Many Requests", "transient"), (UNAUTHORIZED, "auth"),
    ("denied: requested access to the resource is denied", "auth"),
    ("manifest invalid: platform missing", "other"),
])
def test_failures_are_classified(message: str, kind: str) -> None:
    """Connection errors, 5xx and 429 are transient; 401/403 are the login; the rest is final."""
    assert kind_of(message) == kind


async def test_transient_failures_are_retried_with_one_line_each(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Two refused connections, then success: three attempts, two push_retry lines."""
    configure_logging("json")
    capsys.readouterr()
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    push = Flaky(REFUSED, "503 Service Unavailable")
    ref = await push_with_retries(push, registry="reg.example:5000", username="ci", sleep=sleep)
    assert ref.startswith("reg.example/svc@sha256:")
    assert push.calls == 3 and waits == [2.0, 4.0]
    retries = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(r["event"], r["attempt"]) for r in retries] == [("push_retry", 1), ("push_retry", 2)]
    assert "connection refused" in retries[0]["reason"]


async def test_a_registry_that_stays_down_fails_with_one_sentence() -> None:
    """After the bounded attempts: the registry named, the cause, and no tag moved."""
    push = Flaky(*[REFUSED] * ATTEMPTS)
    with pytest.raises(PipelineError) as caught:
        await push_with_retries(push, registry="reg.example:5000", username=None, sleep=no_sleep)
    assert push.calls == ATTEMPTS
    text = str(caught.value)
    assert "reg.example:5000 stayed unreachable" in text and "no tag was moved" in text


async def test_a_refused_login_is_not_retried_and_names_the_user() -> None:
    """401: one attempt, a sentence naming registry and user, never the password."""
    push = Flaky(UNAUTHORIZED)
    with pytest.raises(PipelineError) as caught:
        await push_with_retries(push, registry="reg.example", username="ci-bot", sleep=no_sleep)
    assert push.calls == 1
    text = str(caught.value)
    assert "reg.example refused user 'ci-bot'" in text and "401 Unauthorized" in text
    assert "no tag was moved" in text


async def test_other_failures_pass_through_unchanged() -> None:
    """A failure that is neither transient nor the login is raised as it was, at once."""
    push = Flaky("manifest invalid")
    with pytest.raises(PipelineError, match="manifest invalid"):
        await push_with_retries(push, registry="r", username=None, sleep=no_sleep)
    assert push.calls == 1
