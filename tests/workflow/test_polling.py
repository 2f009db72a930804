"""Polling through the service's bad moments: what to wait out, for how long, and within which deadline."""

from __future__ import annotations

import anyio
import pytest

from batchaio import BatchStatusError, NotFoundError, ServerError, ThrottledError
from batchaio._polling import delay_after_error, keep_polling


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (ThrottledError(429, retry_after=12.0), 12.0),
        (ThrottledError(429, retry_after=0.5), 2.0),
        (ThrottledError(503), 2.0),
        (ServerError(500), 2.0),
        (BatchStatusError(408), 2.0),
        (NotFoundError(404, code="JobNotFound"), None),
    ],
)
def test_delay_after_error(error: Exception, expected: float | None) -> None:
    assert delay_after_error(error, poll_interval=2.0) == expected


def test_keep_polling_waits_out_retryable_errors() -> None:
    answers: list[object] = [ServerError(503), ThrottledError(429, retry_after=0.01), "done"]

    async def call() -> str:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return str(answer)

    assert anyio.run(keep_polling, call, 0.001) == "done"


def test_keep_polling_raises_other_errors_and_past_its_deadline() -> None:
    async def missing() -> None:
        raise NotFoundError(404, code="JobNotFound")

    async def throttled() -> None:
        raise ThrottledError(429, retry_after=30.0)

    with pytest.raises(NotFoundError):
        anyio.run(keep_polling, missing, 0.001)

    async def with_deadline() -> None:
        await keep_polling(throttled, 0.001, anyio.current_time() + 1.0)

    with pytest.raises(ThrottledError):
        anyio.run(with_deadline)
