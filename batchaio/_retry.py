"""The retry policy: when a call may be tried again and how long to wait first.

Pure rules, no I/O: :mod:`batchaio._decide` combines :func:`may_retry_status`, :func:`may_retry_transport`
and :func:`presumed_done` into the pipeline's decisions; :func:`retry_delay` is the one wait formula, used by
the pipeline and the bulk engine alike.
"""

from __future__ import annotations

import enum
import math
import random
from collections.abc import Mapping
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

import attrs

from batchaio import _constants as C
from batchaio._idempotency import (
    ALREADY_DONE_CONFLICTS,
    Idempotency,
    canonical_operation_id,
    idempotency_of,
)
from batchaio._validators import count, seconds

_NON_NEGATIVE = seconds(allow_zero=True, allow_none=False)

__all__ = [
    "RetryPolicy",
    "TransportFailure",
    "backoff_delay",
    "may_retry_status",
    "may_retry_transport",
    "parse_retry_after",
    "presumed_done",
    "retry_delay",
    "status_outcome_unknown",
]


def backoff_delay(retry_number: int, *, base: float, cap: float, rng: random.Random) -> float:
    """Full-jitter exponential backoff: uniform in ``[0, min(cap, base * 2 ** (retry_number - 1))]``.

    ``retry_number`` counts retries from 1 (the wait before the second attempt).
    """
    exponent = min(max(retry_number - 1, 0), 62)
    return rng.uniform(0.0, min(cap, base * (2.0**exponent)))


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How a call is retried.

    - ``max_attempts``: attempts in all, the first included (1 = no retries).
    - ``backoff_base`` / ``backoff_cap``: full-jitter exponential backoff, in seconds.
    - ``retry_after_cap``: the longest ``Retry-After`` honoured; longer requests are shortened to it.
    - ``deadline``: seconds for the whole call, attempts and waits included (``None``: no overall limit).
      A wait that would end past the deadline is not started: the last error is raised instead.
    - ``retry_statuses``: statuses worth retrying (still subject to the operation's idempotency class).
    - ``rng``: the source of jitter; pass ``random.Random(seed)`` for reproducible delays.
    """

    max_attempts: int = attrs.field(default=C.DEFAULT_MAX_ATTEMPTS, validator=count(1))
    backoff_base: float = attrs.field(default=C.DEFAULT_BACKOFF_BASE, validator=_NON_NEGATIVE)
    backoff_cap: float = attrs.field(default=C.DEFAULT_BACKOFF_CAP, validator=_NON_NEGATIVE)
    retry_after_cap: float = attrs.field(default=C.DEFAULT_RETRY_AFTER_CAP, validator=_NON_NEGATIVE)
    deadline: float | None = attrs.field(default=C.DEFAULT_DEADLINE, validator=seconds())
    retry_statuses: frozenset[int] = attrs.field(default=C.RETRYABLE_STATUSES, converter=frozenset)
    rng: random.Random = attrs.field(factory=random.Random, eq=False, repr=False)

    @classmethod
    def no_retries(cls, *, deadline: float | None = C.DEFAULT_DEADLINE) -> RetryPolicy:
        """A policy that makes exactly one attempt (the bulk engine retries on its own terms)."""
        return cls(max_attempts=1, deadline=deadline)

    def delay(self, retry_number: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry ``retry_number`` (from 1): :func:`retry_delay` with this policy."""
        return retry_delay(self, retry_number, retry_after=retry_after)


def retry_delay(
    policy: RetryPolicy,
    retry_number: int,
    *,
    retry_after: float | None = None,
    operation_id: str | None = None,
    status_code: int | None = None,
    minimum: float = 0.0,
    rng: random.Random | None = None,
) -> float:
    """The one formula for how long to wait before retry ``retry_number`` (from 1) of a call.

    Used by the pipeline for every retried request and by the bulk engine for every retried chunk.

    - A server-given ``retry_after`` (seconds, from :func:`parse_retry_after`) wins over the backoff. Up to
      ``RETRY_AFTER_JITTER`` (10%) of it is added at random, so that many callers throttled together do not
      come back together, and the result is capped at ``policy.retry_after_cap``.
    - Otherwise full-jitter exponential backoff: uniform in
      ``[0, min(backoff_cap, backoff_base * 2 ** (retry_number - 1))]`` (:func:`backoff_delay`).
    - A 429 (``status_code``) to an autoscale call of ``operation_id`` waits at least the 30 s the service
      asks between autoscale calls to one pool.
    - The wait is never below ``minimum`` (the bulk engine's floor, so that a retry is never immediate).

    ``rng`` is the source of jitter (the policy's own ``rng`` by default). Pure apart from the draw.
    """
    source = rng if rng is not None else policy.rng
    if retry_after is not None:
        jitter = source.uniform(0.0, C.RETRY_AFTER_JITTER * retry_after)
        wait = min(retry_after + jitter, policy.retry_after_cap)
    else:
        wait = backoff_delay(retry_number, base=policy.backoff_base, cap=policy.backoff_cap, rng=source)
    if status_code == 429 and operation_id is not None:
        wait = max(wait, minimum_throttle_delay(operation_id))
    return max(wait, minimum)


def parse_retry_after(headers: Mapping[str, str], *, now: datetime | None = None) -> float | None:
    """Seconds the service asks to wait, from ``retry-after-ms``, ``x-ms-retry-after-ms`` or ``Retry-After``.

    ``Retry-After`` may be a number of seconds or an HTTP date (a date in the past gives 0). Negative,
    infinite or unparseable values are ignored; ``None`` when there is no usable value. Not capped here.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    for name in ("retry-after-ms", "x-ms-retry-after-ms"):
        milliseconds = _number(lowered.get(name))
        if milliseconds is not None:
            return milliseconds / 1000.0
    raw = lowered.get("retry-after")
    if raw is None:
        return None
    seconds = _number(raw)
    if seconds is not None:
        return seconds
    try:
        when = parsedate_to_datetime(raw.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    reference = now if now is not None else datetime.now(timezone.utc)
    return max((when - reference).total_seconds(), 0.0)


def _number(raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        value = float(raw.strip())
    except ValueError:
        return None
    if math.isnan(value) or math.isinf(value) or value < 0:
        return None
    return value


def minimum_throttle_delay(operation_id: str) -> float:
    """Least wait after a 429 for ``operation_id`` (autoscale calls need 30 s between calls to one pool)."""
    return C.AUTOSCALE_MIN_INTERVAL if operation_id in C.AUTOSCALE_OPERATIONS else 0.0


class TransportFailure(enum.Enum):
    """What a transport failure says about the request (each transport classifies its own exceptions)."""

    NOT_SENT = "not-sent"
    """Never reached the service (connect error/timeout, pool timeout): always safe to retry."""
    OUTCOME_UNKNOWN = "outcome-unknown"
    """May have been received and applied (read/write error or timeout, protocol error, reset)."""
    FATAL = "fatal"
    """A configuration or local error: not sent, never retried. An unsupported scheme, an invalid header, a
    server certificate that fails verification, or a host name that does not exist (DNS ``EAI_NONAME``; a
    temporary resolver failure, ``EAI_AGAIN``, is retried as not sent)."""


def may_retry_transport(idempotency: Idempotency, failure: TransportFailure) -> bool:
    """Whether a failed attempt may be retried, given the operation's class."""
    if failure is TransportFailure.NOT_SENT:
        return True
    if failure is TransportFailure.FATAL:
        return False
    return idempotency is not Idempotency.NOT_IDEMPOTENT


def status_outcome_unknown(status_code: int) -> bool:
    """Whether an error status leaves open that the request was applied (500, 502, 504 and other 5xx).

    408 (the request did not arrive in time), 429 and 503 (throttled, busy) mean it was not processed.
    """
    return status_code >= 500 and status_code not in C.THROTTLING_STATUSES


def may_retry_status(policy: RetryPolicy, idempotency: Idempotency, status_code: int) -> bool:
    """Whether an error status may be retried: in the policy's list and, for non-idempotent operations, only
    when the status proves the request was not applied."""
    if status_code not in policy.retry_statuses:
        return False
    if idempotency is Idempotency.NOT_IDEMPOTENT:
        return not status_outcome_unknown(status_code)
    return True


def presumed_done(operation_id: str, status_code: int, code: str | None) -> bool:
    """After an attempt with an unknown outcome, whether this error answer to a retry means "already done".

    - create with id: 409 with the entity's ``*Exists`` code (not ``JobWithSameIdExists`` and the like);
    - delete: 404 (``*NotFound``) or 409 ``*BeingDeleted``;
    - state transition: a 409 whose code says the target state is reached (see
      :data:`~batchaio._idempotency.ALREADY_DONE_CONFLICTS`); any other conflict is not "done".
    """
    idempotency = idempotency_of(operation_id)
    if idempotency is Idempotency.DELETE:
        return status_code == 404 or (
            status_code == 409 and code is not None and code.endswith("BeingDeleted")
        )
    if status_code != 409 or code is None:
        return False
    return code in ALREADY_DONE_CONFLICTS.get(canonical_operation_id(operation_id), frozenset())
