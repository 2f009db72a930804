"""The pipeline's decisions, as pure functions: after one attempt, return, retry after a wait, or raise.

No I/O and no clock: the pipeline passes what happened (a status with its headers and decoded error, a
classified transport failure, or the deadline running out) with the :class:`Call` facts and the
:class:`Attempt` state, and gets back a :class:`Return`, a :class:`Retry` (the wait and the next state) or a
:class:`Raise` (the typed error). Every rule comes from :mod:`batchaio._retry`; the order in which they are
asked, which is policy too, is here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import attrs

from batchaio import _constants as C
from batchaio._idempotency import Idempotency
from batchaio._redact import redact_url
from batchaio._retry import (
    RetryPolicy,
    TransportFailure,
    may_retry_status,
    may_retry_transport,
    parse_retry_after,
    presumed_done,
    retry_delay,
    status_outcome_unknown,
)
from batchaio.errors import (
    BatchaioError,
    DeadlineExceededError,
    OutcomeUnknownError,
    RequestNotSentError,
    error_class_for_status,
)
from batchaio.models import BatchError

__all__ = [
    "Attempt",
    "Call",
    "Decision",
    "Raise",
    "Retry",
    "Return",
    "after_deadline",
    "after_failure",
    "after_status",
    "first_attempt",
]


@attrs.frozen
class Call:
    """What stays the same over the attempts of one call."""

    operation_id: str
    idempotency: Idempotency
    policy: RetryPolicy
    deadline: float | None
    method: str
    url: str = attrs.field(repr=redact_url)
    client_request_id: str
    answers_challenges: bool = False
    """The credential can answer a 401 with a new token (Entra); Shared Key cannot."""
    missing_is_an_answer: bool = False
    """A 404 is returned as a response, not raised (existence checks)."""


@attrs.frozen
class Attempt:
    """Where a call stands after an attempt: which attempt it was, how many are allowed, and what earlier
    attempts left behind."""

    number: int = 1
    budget: int = 1
    outcome_unknown: bool = False
    challenged: bool = False


def first_attempt(call: Call) -> Attempt:
    """The state before the first attempt of ``call``."""
    return Attempt(budget=call.policy.max_attempts)


@attrs.frozen
class Return:
    """The response is the call's answer. ``applied_by_earlier_attempt``: an error answer to a retry that
    says an earlier attempt with an unknown outcome did the work (create "exists", delete "not found")."""

    applied_by_earlier_attempt: bool = False


@attrs.frozen
class Retry:
    """Wait ``delay`` seconds and make attempt ``next.number``; ``reauthorize``: fetch a new token first (and
    do not wait). ``reason`` is the status or exception name, for the log."""

    delay: float
    next: Attempt
    reason: str
    reauthorize: bool = False


@attrs.frozen
class Raise:
    """The call fails with ``error``."""

    error: BatchaioError


Decision = Return | Retry | Raise

_ANSWER: Final = Return()
_APPLIED_BY_EARLIER_ATTEMPT: Final = Return(applied_by_earlier_attempt=True)


def _fits(call: Call, elapsed: float, delay: float) -> bool:
    """A wait that would end past the deadline is not started."""
    return call.deadline is None or elapsed + delay < call.deadline


def _next(state: Attempt, *, outcome_unknown: bool = False, extra_budget: int = 0) -> Attempt:
    return attrs.evolve(
        state,
        number=state.number + 1,
        budget=state.budget + extra_budget,
        outcome_unknown=state.outcome_unknown or outcome_unknown,
        challenged=state.challenged or extra_budget > 0,
    )


def after_status(
    call: Call,
    state: Attempt,
    status: int,
    headers: Mapping[str, str],
    error: BatchError | None,
    *,
    elapsed: float = 0.0,
) -> Decision:
    """Decide after an answer with ``status`` (``error``: its decoded body, for statuses >= 400), ``elapsed``
    seconds after the call started. In order: an answer; a 401 to answer with a new token; an error that an
    earlier attempt's success explains; a retry if the rules allow one and its wait fits; else the error."""
    code = error.code if error is not None else None
    answered = _answered(call, state, status, code)
    if answered is not None:
        return answered
    throttled = status in C.THROTTLING_STATUSES or status >= 500
    retry_after = parse_retry_after(headers) if throttled else None
    if may_retry_status(call.policy, call.idempotency, status) and state.number < state.budget:
        delay = retry_delay(
            call.policy, state.number, retry_after=retry_after, operation_id=call.operation_id,
            status_code=status,
        )  # fmt: skip
        if _fits(call, elapsed, delay):
            return Retry(delay, _next(state, outcome_unknown=status_outcome_unknown(status)), str(status))
    return Raise(_status_error(call, state, status, headers, error, retry_after))


def _answered(call: Call, state: Attempt, status: int, code: str | None) -> Return | Retry | None:
    """The statuses that are not the call's failure: success, an expected 404, a challenge, "already done"."""
    if 200 <= status < 300 or status == 304 or (status == 404 and call.missing_is_an_answer):
        return _ANSWER
    if status == 401 and call.answers_challenges and not state.challenged:
        return Retry(0.0, _next(state, extra_budget=1), "401", reauthorize=True)
    if state.outcome_unknown and presumed_done(call.operation_id, status, code):
        return _APPLIED_BY_EARLIER_ATTEMPT
    return None


def _status_error(
    call: Call,
    state: Attempt,
    status: int,
    headers: Mapping[str, str],
    error: BatchError | None,
    retry_after: float | None,
) -> BatchaioError:
    return error_class_for_status(status)(
        status,
        error=error,
        headers=headers,
        request_id=headers.get("request-id"),
        client_request_id=headers.get("client-request-id") or call.client_request_id,
        retry_after=retry_after,
        attempts=state.number,
        prior_outcome_unknown=state.outcome_unknown,
        method=call.method,
        url=call.url,
        hint=_hint(call, status, error.code if error is not None else None),
    )


def _hint(call: Call, status: int, code: str | None) -> str | None:
    """What to check after a refusal whose body cannot say (a HEAD answer has none)."""
    if status == 403 and (call.method == "HEAD" or code == "AuthenticationFailed"):
        return "check the account name, the key and this machine's clock"
    if status == 401 and call.method == "HEAD":
        return "check the credential and its scope"
    return None


def after_failure(
    call: Call,
    state: Attempt,
    failure: TransportFailure,
    name: str,
    text: str = "",
    *,
    configuration: bool = False,
    elapsed: float = 0.0,
) -> Decision:
    """Decide after a transport failure (``name`` of the exception and its redacted ``text``), ``elapsed``
    seconds after the call started."""
    unknown = state.outcome_unknown or failure is TransportFailure.OUTCOME_UNKNOWN
    if may_retry_transport(call.idempotency, failure) and state.number < state.budget:
        delay = retry_delay(call.policy, state.number)
        if _fits(call, elapsed, delay):
            return Retry(delay, _next(state, outcome_unknown=unknown), name)
    cls = OutcomeUnknownError if unknown else RequestNotSentError
    what = "may have been applied" if unknown else "was not sent"
    if configuration:
        what += " (not retried: the host name or its certificate is wrong; check the endpoint)"
    return Raise(
        cls(
            f"{name}: the request {what}: {text or name}",
            method=call.method,
            url=call.url,
            attempts=state.number,
            client_request_id=call.client_request_id,
        )
    )


def after_deadline(call: Call, state: Attempt) -> Raise:
    """The call's deadline ran out while attempt ``state.number`` was in flight."""
    return Raise(
        DeadlineExceededError(
            f"the call's deadline of {call.deadline} s ran out",
            outcome_unknown=state.outcome_unknown or call.idempotency is not Idempotency.READ,
            method=call.method,
            url=call.url,
            attempts=state.number,
            client_request_id=call.client_request_id,
        )
    )
