"""Retry decisions as tables: Retry-After parsing, backoff, idempotency classes and httpx error classes."""

from __future__ import annotations

import json
import random
import socket
import ssl
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest

from batchaio._http import classify_transport_error
from batchaio._idempotency import ALREADY_DONE_CONFLICTS, Idempotency, idempotency_of
from batchaio._retry import (
    RetryPolicy,
    TransportFailure,
    backoff_delay,
    may_retry_status,
    may_retry_transport,
    parse_retry_after,
    presumed_done,
)
from batchaio.errors import ValidationError

NOW = datetime(2024, 7, 1, 10, 15, 30, tzinfo=timezone.utc)
SPEC = Path(__file__).resolve().parent.parent / "tools" / "spec" / "batch-2024-07-01.20.0.operations.json"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "5"}, 5.0),
        ({"Retry-After": " 2.5 "}, 2.5),
        ({"retry-after": "0"}, 0.0),
        ({"Retry-After": "-3"}, None),
        ({"Retry-After": "Mon, 01 Jul 2024 10:16:00 GMT"}, 30.0),
        ({"Retry-After": "Mon, 01 Jul 2024 10:00:00 GMT"}, 0.0),
        ({"Retry-After": "86400000"}, 86400000.0),
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": ""}, None),
        ({"Retry-After": "inf"}, None),
        ({"Retry-After": "nan"}, None),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"x-ms-retry-after-ms": "250"}, 0.25),
        ({"retry-after-ms": "100", "Retry-After": "9"}, 0.1),
        ({"retry-after-ms": "garbage", "Retry-After": "9"}, 9.0),
        ({"x-ms-retry-after-ms": "-5"}, None),
        ({}, None),
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(headers, now=NOW) == expected


def test_parse_retry_after_accepts_httpx_headers() -> None:
    assert parse_retry_after(httpx.Headers({"RETRY-AFTER": "4"})) == 4.0


@pytest.mark.parametrize(
    ("retry_after", "low", "high"),
    [(None, 0.0, 0.8), (0.0, 0.0, 0.0), (10.0, 10.0, 11.0), (59.0, 59.0, 60.0), (1e9, 60.0, 60.0)],
)
def test_policy_delay_honours_and_caps_retry_after(
    retry_after: float | None, low: float, high: float
) -> None:
    policy = RetryPolicy(rng=random.Random(5))
    for _ in range(50):
        assert low <= policy.delay(1, retry_after) <= high


def test_backoff_is_full_jitter_exponential_and_capped() -> None:
    rng = random.Random(11)
    for retry in range(1, 12):
        ceiling = min(30.0, 0.8 * 2 ** (retry - 1))
        samples = [backoff_delay(retry, base=0.8, cap=30.0, rng=rng) for _ in range(200)]
        assert all(0 <= s <= ceiling for s in samples)
        assert max(samples) > ceiling / 2
        assert min(samples) < ceiling / 2
    assert backoff_delay(10_000, base=0.8, cap=30.0, rng=rng) <= 30.0


def test_seeded_policies_give_the_same_delays() -> None:
    a = RetryPolicy(rng=random.Random(9))
    b = RetryPolicy(rng=random.Random(9))
    assert [a.delay(n) for n in range(1, 6)] == [b.delay(n) for n in range(1, 6)]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_attempts": 0},
        {"max_attempts": 1.5},
        {"backoff_base": -1},
        {"deadline": 0},
        {"retry_after_cap": -1},
    ],
)
def test_policy_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_no_retries_policy() -> None:
    assert RetryPolicy.no_retries().max_attempts == 1
    assert RetryPolicy.no_retries(deadline=5).deadline == 5


def test_every_spec_operation_has_an_idempotency_class() -> None:
    operations = json.loads(SPEC.read_text(encoding="utf-8"))["operations"]
    assert len(operations) == 77
    for operation in operations:
        klass = idempotency_of(operation["operationId"])
        if operation["method"] in ("GET", "HEAD"):
            assert klass is Idempotency.READ, operation["operationId"]
        elif operation["method"] == "DELETE":
            assert klass is Idempotency.DELETE, operation["operationId"]
        elif operation["method"] in ("PUT", "PATCH"):
            assert klass is Idempotency.REPLACE, operation["operationId"]


@pytest.mark.parametrize(
    ("operation_id", "klass"),
    [
        ("Pools_EvaluatePoolAutoScale", Idempotency.READ),
        ("Tasks_CreateTaskCollection", Idempotency.CREATE_WITH_ID),
        ("Tasks_AddTaskCollection", Idempotency.CREATE_WITH_ID),
        ("Nodes_CreateNodeUser", Idempotency.CREATE_WITH_ID),
        ("Pools_ReplacePoolProperties", Idempotency.REPLACE),
        ("Nodes_DeleteNodeFile", Idempotency.DELETE),
        ("Pools_ResizePool", Idempotency.STATE_TRANSITION),
        ("Pools_RemoveNodes", Idempotency.STATE_TRANSITION),
        ("Tasks_ReactivateTask", Idempotency.STATE_TRANSITION),
        ("Nodes_DeallocateNode", Idempotency.STATE_TRANSITION),
        ("Nodes_RebootNode", Idempotency.NOT_IDEMPOTENT),
        ("Nodes_ReimageNode", Idempotency.NOT_IDEMPOTENT),
        ("Nodes_UploadNodeLogs", Idempotency.NOT_IDEMPOTENT),
    ],
)
def test_post_operations_are_classified_per_the_rules(operation_id: str, klass: Idempotency) -> None:
    assert idempotency_of(operation_id) is klass


def test_unknown_operation_is_a_validation_error() -> None:
    with pytest.raises(ValidationError):
        idempotency_of("Jobs_Frobnicate")


@pytest.mark.parametrize(
    ("exc", "failure"),
    [
        (httpx.ConnectError("x"), TransportFailure.NOT_SENT),
        (httpx.ConnectTimeout("x"), TransportFailure.NOT_SENT),
        (httpx.PoolTimeout("x"), TransportFailure.NOT_SENT),
        (httpx.ProxyError("x"), TransportFailure.NOT_SENT),
        (httpx.ReadError("x"), TransportFailure.OUTCOME_UNKNOWN),
        (httpx.ReadTimeout("x"), TransportFailure.OUTCOME_UNKNOWN),
        (httpx.WriteError("x"), TransportFailure.OUTCOME_UNKNOWN),
        (httpx.WriteTimeout("x"), TransportFailure.OUTCOME_UNKNOWN),
        (httpx.RemoteProtocolError("x"), TransportFailure.OUTCOME_UNKNOWN),
        (httpx.NetworkError("x"), TransportFailure.OUTCOME_UNKNOWN),
        (httpx.UnsupportedProtocol("x"), TransportFailure.FATAL),
        (httpx.LocalProtocolError("x"), TransportFailure.FATAL),
    ],
)
def test_httpx_errors_are_classified(exc: Exception, failure: TransportFailure) -> None:
    assert classify_transport_error(exc) is failure


def raised_from(exc: Exception, cause: BaseException) -> Exception:
    try:
        raise exc from cause
    except Exception as chained:
        return chained


@pytest.mark.parametrize(
    ("cause", "failure"),
    [
        (ssl.SSLCertVerificationError(1, "certificate verify failed"), TransportFailure.FATAL),
        (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), TransportFailure.FATAL),
        (
            socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution"),
            TransportFailure.NOT_SENT,
        ),
        (ConnectionRefusedError(111, "refused"), TransportFailure.NOT_SENT),
        (ssl.SSLError(1, "wrong version number"), TransportFailure.NOT_SENT),
    ],
)
def test_configuration_errors_behind_a_connect_error_are_not_retried(
    cause: BaseException, failure: TransportFailure
) -> None:
    inner = raised_from(OSError("wrapped"), cause)  # as aiohttp does: its own error, then httpx's
    assert classify_transport_error(raised_from(httpx.ConnectError("x"), inner)) is failure
    assert classify_transport_error(raised_from(httpx.ConnectError("x"), cause)) is failure


@pytest.mark.parametrize("klass", list(Idempotency))
def test_transport_retry_matrix(klass: Idempotency) -> None:
    assert may_retry_transport(klass, TransportFailure.NOT_SENT)
    assert not may_retry_transport(klass, TransportFailure.FATAL)
    assert may_retry_transport(klass, TransportFailure.OUTCOME_UNKNOWN) is (
        klass is not Idempotency.NOT_IDEMPOTENT
    )


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 412, 413, 408, 429, 500, 502, 503, 504])
@pytest.mark.parametrize("klass", list(Idempotency))
def test_status_retry_matrix(klass: Idempotency, status: int) -> None:
    expected = status in {408, 429, 500, 502, 503, 504}
    if klass is Idempotency.NOT_IDEMPOTENT:
        expected = status in {408, 429, 503}
    assert may_retry_status(RetryPolicy(), klass, status) is expected


@pytest.mark.parametrize(
    ("operation", "status", "code", "done"),
    [
        ("Tasks_CreateTask", 409, "TaskExists", True),
        ("Tasks_AddTask", 409, "TaskExists", True),
        ("Pools_CreatePool", 409, "PoolExists", True),
        ("Jobs_CreateJob", 409, "JobWithSameIdExists", False),
        ("Jobs_CreateJob", 409, "PoolExists", False),
        ("Jobs_CreateJob", 409, "ActiveJobAndScheduleQuotaReached", False),
        ("Jobs_CreateJob", 409, None, False),
        ("Tasks_CreateTaskCollection", 409, "TaskExists", False),
        ("Jobs_DeleteJob", 404, "JobNotFound", True),
        ("Jobs_DeleteJob", 404, None, True),
        ("Pools_DeletePool", 409, "PoolBeingDeleted", True),
        ("Pools_DeletePool", 409, "Other", False),
        ("Jobs_DisableJob", 409, "JobDisabled", True),
        ("Jobs_DisableJob", 409, "JobNotActive", False),
        ("Jobs_DisableJob", 409, None, False),
        ("Jobs_DisableJob", 409, "JobBeingDeleted", False),
        ("Jobs_DisableJob", 404, "JobNotFound", False),
        ("Jobs_EnableJob", 409, "JobNotActive", False),
        ("Jobs_TerminateJob", 409, "JobCompleted", True),
        ("Jobs_TerminateJob", 409, "JobBeingTerminated", True),
        ("JobSchedules_TerminateJobSchedule", 409, "JobScheduleCompleted", True),
        ("Tasks_TerminateTask", 409, "TaskCompleted", True),
        ("Tasks_ReactivateTask", 409, "TaskNotFailed", False),
        ("Tasks_ReactivateTask", 409, "TaskNotCompleted", False),
        ("Pools_ResizePool", 409, "AutoScaleEnabled", False),
        ("Pools_ResizePool", 409, "PoolBeingDeleted", False),
        ("Nodes_DisableNodeScheduling", 409, "NodeAlreadyInTargetSchedulingState", True),
        ("Jobs_UpdateJob", 412, "ConditionNotMet", False),
        ("Jobs_GetJob", 404, "JobNotFound", False),
        ("Nodes_RebootNode", 409, "NodeNotReady", False),
    ],
)
def test_presumed_done(operation: str, status: int, code: str | None, done: bool) -> None:
    assert presumed_done(operation, status, code) is done


def test_already_done_conflicts_name_known_creates_and_transitions_only() -> None:
    for operation, codes in ALREADY_DONE_CONFLICTS.items():
        assert idempotency_of(operation) in (Idempotency.CREATE_WITH_ID, Idempotency.STATE_TRANSITION)
        assert codes and all(code[0].isupper() for code in codes)


def test_retry_after_jitter_comes_from_the_constants(monkeypatch: pytest.MonkeyPatch) -> None:
    from batchaio import _constants

    monkeypatch.setattr(_constants, "RETRY_AFTER_JITTER", 0.0)
    assert RetryPolicy().delay(1, 7.0) == 7.0
    monkeypatch.setattr(_constants, "RETRY_AFTER_JITTER", 1.0)
    assert {RetryPolicy(rng=random.Random(seed)).delay(1, 7.0) > 10.5 for seed in range(20)} == {True, False}
