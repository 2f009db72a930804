"""The pipeline's decision core as tables: no HTTP, no clock, no sleeping."""

from __future__ import annotations

import random

import attrs
import pytest

from batchaio import _constants as C
from batchaio._decide import (
    Attempt,
    Call,
    Raise,
    Retry,
    Return,
    after_deadline,
    after_failure,
    after_status,
    first_attempt,
)
from batchaio._idempotency import Idempotency, idempotency_of
from batchaio._retry import RetryPolicy, TransportFailure, retry_delay
from batchaio.errors import (
    AuthenticationError,
    DeadlineExceededError,
    NotFoundError,
    OutcomeUnknownError,
    RequestNotSentError,
    ServerError,
    ThrottledError,
    decode_error_body,
)

URL = "https://a.batch.azure.com/jobs/j1?api-version=2024-07-01.20.0"


def call(operation: str = "Jobs_GetJob", method: str = "GET", **changes: object) -> Call:
    facts = Call(
        operation_id=operation,
        idempotency=idempotency_of(operation),
        policy=RetryPolicy(rng=random.Random(1), deadline=None),
        deadline=None,
        method=method,
        url=URL,
        client_request_id="c-1",
    )
    return attrs.evolve(facts, **changes)


def error(code: str) -> bytes:
    return b'{"code":"%s","message":{"value":"m\\nRequestId:r\\nTime:t"}}' % code.encode()


@pytest.mark.parametrize(
    ("operation", "method", "status", "state", "expected"),
    [
        ("Jobs_GetJob", "GET", 200, Attempt(), Return),
        ("Jobs_GetJob", "GET", 304, Attempt(), Return),
        ("Jobs_GetJob", "GET", 404, Attempt(budget=5), NotFoundError),
        ("Jobs_GetJob", "GET", 503, Attempt(budget=5), Retry),
        ("Jobs_GetJob", "GET", 503, Attempt(number=5, budget=5), ServerError),
        ("Jobs_GetJob", "GET", 429, Attempt(number=2, budget=2), ThrottledError),
        ("Nodes_RebootNode", "POST", 500, Attempt(budget=5), ServerError),  # may have been applied
        ("Nodes_RebootNode", "POST", 503, Attempt(budget=5), Retry),  # provably not applied
        ("Jobs_DeleteJob", "DELETE", 404, Attempt(budget=5, outcome_unknown=True), Return),
        ("Jobs_DeleteJob", "DELETE", 404, Attempt(budget=5), NotFoundError),
        ("Jobs_GetJob", "GET", 403, Attempt(budget=5), AuthenticationError),
    ],
)
def test_status_table(operation: str, method: str, status: int, state: Attempt, expected: type) -> None:
    body = error("JobNotFound") if status >= 400 else b""
    decision = after_status(call(operation, method), state, status, {}, decode_error_body(body))
    if isinstance(decision, Raise):
        assert type(decision.error) is expected
    else:
        assert type(decision) is expected


def test_a_retry_carries_the_next_state_and_remembers_an_unknown_outcome() -> None:
    decision = after_status(call(), Attempt(budget=3), 500, {}, None)
    assert isinstance(decision, Retry) and decision.reason == "500"
    assert decision.next == Attempt(number=2, budget=3, outcome_unknown=True)
    assert after_status(call(), Attempt(budget=3), 503, {}, None).next.outcome_unknown is False  # type: ignore[union-attr]


def test_a_create_answered_exists_after_an_unknown_outcome_was_done_by_that_attempt() -> None:
    state = Attempt(number=2, budget=5, outcome_unknown=True)
    decision = after_status(
        call("Jobs_CreateJob", "POST"), state, 409, {}, decode_error_body(error("JobExists"))
    )
    assert decision == Return(applied_by_earlier_attempt=True)


def test_retry_after_and_the_autoscale_floor_set_the_wait() -> None:
    decision = after_status(call(), Attempt(budget=5), 429, {"Retry-After": "2"}, None)
    assert isinstance(decision, Retry) and 2.0 <= decision.delay <= 2.2
    autoscale = call("Pools_EnablePoolAutoScale", "POST")
    decision = after_status(autoscale, Attempt(budget=5), 429, {"Retry-After": "1"}, None)
    assert isinstance(decision, Retry) and decision.delay == C.AUTOSCALE_MIN_INTERVAL


def test_a_wait_past_the_deadline_is_not_started() -> None:
    facts = call(deadline=10.0)
    decision = after_status(facts, Attempt(budget=5), 503, {"Retry-After": "5"}, None, elapsed=9.0)
    assert isinstance(decision, Raise) and isinstance(decision.error, ServerError)
    assert decision.error.retry_after == 5.0


def test_a_401_is_answered_once_by_a_credential_that_can() -> None:
    facts = call(answers_challenges=True)
    first = after_status(facts, Attempt(budget=1), 401, {}, None)
    assert isinstance(first, Retry) and first.reauthorize and first.delay == 0
    assert first.next == Attempt(number=2, budget=2, challenged=True)
    second = after_status(facts, first.next, 401, {}, None)
    assert isinstance(second, Raise) and isinstance(second.error, AuthenticationError)
    shared_key = after_status(call(), Attempt(budget=3), 401, {}, None)
    assert isinstance(shared_key, Raise)


def test_a_missing_entity_can_be_the_answer() -> None:
    assert after_status(call(missing_is_an_answer=True), Attempt(), 404, {}, None) == Return()


@pytest.mark.parametrize(
    ("operation", "failure", "state", "expected"),
    [
        ("Jobs_GetJob", TransportFailure.NOT_SENT, Attempt(budget=2), Retry),
        ("Jobs_GetJob", TransportFailure.NOT_SENT, Attempt(number=2, budget=2), RequestNotSentError),
        ("Jobs_GetJob", TransportFailure.OUTCOME_UNKNOWN, Attempt(budget=2), Retry),
        ("Jobs_GetJob", TransportFailure.FATAL, Attempt(budget=5), RequestNotSentError),
        ("Nodes_RebootNode", TransportFailure.OUTCOME_UNKNOWN, Attempt(budget=5), OutcomeUnknownError),
        ("Nodes_RebootNode", TransportFailure.NOT_SENT, Attempt(budget=5), Retry),
        ("Jobs_GetJob", TransportFailure.NOT_SENT, Attempt(2, 2, outcome_unknown=True), OutcomeUnknownError),
    ],
)
def test_failure_table(operation: str, failure: TransportFailure, state: Attempt, expected: type) -> None:
    decision = after_failure(call(operation), state, failure, "ConnectError", "refused")
    if isinstance(decision, Raise):
        assert type(decision.error) is expected
        assert "ConnectError: the request" in str(decision.error)
    else:
        assert type(decision) is expected


def test_a_configuration_failure_says_to_check_the_endpoint() -> None:
    decision = after_failure(
        call(), Attempt(budget=5), TransportFailure.FATAL, "ConnectError", "", configuration=True
    )
    assert isinstance(decision, Raise) and "check the endpoint" in str(decision.error)


def test_deadline_outcome_depends_on_the_operation_class() -> None:
    read = after_deadline(call(deadline=1.0), Attempt())
    write = after_deadline(call("Jobs_CreateJob", "POST", deadline=1.0), Attempt())
    assert isinstance(read.error, DeadlineExceededError) and read.error.outcome_unknown is False
    assert isinstance(write.error, DeadlineExceededError) and write.error.outcome_unknown is True


def test_first_attempt_takes_the_budget_from_the_policy() -> None:
    facts = call(policy=RetryPolicy(max_attempts=7))
    assert first_attempt(facts) == Attempt(number=1, budget=7)
    assert facts.idempotency is Idempotency.READ


@pytest.mark.parametrize(
    ("retry_after", "status", "operation", "minimum", "low", "high"),
    [
        (None, None, None, 0.0, 0.0, 0.8),
        (None, None, None, 0.05, 0.05, 0.8),
        (10.0, 503, "Jobs_GetJob", 0.0, 10.0, 11.0),
        (1e9, 503, "Jobs_GetJob", 0.0, 60.0, 60.0),
        (1.0, 429, "Pools_EvaluatePoolAutoScale", 0.0, 30.0, 30.0),
        (1.0, 503, "Pools_EvaluatePoolAutoScale", 0.0, 1.0, 1.1),
    ],
)
def test_retry_delay_is_the_one_wait_formula(
    retry_after: float | None,
    status: int | None,
    operation: str | None,
    minimum: float,
    low: float,
    high: float,
) -> None:
    policy = RetryPolicy(rng=random.Random(3))
    for _ in range(50):
        wait = retry_delay(
            policy, 1, retry_after=retry_after, status_code=status, operation_id=operation, minimum=minimum
        )
        assert low <= wait <= high


def test_retry_delay_draws_from_the_given_rng() -> None:
    policy = RetryPolicy()
    first = [retry_delay(policy, n, rng=random.Random(9)) for n in range(1, 6)]
    assert first == [retry_delay(policy, n, rng=random.Random(9)) for n in range(1, 6)]


def test_status_errors_carry_the_decoded_body_status_and_headers() -> None:
    body = decode_error_body(error("JobNotFound"))
    decision = after_status(call(), Attempt(), 404, {"request-id": "srv", "Set-Cookie": "s=1"}, body)
    assert isinstance(decision, Raise) and isinstance(decision.error, NotFoundError)
    exc = decision.error
    assert exc.error is not None and exc.error.code == "JobNotFound"
    assert exc.message == "m" and exc.request_id == "srv"
    assert exc.headers["Set-Cookie"] == "REDACTED"
