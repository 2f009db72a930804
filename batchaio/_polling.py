"""Polling that outlasts the service's bad moments: the decision (:func:`delay_after_error`) and the loop.

A workflow helper polls for minutes or hours; a throttling or a server error that outlasted the client's
per-call retries is no reason to give up. It waits (at least the ``Retry-After``) and polls again, within the
helper's deadline. Any other error is raised.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio

from batchaio import _constants as C
from batchaio.errors import BatchStatusError, ServerError, ThrottledError

__all__ = ["delay_after_error", "keep_polling"]

T = TypeVar("T")


def delay_after_error(error: Exception, poll_interval: float) -> float | None:
    """Seconds to wait before polling again after ``error`` escaped the client's retries; ``None``: raise.

    Throttling waits at least its ``Retry-After``; a server error (or another retryable status) waits a poll
    interval.
    """
    if isinstance(error, ThrottledError):
        return max(poll_interval, error.retry_after or 0.0)
    if isinstance(error, ServerError) or (
        isinstance(error, BatchStatusError) and error.status_code in C.RETRYABLE_STATUSES
    ):
        return poll_interval
    return None


async def keep_polling(
    call: Callable[[], Awaitable[T]], poll_interval: float, deadline: float | None = None
) -> T:
    """``await call()``, again after each error :func:`delay_after_error` says to wait out, until
    ``deadline`` (monotonic seconds, ``anyio.current_time()``), past which the error is raised."""
    while True:
        try:
            return await call()
        except BatchStatusError as err:
            delay = delay_after_error(err, poll_interval)
            if delay is None or (deadline is not None and anyio.current_time() + delay > deadline):
                raise
            await anyio.sleep(delay)
