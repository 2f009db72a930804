"""The request pipeline, driven through respx: what goes on the wire, retries, errors, logging."""

from __future__ import annotations

import itertools
import logging
import random
import shutil
import socket
import ssl
import subprocess
from collections.abc import Callable, Iterator
from email.utils import parsedate_to_datetime
from typing import Any

import anyio
import anyio.abc
import anyio.streams.tls
import httpx
import orjson
import pytest
import respx

from batchaio import BatchClient, RetryPolicy, SharedKeyCredential
from batchaio import _constants as C
from batchaio._transport import BatchRequest
from batchaio.auth import shared_key_signature
from batchaio.errors import (
    AuthenticationError,
    BadRequestError,
    BatchStatusError,
    ConflictError,
    DeadlineExceededError,
    NotFoundError,
    OutcomeUnknownError,
    PreconditionFailedError,
    RequestNotSentError,
    ResponseParseError,
    ServerError,
    ThrottledError,
    ValidationError,
)

ENDPOINT = "https://testaccount.westus2.batch.azure.com"
KEY = "YmF0Y2hhaW8tZml4ZWQtdGVzdC1rZXktMDEyMzQ1Njc4OQ=="
API = "2024-07-01.20.0"


class Sleeps:
    """Replaces the pipeline's sleep and clock: records each wait and advances a fake clock by it."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self.now = 1000.0

    async def sleep(self, seconds: float) -> None:
        self.delays.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


@pytest.fixture
def router() -> respx.MockRouter:
    return respx.MockRouter(assert_all_called=False, base_url=ENDPOINT)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def make_client(router: respx.MockRouter, sleeps: Sleeps) -> Iterator[Callable[..., BatchClient]]:
    clients: list[BatchClient] = []

    def make(**kwargs: Any) -> BatchClient:
        kwargs.setdefault("retry", RetryPolicy(rng=random.Random(7)))
        client = BatchClient(
            kwargs.pop("endpoint", ENDPOINT),
            kwargs.pop("credential", SharedKeyCredential("testaccount", KEY)),
            transport=httpx.MockTransport(router.async_handler),
            **kwargs,
        )
        client._pipeline.sleep = sleeps.sleep
        client._pipeline.clock = sleeps.clock
        clients.append(client)
        return client

    yield make


def error_body(code: str, message: str = "boom", **values: str) -> dict[str, Any]:
    return {
        "odata.metadata": f"{ENDPOINT}/$metadata#Microsoft.Azure.Batch.Protocol.Entities.Container.errors",
        "code": code,
        "message": {"lang": "en-US", "value": message},
        "values": [{"key": k, "value": v} for k, v in values.items()],
    }


def recompute_signature(request: httpx.Request) -> str:
    return shared_key_signature(request.method, str(request.url), request.headers, "testaccount", KEY)


# --- what goes on the wire ---------------------------------------------------------------------------------


async def test_get_carries_the_standard_headers_and_a_valid_signature(router, make_client) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        assert request.headers["authorization"] == recompute_signature(request)
        return httpx.Response(200, json={"id": "j1"}, headers={"request-id": "srv-1", "ETag": "0x8DC"})

    router.get("/jobs/j1").mock(side_effect=handler)
    async with make_client() as client:
        response = await client._pipeline.send(
            BatchRequest("Jobs_GetJob", "GET", "/jobs/j1", query={"$select": "id,state"}, server_timeout=30)
        )
    request = seen[0]
    assert request.url.params["api-version"] == API
    assert request.url.params["timeout"] == "30"
    assert request.url.params["$select"] == "id,state"
    assert request.headers["return-client-request-id"] == "true"
    assert parsedate_to_datetime(request.headers["ocp-date"]).tzinfo is not None
    assert request.headers["ocp-date"].endswith(" GMT")
    assert len(request.headers["client-request-id"]) == 36
    assert "content-length" not in request.headers
    assert "date" not in request.headers
    assert response.json() == {"id": "j1"}
    assert response.metadata.request_id == "srv-1"
    assert response.metadata.etag == "0x8DC"
    assert response.metadata.attempts == 1


@pytest.mark.parametrize(
    ("operation", "method", "path", "content"),
    [
        ("Jobs_DeleteJob", "DELETE", "/jobs/j1", None),
        ("Jobs_TerminateJob", "POST", "/jobs/j1/terminate", None),
        ("Tasks_CreateTaskCollection", "POST", "/jobs/j1/addtaskcollection", b'{"value":[{"id":"t"}]}'),
        ("Jobs_UpdateJob", "PATCH", "/jobs/j1", b'{"priority":1}'),
    ],
)
async def test_non_get_requests_send_and_sign_their_content_length(
    router, make_client, operation, method, path, content
) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        assert request.headers["authorization"] == recompute_signature(request)
        return httpx.Response(202)

    router.route(method=method, path=path).mock(side_effect=handler)
    async with make_client() as client:
        await client._pipeline.send(BatchRequest(operation, method, path, content=content))
    request = seen[0]
    assert request.headers["content-length"] == str(len(content or b""))
    if content is None:
        assert "content-type" not in request.headers
    else:
        assert request.headers["content-type"] == "application/json; odata=minimalmetadata"
        assert request.content == content


async def test_encoded_path_and_odd_query_values_are_signed_as_sent(router, make_client) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        assert request.headers["authorization"] == recompute_signature(request)
        return httpx.Response(200, content=b"data")

    router.get(url__regex=r".*/files/.*").mock(side_effect=handler)
    async with make_client() as client:
        await client._pipeline.send(
            BatchRequest(
                "Tasks_GetTaskFile",
                "GET",
                "/jobs/j%201/tasks/t1/files/wd%2Fout%20file.txt",
                query={"$filter": "startswith(name,'a b')&x=1"},
                headers={"ocp-range": "bytes=0-99", "If-Modified-Since": "Mon, 01 Jul 2024 10:15:30 GMT"},
            )
        )
    assert seen[0].url.raw_path.startswith(b"/jobs/j%201/tasks/t1/files/wd%2Fout%20file.txt?")
    assert seen[0].url.params["$filter"] == "startswith(name,'a b')&x=1"


async def test_parsed_urls_are_kept_per_full_url_and_bounded(router, make_client) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        assert request.headers["authorization"] == recompute_signature(request)
        return httpx.Response(200, json={"value": []})

    router.get("/jobs").mock(side_effect=handler)
    async with make_client() as client:
        for state in ("active", "completed", "active"):
            await client._pipeline.send(
                BatchRequest("Jobs_ListJobs", "GET", "/jobs", query={"$filter": f"state eq '{state}'"})
            )
        assert [r.url.params["$filter"] for r in seen] == [
            "state eq 'active'",
            "state eq 'completed'",
            "state eq 'active'",
        ]
        for n in range(C.PARSED_URL_CACHE_SIZE + 10):
            await client._pipeline.send(BatchRequest("Jobs_ListJobs", "GET", "/jobs", query={"n": str(n)}))
            assert len(client._pipeline.transport._urls) <= C.PARSED_URL_CACHE_SIZE
    assert seen[-1].url.params["n"] == str(C.PARSED_URL_CACHE_SIZE + 9)


async def test_every_attempt_is_redated_and_resigned_with_the_same_client_request_id(
    router, make_client, monkeypatch
) -> None:
    fake_now = itertools.count(1_700_000_000, 7)
    monkeypatch.setattr("batchaio._transport.time.time", lambda: float(next(fake_now)))
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        assert request.headers["authorization"] == recompute_signature(request)
        return httpx.Response(503 if len(seen) < 3 else 200, json={})

    router.get("/jobs").mock(side_effect=handler)
    async with make_client() as client:
        response = await client._pipeline.send(BatchRequest("Jobs_ListJobs", "GET", "/jobs"))
    assert response.metadata.attempts == 3
    assert len({r.headers["ocp-date"] for r in seen}) == 3
    assert len({r.headers["authorization"] for r in seen}) == 3
    assert len({r.headers["client-request-id"] for r in seen}) == 1


async def test_caller_chosen_client_request_id_is_used(router, make_client) -> None:
    route = router.get("/jobs").mock(return_value=httpx.Response(200, json={}))
    async with make_client() as client:
        await client._pipeline.send(
            BatchRequest("Jobs_ListJobs", "GET", "/jobs", client_request_id="my-id-1")
        )
    assert route.calls.last.request.headers["client-request-id"] == "my-id-1"


@pytest.mark.parametrize("value", [0, 31, -1, True, 2.5])
async def test_server_timeout_out_of_range_is_refused_before_sending(router, make_client, value) -> None:
    route = router.get("/jobs").mock(return_value=httpx.Response(200))
    async with make_client() as client:
        with pytest.raises(ValidationError) as info:
            await client._pipeline.send(BatchRequest("Jobs_ListJobs", "GET", "/jobs", server_timeout=value))
    assert info.value.field == "server_timeout"
    assert route.call_count == 0


@pytest.mark.parametrize(
    "request_",
    [
        BatchRequest("Jobs_GetJob", "GET", "/jobs/j1", headers={"If-Match": '"x"\r\nX-Evil: 1'}),
        BatchRequest("Jobs_GetJob", "GET", "/jobs/j1", client_request_id="a\nb"),
        BatchRequest("Jobs_GetJob", "GET", "/jobs/j1", query={"$select": "id\r\n"}),
        BatchRequest("Jobs_GetJob", "GET", "/jobs/j1", headers={"Authorization": "Bearer stolen"}),
        BatchRequest("Jobs_GetJob", "GET", "/jobs/j1?x=1"),
        BatchRequest("Nope_Unknown", "GET", "/jobs/j1"),
        BatchRequest("Jobs_GetJob", "GET", "/jobs/j1", headers={"If-Match": "\u00e9tag"}),
        BatchRequest("Jobs_GetJob", "GET", "/jobs/j1", client_request_id="\u00fc"),
        BatchRequest("Jobs_GetJob", "GET", "/jobs/j1", headers={"If-Match": "a\x00b"}),
        BatchRequest("Jobs_GetJob", "GET", "/jobs/j1", headers={"Bad Name": "x"}),
        BatchRequest("Jobs_GetJob", "GET", "/jobs/j1", headers={"": "x"}),
    ],
)
async def test_bad_requests_are_refused_before_sending(router, make_client, request_) -> None:
    route = router.route().mock(return_value=httpx.Response(200))
    async with make_client() as client:
        with pytest.raises(ValidationError):
            await client._pipeline.send(request_)
    assert route.call_count == 0


async def test_next_link_on_the_endpoint_is_followed_with_api_version_added(router, make_client) -> None:
    route = router.get("/jobs").mock(return_value=httpx.Response(200, json={"value": []}))
    link = f"{ENDPOINT}/jobs?$skiptoken=a%2Bb%3D&maxresults=10"
    async with make_client() as client:
        await client._pipeline.send(BatchRequest("Jobs_ListJobs", "GET", link))
    request = route.calls.last.request
    assert request.url.params["api-version"] == API
    assert request.url.params["$skiptoken"] == "a+b="
    assert request.headers["authorization"] == recompute_signature(request)


@pytest.mark.parametrize(
    "link",
    [
        "https://evil.example.com/jobs?$skiptoken=x",
        "http://testaccount.westus2.batch.azure.com/jobs?$skiptoken=x",
        "https://testaccount.westus2.batch.azure.com:8443/jobs",
        "https://testaccount.westus2.batch.azure.com.evil.com/jobs",
        "https://user:secret@testaccount.westus2.batch.azure.com/jobs?$skiptoken=x",
        "https://testaccount.westus2.batch.azure.com@evil.example.com/jobs",
    ],
)
async def test_next_link_on_another_host_is_refused_and_never_authorized(router, make_client, link) -> None:
    route = router.route().mock(return_value=httpx.Response(200, json={}))
    async with make_client() as client:
        with pytest.raises(ValidationError, match="not on the client's endpoint"):
            await client._pipeline.send(BatchRequest("Jobs_ListJobs", "GET", link))
    assert route.call_count == 0


async def test_redirects_are_not_followed(router, make_client) -> None:
    router.get("/jobs/j1").mock(
        return_value=httpx.Response(307, headers={"Location": "https://elsewhere.example.com/jobs/j1"})
    )
    elsewhere = respx.MockRouter(assert_all_called=False)
    other = elsewhere.route().mock(return_value=httpx.Response(200))
    async with make_client() as client:
        with pytest.raises(BatchStatusError) as info:
            await client._pipeline.send(BatchRequest("Jobs_GetJob", "GET", "/jobs/j1"))
    assert info.value.status_code == 307
    assert other.call_count == 0


# --- retries by idempotency class --------------------------------------------------------------------------

OPERATIONS = {
    "read": ("Jobs_GetJob", "GET", "/jobs/j1"),
    "create": ("Jobs_CreateJob", "POST", "/jobs"),
    "replace": ("Jobs_UpdateJob", "PATCH", "/jobs/j1"),
    "delete": ("Jobs_DeleteJob", "DELETE", "/jobs/j1"),
    "state": ("Jobs_DisableJob", "POST", "/jobs/j1/disable"),
    "not-idempotent": ("Nodes_RebootNode", "POST", "/pools/p1/nodes/n1/reboot"),
}
ALL = set(OPERATIONS)
IDEMPOTENT = ALL - {"not-idempotent"}

TRANSPORT_CASES = [
    # (failure, classes retried, error raised when retries are exhausted or refused)
    (httpx.ConnectError("refused"), ALL, RequestNotSentError),
    (httpx.ConnectTimeout("connect"), ALL, RequestNotSentError),
    (httpx.PoolTimeout("pool"), ALL, RequestNotSentError),
    (httpx.ReadTimeout("read"), IDEMPOTENT, OutcomeUnknownError),
    (httpx.ReadError("connection reset by peer"), IDEMPOTENT, OutcomeUnknownError),
    (httpx.WriteError("broken pipe"), IDEMPOTENT, OutcomeUnknownError),
    (httpx.WriteTimeout("write"), IDEMPOTENT, OutcomeUnknownError),
    (httpx.RemoteProtocolError("server disconnected"), IDEMPOTENT, OutcomeUnknownError),
    (httpx.UnsupportedProtocol("bad scheme"), set(), RequestNotSentError),
]


@pytest.mark.parametrize("kind", sorted(ALL))
@pytest.mark.parametrize(("failure", "retried", "raised"), TRANSPORT_CASES, ids=lambda v: type(v).__name__)
async def test_transport_failures_are_retried_by_class(
    router, make_client, sleeps, kind, failure, retried, raised
) -> None:
    operation, method, path = OPERATIONS[kind]
    route = router.route(method=method, path=path).mock(side_effect=failure)
    async with make_client() as client:
        with pytest.raises(raised) as info:
            await client._pipeline.send(BatchRequest(operation, method, path))
    expected = 5 if kind in retried else 1
    assert route.call_count == expected
    assert info.value.attempts == expected
    assert len(sleeps.delays) == expected - 1
    assert isinstance(info.value.__cause__, type(failure))
    assert info.value.outcome_unknown is (raised is OutcomeUnknownError)


STATUS_CASES = [
    (408, ALL, None),
    (429, ALL, ThrottledError),
    (500, IDEMPOTENT, ServerError),
    (502, IDEMPOTENT, ServerError),
    (503, ALL, ServerError),
    (504, IDEMPOTENT, ServerError),
    (400, set(), BadRequestError),
    (401, set(), AuthenticationError),
    (403, set(), AuthenticationError),
    (404, set(), NotFoundError),
    (409, set(), ConflictError),
    (412, set(), PreconditionFailedError),
]


@pytest.mark.parametrize("kind", sorted(ALL))
@pytest.mark.parametrize(("status", "retried", "raised"), STATUS_CASES, ids=lambda v: str(v))
async def test_statuses_are_retried_by_class(
    router, make_client, sleeps, kind, status, retried, raised
) -> None:
    operation, method, path = OPERATIONS[kind]
    route = router.route(method=method, path=path).mock(
        return_value=httpx.Response(status, json=error_body("SomeCode"), headers={"request-id": "r-1"})
    )
    async with make_client() as client:
        with pytest.raises(raised or BatchStatusError) as info:
            await client._pipeline.send(BatchRequest(operation, method, path))
    expected = 5 if kind in retried else 1
    assert route.call_count == expected
    assert info.value.attempts == expected
    assert info.value.status_code == status
    assert info.value.code == "SomeCode"
    assert info.value.request_id == "r-1"
    assert len(sleeps.delays) == expected - 1


async def test_a_success_after_failures_returns_normally(router, make_client, sleeps) -> None:
    route = router.post("/jobs").mock(
        side_effect=[
            httpx.ConnectError("x"),
            httpx.Response(503),
            httpx.Response(201, headers={"ETag": "0x1"}),
        ]
    )
    async with make_client() as client:
        response = await client._pipeline.send(BatchRequest("Jobs_CreateJob", "POST", "/jobs", content=b"{}"))
    assert route.call_count == 3
    assert response.status_code == 201
    assert response.metadata.applied_by_earlier_attempt is False
    assert response.prior_outcome_unknown is False
    assert all(0 <= delay <= 30 for delay in sleeps.delays)


async def test_no_retries_policy_makes_one_attempt(router, make_client) -> None:
    route = router.post("/jobs/j1/addtaskcollection").mock(side_effect=httpx.ReadTimeout("x"))
    async with make_client() as client:
        with pytest.raises(OutcomeUnknownError) as info:
            await client._pipeline.send(
                BatchRequest(
                    "Tasks_CreateTaskCollection",
                    "POST",
                    "/jobs/j1/addtaskcollection",
                    content=b"{}",
                    retry=RetryPolicy.no_retries(),
                )
            )
    assert route.call_count == 1
    assert info.value.outcome_unknown is True


# --- "already done" answers to a retry after an unknown outcome --------------------------------------------


@pytest.mark.parametrize(
    ("kind", "first", "answer"),
    [
        ("create", httpx.ReadTimeout("x"), httpx.Response(409, json=error_body("JobExists"))),
        ("create", httpx.Response(500), httpx.Response(409, json=error_body("JobExists"))),
        ("delete", httpx.ReadError("reset"), httpx.Response(404, json=error_body("JobNotFound"))),
        ("delete", httpx.RemoteProtocolError("x"), httpx.Response(409, json=error_body("JobBeingDeleted"))),
        ("state", httpx.ReadTimeout("x"), httpx.Response(409, json=error_body("JobDisabled"))),
    ],
)
async def test_conflict_after_unknown_outcome_means_done(router, make_client, kind, first, answer) -> None:
    operation, method, path = OPERATIONS[kind]
    router.route(method=method, path=path).mock(side_effect=[first, answer])
    async with make_client() as client:
        response = await client._pipeline.send(BatchRequest(operation, method, path))
    assert response.status_code == answer.status_code
    assert response.applied_by_earlier_attempt is True
    assert response.metadata.applied_by_earlier_attempt is True
    assert response.prior_outcome_unknown is True
    assert response.metadata.prior_outcome_unknown is True
    assert response.metadata.attempts == 2


@pytest.mark.parametrize(
    ("kind", "first", "answer", "raised"),
    [
        ("create", None, httpx.Response(409, json=error_body("JobExists")), ConflictError),
        ("create", httpx.Response(503), httpx.Response(409, json=error_body("JobExists")), ConflictError),
        ("create", httpx.ConnectError("x"), httpx.Response(409, json=error_body("JobExists")), ConflictError),
        ("delete", None, httpx.Response(404, json=error_body("JobNotFound")), NotFoundError),
        (
            "state",
            httpx.ReadTimeout("x"),
            httpx.Response(409, json=error_body("JobBeingDeleted")),
            ConflictError,
        ),
        (
            "state",
            httpx.ReadTimeout("x"),
            httpx.Response(409, json=error_body("JobNotActive")),
            ConflictError,
        ),
        ("state", httpx.Response(500), httpx.Response(409, json={}), ConflictError),
        ("replace", httpx.ReadTimeout("x"), httpx.Response(412, json=error_body("ConditionNotMet")), None),
    ],
)
async def test_conflicts_without_an_unknown_outcome_are_errors(
    router, make_client, kind, first, answer, raised
):
    operation, method, path = OPERATIONS[kind]
    router.route(method=method, path=path).mock(
        side_effect=[first, answer] if first is not None else [answer]
    )
    async with make_client() as client:
        with pytest.raises(raised or PreconditionFailedError) as info:
            await client._pipeline.send(BatchRequest(operation, method, path))
    assert info.value.prior_outcome_unknown is (raised is None or kind == "state")


async def test_a_resize_refused_for_autoscale_after_a_500_is_not_reported_done(router, make_client) -> None:
    router.post("/pools/p1/resize").mock(
        side_effect=[httpx.Response(500), httpx.Response(409, json=error_body("AutoScaleEnabled"))]
    )
    async with make_client() as client:
        with pytest.raises(ConflictError) as info:
            await client._pipeline.send(
                BatchRequest("Pools_ResizePool", "POST", "/pools/p1/resize", content=b"{}")
            )
    assert info.value.code == "AutoScaleEnabled"
    assert info.value.prior_outcome_unknown is True
    assert info.value.attempts == 2


# --- Retry-After, backoff and the deadline ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "low", "high"),
    [
        ({"Retry-After": "7"}, 7.0, 7.7),
        ({"retry-after-ms": "1500"}, 1.5, 1.65),
        ({"x-ms-retry-after-ms": "250"}, 0.25, 0.275),
        ({"Retry-After": "0"}, 0.0, 0.0),
        ({"Retry-After": "100000"}, 60.0, 60.0),
    ],
)
async def test_retry_after_is_honoured_and_capped(router, make_client, sleeps, headers, low, high) -> None:
    router.get("/jobs").mock(side_effect=[httpx.Response(429, headers=headers), httpx.Response(200, json={})])
    async with make_client(retry=RetryPolicy(deadline=None)) as client:
        await client._pipeline.send(BatchRequest("Jobs_ListJobs", "GET", "/jobs"))
    assert len(sleeps.delays) == 1
    assert low <= sleeps.delays[0] <= high


async def test_retry_after_on_a_500_of_a_retryable_call_is_honoured(router, make_client, sleeps) -> None:
    router.get("/jobs").mock(
        side_effect=[httpx.Response(500, headers={"Retry-After": "12"}), httpx.Response(200)]
    )
    async with make_client() as client:
        await client._pipeline.send(BatchRequest("Jobs_ListJobs", "GET", "/jobs"))
    assert 12 <= sleeps.delays[0] <= 13.2


async def test_throttled_autoscale_waits_at_least_thirty_seconds(router, make_client, sleeps) -> None:
    router.post("/pools/p1/evaluateautoscale").mock(side_effect=[httpx.Response(429), httpx.Response(200)])
    async with make_client() as client:
        await client._pipeline.send(
            BatchRequest("Pools_EvaluatePoolAutoScale", "POST", "/pools/p1/evaluateautoscale", content=b"{}")
        )
    assert sleeps.delays[0] >= 30


async def test_a_retry_after_beyond_the_deadline_raises_at_once(router, make_client, sleeps) -> None:
    route = router.get("/jobs").mock(return_value=httpx.Response(429, headers={"Retry-After": "45"}))
    async with make_client() as client:
        with pytest.raises(ThrottledError) as info:
            await client._pipeline.send(BatchRequest("Jobs_ListJobs", "GET", "/jobs", deadline=20))
    assert route.call_count == 1
    assert sleeps.delays == []
    assert info.value.retry_after == 45


async def test_waits_never_go_past_the_deadline(router, make_client, sleeps) -> None:
    route = router.get("/jobs").mock(side_effect=httpx.ConnectError("down"))
    policy = RetryPolicy(
        max_attempts=100, backoff_base=1.0, backoff_cap=8.0, deadline=30.0, rng=random.Random(3)
    )
    async with make_client(retry=policy) as client:
        with pytest.raises(RequestNotSentError):
            await client._pipeline.send(BatchRequest("Jobs_ListJobs", "GET", "/jobs"))
    assert sum(sleeps.delays) < 30.0
    assert 1 < route.call_count < 100


async def test_an_attempt_that_outlives_the_deadline_raises_deadline_exceeded(router) -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        await anyio.sleep(30)
        return httpx.Response(200)

    router.post("/pools/p1/nodes/n1/reboot").mock(side_effect=slow)
    async with BatchClient(
        ENDPOINT, SharedKeyCredential("testaccount", KEY), transport=httpx.MockTransport(router.async_handler)
    ) as client:
        with pytest.raises(DeadlineExceededError) as info:
            await client._pipeline.send(
                BatchRequest("Nodes_RebootNode", "POST", "/pools/p1/nodes/n1/reboot", deadline=0.05)
            )
    assert isinstance(info.value, TimeoutError)
    assert info.value.outcome_unknown is True


async def test_backoff_is_reproducible_with_a_seeded_rng(router, make_client, sleeps) -> None:
    runs = []
    for _ in range(2):
        sleeps.delays.clear()
        router.routes.clear()
        router.get("/jobs").mock(side_effect=httpx.ConnectError("down"))
        async with make_client(retry=RetryPolicy(rng=random.Random(42))) as client:
            with pytest.raises(RequestNotSentError):
                await client._pipeline.send(BatchRequest("Jobs_ListJobs", "GET", "/jobs"))
        runs.append(list(sleeps.delays))
    assert runs[0] == runs[1]
    assert len(set(runs[0])) == 4


# --- errors built from responses ---------------------------------------------------------------------------


async def test_error_carries_the_batch_error_body(router, make_client) -> None:
    body = error_body(
        "RequestBodyTooLarge", "The request body is too large.\nRequestId:abc", MaxLimit="1048576"
    )
    router.post("/jobs/j1/addtaskcollection").mock(
        return_value=httpx.Response(413, json=body, headers={"request-id": "srv", "client-request-id": "cli"})
    )
    async with make_client() as client:
        with pytest.raises(BatchStatusError) as info:
            await client._pipeline.send(
                BatchRequest(
                    "Tasks_CreateTaskCollection", "POST", "/jobs/j1/addtaskcollection", content=b"{}"
                )
            )
    error = info.value
    assert type(error).__name__ == "RequestBodyTooLargeError"
    assert error.values == {"MaxLimit": "1048576"}
    assert error.message.startswith("The request body is too large.")
    assert (error.request_id, error.client_request_id) == ("srv", "cli")


@pytest.mark.parametrize("content", [b"", b"<html>Bad Gateway</html>", b"[1, 2]", orjson.dumps({"x": 1})])
async def test_errors_without_a_batch_body_are_still_typed(router, make_client, content) -> None:
    router.get("/jobs/j1").mock(return_value=httpx.Response(404, content=content))
    async with make_client() as client:
        with pytest.raises(NotFoundError) as info:
            await client._pipeline.send(
                BatchRequest("Jobs_GetJob", "GET", "/jobs/j1", client_request_id="c-1")
            )
    assert info.value.code is None
    assert info.value.client_request_id == "c-1"


# --- streaming ----------------------------------------------------------------------------------------------


async def test_stream_retries_until_headers_and_streams_the_body(router, make_client) -> None:
    path = "/jobs/j1/tasks/t1/files/stdout.txt"
    router.get(path).mock(
        side_effect=[httpx.Response(503), httpx.Response(200, content=b"x" * 10_000, headers={"ETag": "0x2"})]
    )
    request = BatchRequest("Tasks_GetTaskFile", "GET", path)
    async with make_client() as client, client._pipeline.stream(request) as response:
        chunks = [chunk async for chunk in response.aiter_bytes()]
        assert response.metadata.etag == "0x2"
        assert response.metadata.attempts == 2
    assert b"".join(chunks) == b"x" * 10_000


async def test_stream_raises_typed_errors(router, make_client) -> None:
    path = "/jobs/j1/tasks/t1/files/missing.txt"
    router.get(path).mock(return_value=httpx.Response(404, json=error_body("FileNotFound")))
    async with make_client() as client:
        with pytest.raises(NotFoundError):
            async with client._pipeline.stream(BatchRequest("Tasks_GetTaskFile", "GET", path)):
                pass


# --- logging ------------------------------------------------------------------------------------------------


async def test_logs_carry_ids_and_status_but_no_secrets(router, make_client, caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="batchaio")
    router.get("/jobs").mock(
        side_effect=[
            httpx.Response(503),
            httpx.Response(200, json={"password": "hunter2"}, headers={"request-id": "s"}),
        ]
    )
    link = f"{ENDPOINT}/jobs?sig=SASSECRET&maxresults=10&$skiptoken=TOKEN"
    async with make_client() as client:
        await client._pipeline.send(
            BatchRequest("Jobs_ListJobs", "GET", link, client_request_id="cid-9", server_timeout=20)
        )
    text = caplog.text
    assert "SASSECRET" not in text and "TOKEN" not in text and "hunter2" not in text
    assert "SharedKey" not in text and KEY not in text
    assert "maxresults=10" in text and "timeout=20" in text and f"api-version={API}" in text
    assert "cid-9" in text and "request-id=s" in text and "-> 503" in text and "attempt=2" in text
    assert all(record.name == "batchaio" for record in caplog.records)


async def test_error_messages_do_not_show_query_secrets(router, make_client) -> None:
    link = f"{ENDPOINT}/jobs?sig=SASSECRET"
    router.get("/jobs").mock(
        return_value=httpx.Response(
            400, json=error_body("InvalidInput", "see https://x.blob.core.windows.net/c?sv=1&sig=BLOBSIG")
        )
    )
    async with make_client() as client:
        with pytest.raises(BadRequestError) as info:
            await client._pipeline.send(BatchRequest("Jobs_ListJobs", "GET", link))
    text = str(info.value) + repr(info.value)
    assert "SASSECRET" not in text and "BLOBSIG" not in text
    assert "InvalidInput" in text


# --- trio ---------------------------------------------------------------------------------------------------


def test_pipeline_runs_under_trio(router) -> None:
    import trio

    router.get("/jobs").mock(side_effect=[httpx.ReadError("reset"), httpx.Response(200, json={"value": []})])

    async def main() -> Any:
        async with BatchClient(
            ENDPOINT,
            SharedKeyCredential("testaccount", KEY),
            transport=httpx.MockTransport(router.async_handler),
            retry=RetryPolicy(backoff_base=0.001, backoff_cap=0.001),
        ) as client:
            return await client._pipeline.send(BatchRequest("Jobs_ListJobs", "GET", "/jobs"))

    response = trio.run(main)
    assert response.json() == {"value": []}
    assert response.metadata.attempts == 2


# --- configuration errors: wrong host name or certificate ---------------------------------------------------


def connect_error_from(cause: BaseException) -> httpx.ConnectError:
    try:
        raise httpx.ConnectError("connect failed") from cause
    except httpx.ConnectError as exc:
        return exc


@pytest.mark.parametrize(
    ("cause", "attempts", "shown"),
    [
        (ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] self-signed"), 1, "not retried"),
        (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), 1, "not retried"),
        (socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution"), 5, "was not sent"),
    ],
)
async def test_certificate_and_unknown_host_failures_are_not_retried(cause, attempts, shown) -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:  # respx would replace the exception's cause
        nonlocal calls
        calls += 1
        raise connect_error_from(cause)

    async with BatchClient(
        ENDPOINT,
        SharedKeyCredential("testaccount", KEY),
        transport=httpx.MockTransport(handler),
        retry=RetryPolicy(backoff_base=0.0001, backoff_cap=0.0001),
    ) as client:
        with pytest.raises(RequestNotSentError) as info:
            await client._pipeline.send(BatchRequest("Jobs_GetJob", "GET", "/jobs/j1"))
    assert calls == attempts == info.value.attempts
    assert shown in str(info.value)
    assert "connect failed" in str(info.value)


async def test_the_reason_of_a_transport_error_is_shown_redacted(router, make_client) -> None:
    leaky = httpx.ConnectError("cannot reach https://x.blob.core.windows.net/c?sig=SECRET&sv=1")
    router.get("/jobs/j1").mock(side_effect=leaky)
    async with make_client(retry=RetryPolicy.no_retries()) as client:
        with pytest.raises(RequestNotSentError) as info:
            await client._pipeline.send(BatchRequest("Jobs_GetJob", "GET", "/jobs/j1"))
    assert "cannot reach https://x.blob.core.windows.net/c?sig=REDACTED" in str(info.value)
    assert "SECRET" not in str(info.value)


@pytest.fixture
def self_signed(tmp_path) -> tuple[str, str]:
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return str(cert), str(key)


async def test_a_self_signed_server_certificate_fails_at_once(self_signed) -> None:
    cert, key = self_signed
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    handshakes = 0

    async def serve(stream: anyio.abc.ByteStream) -> None:
        nonlocal handshakes
        handshakes += 1
        await stream.aclose()

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    tls = anyio.streams.tls.TLSListener(listener, context, standard_compatible=False)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with anyio.create_task_group() as group:
        group.start_soon(tls.serve, serve)
        async with BatchClient(
            f"https://localhost:{port}",
            SharedKeyCredential("testaccount", KEY),
            retry=RetryPolicy(backoff_base=0.001, backoff_cap=0.001),
        ) as client:
            with pytest.raises(RequestNotSentError) as info:
                await client._pipeline.send(BatchRequest("Jobs_GetJob", "GET", "/jobs/j1"))
        group.cancel_scope.cancel()
    assert info.value.attempts == 1
    assert "CERTIFICATE_VERIFY_FAILED" in str(info.value)


# --- response metadata --------------------------------------------------------------------------------------


async def test_metadata_carries_the_sent_client_request_id_when_the_service_does_not_echo_it(
    router, make_client
) -> None:
    router.get("/jobs/j1").mock(return_value=httpx.Response(200, json={}))
    async with make_client() as client:
        response = await client._pipeline.send(
            BatchRequest("Jobs_GetJob", "GET", "/jobs/j1", client_request_id="sent-1")
        )
    assert response.metadata.client_request_id == "sent-1"
    assert response.metadata.prior_outcome_unknown is False


async def test_streamed_metadata_tells_of_an_earlier_unknown_outcome(router, make_client) -> None:
    router.get("/jobs/j1/tasks/t/files/out.txt").mock(
        side_effect=[httpx.ReadError("reset"), httpx.Response(200, content=b"data")]
    )
    async with (
        make_client() as client,
        client._pipeline.stream(
            BatchRequest(
                "Tasks_GetTaskFile", "GET", "/jobs/j1/tasks/t/files/out.txt", client_request_id="c-9"
            )
        ) as response,
    ):
        assert await response.aread() == b"data"
    assert response.metadata.prior_outcome_unknown is True
    assert response.metadata.client_request_id == "c-9"


def test_batch_request_repr_hides_query_values() -> None:
    request = BatchRequest(
        "Tasks_ListTasks",
        "GET",
        f"{ENDPOINT}/jobs/j/tasks?api-version={API}&$skiptoken=SKIP-SECRET",
        query={"$filter": "id eq 'FILTER-SECRET'", "maxresults": "10"},
        headers={"Authorization": "HEADER-SECRET"},
    )
    text = repr(request)
    assert "SECRET" not in text
    assert "'maxresults': '10'" in text and f"api-version={API}" in text and "/jobs/j/tasks" in text


# --- hardening (issue 9) -----------------------------------------------------------------------------------


async def test_a_head_refused_with_403_says_what_to_check(router, make_client) -> None:
    router.head("/pools/p1").mock(return_value=httpx.Response(403))
    async with make_client() as client:
        with pytest.raises(AuthenticationError) as info:
            await client._pipeline.send(BatchRequest("Pools_PoolExists", "HEAD", "/pools/p1"))
    assert "check the account name, the key and this machine's clock" in str(info.value)


async def test_the_message_leaves_out_the_request_id_and_time_trailer(router, make_client) -> None:
    text = "The specified job does not exist.\nRequestId:0b1c\nTime:2024-07-01T10:15:30.1234567Z"
    router.get("/jobs/j1").mock(return_value=httpx.Response(404, json=error_body("JobNotFound", text)))
    async with make_client() as client:
        with pytest.raises(NotFoundError) as info:
            await client._pipeline.send(BatchRequest("Jobs_GetJob", "GET", "/jobs/j1"))
    assert info.value.message == "The specified job does not exist."
    assert "RequestId" not in str(info.value) and "Time:" not in str(info.value)
    assert info.value.error is not None and info.value.error.code == "JobNotFound"
    assert info.value.error.message is not None and info.value.error.message.lang == "en-US"


async def test_a_success_status_carrying_a_batch_error_is_a_parse_error(router, make_client) -> None:
    router.get("/jobs/j1").mock(return_value=httpx.Response(200, json=error_body("InternalError", "oops")))
    async with make_client() as client:
        with pytest.raises(ResponseParseError, match="carries a Batch error"):
            await client._pipeline.send(BatchRequest("Jobs_GetJob", "GET", "/jobs/j1"))


async def test_a_success_body_with_failure_info_is_not_mistaken_for_an_error(router, make_client) -> None:
    task = {"id": "t", "executionInfo": {"failureInfo": {"code": "X", "message": "failed"}}}
    router.get("/jobs/j/tasks/t").mock(return_value=httpx.Response(200, json=task))
    async with make_client() as client:
        response = await client._pipeline.send(BatchRequest("Tasks_GetTask", "GET", "/jobs/j/tasks/t"))
    assert response.json()["id"] == "t"


async def test_accept_encoding_is_sent_explicitly(router, make_client) -> None:
    route = router.get("/jobs/j1").mock(return_value=httpx.Response(200, json={}))
    async with make_client() as client:
        await client._pipeline.send(BatchRequest("Jobs_GetJob", "GET", "/jobs/j1"))
    assert route.calls.last.request.headers["accept-encoding"] == C.ACCEPT_ENCODING


async def test_a_body_inflating_past_the_cap_is_refused(router, make_client) -> None:
    import gzip

    bomb = gzip.compress(b"[" + b"0," * 600_000 + b"0]")
    assert len(bomb) < 10_000
    router.get("/jobs").mock(
        return_value=httpx.Response(200, content=bomb, headers={"Content-Encoding": "gzip"})
    )
    async with make_client(max_response_bytes=1_000_000) as client:
        with pytest.raises(ResponseParseError, match="larger than 1000000 bytes"):
            await client._pipeline.send(BatchRequest("Jobs_ListJobs", "GET", "/jobs"))


@pytest.mark.parametrize("value", [0, -5, 1.5, True])
def test_max_response_bytes_is_checked(value: Any) -> None:
    with pytest.raises(ValidationError):
        BatchClient(ENDPOINT, SharedKeyCredential("testaccount", KEY), max_response_bytes=value)


@pytest.mark.parametrize(
    "kwargs",
    [{"deadline": float("nan")}, {"deadline": float("inf")}, {"backoff_base": float("nan")},
     {"backoff_cap": float("inf")}, {"retry_after_cap": float("nan")}],
)  # fmt: skip
def test_retry_policies_refuse_non_finite_numbers(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValidationError):
        RetryPolicy(**kwargs)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_timeouts_refuse_non_finite_numbers(value: float) -> None:
    from batchaio import Timeout

    with pytest.raises(ValidationError):
        Timeout(read=value)
    with pytest.raises(ValidationError):
        BatchClient(ENDPOINT, SharedKeyCredential("testaccount", KEY), timeout=value)
    with pytest.raises(ValidationError):
        BatchClient(ENDPOINT, SharedKeyCredential("testaccount", KEY), timeout=httpx.Timeout(5.0, read=value))


async def test_a_per_call_non_finite_deadline_is_refused(router, make_client) -> None:
    route = router.get("/jobs/j1").mock(return_value=httpx.Response(200, json={}))
    async with make_client() as client:
        with pytest.raises(ValidationError):
            await client._pipeline.send(BatchRequest("Jobs_GetJob", "GET", "/jobs/j1", deadline=float("nan")))
    assert not route.called


class _NewlineToken:
    async def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        class Token:
            token = "eyJ0eXAi.secret-token-value\n"
            expires_on = 4_000_000_000

        return Token()


async def test_a_token_with_a_newline_is_refused_before_sending_and_not_shown(router, caplog) -> None:
    route = router.get("/jobs/j1").mock(return_value=httpx.Response(200, json={}))
    caplog.set_level(logging.DEBUG)
    async with BatchClient(
        ENDPOINT, _NewlineToken(), transport=httpx.MockTransport(router.async_handler)
    ) as client:
        with pytest.raises(ValidationError) as info:
            await client._pipeline.send(BatchRequest("Jobs_GetJob", "GET", "/jobs/j1"))
    assert not route.called
    assert info.value.field == "credential"
    assert "secret-token-value" not in str(info.value) and "secret-token-value" not in caplog.text


async def test_closing_the_client_fails_calls_in_flight_with_a_batchaio_error() -> None:
    from batchaio.errors import ClientClosedError

    received = anyio.Event()
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)

    async def hold(stream: anyio.abc.SocketStream) -> None:
        await stream.receive()
        received.set()
        await anyio.sleep(30)

    client = BatchClient(
        f"http://127.0.0.1:{port}", SharedKeyCredential("testaccount", KEY), allow_insecure_http=True
    )
    errors: list[BaseException] = []

    async def call() -> None:
        try:
            await client._pipeline.send(BatchRequest("Jobs_GetJob", "GET", "/jobs/j1"))
        except Exception as exc:
            errors.append(exc)

    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:
            group.start_soon(listener.serve, hold)
            async with anyio.create_task_group() as calls:
                calls.start_soon(call)
                await received.wait()
                await client.aclose()
            group.cancel_scope.cancel()
    assert len(errors) == 1 and isinstance(errors[0], ClientClosedError), errors
    assert errors[0].outcome_unknown is False  # a read: nothing it did can have been applied
    with pytest.raises(ClientClosedError) as after:
        await client._pipeline.send(BatchRequest("Jobs_GetJob", "GET", "/jobs/j1"))
    assert after.value.outcome_unknown is False and "not sent" in str(after.value)


def test_prepared_requests_and_attempts_show_no_secrets_in_repr() -> None:
    from batchaio._decide import Call
    from batchaio._http import HttpRequest
    from batchaio._idempotency import Idempotency

    url = f"{ENDPOINT}/jobs?api-version={API}&$filter=secret-filter"
    request = HttpRequest("PUT", url, {"Authorization": "SharedKey a:SIG"}, b'{"password":"pw"}', {})
    call = Call("Jobs_ListJobs", Idempotency.READ, RetryPolicy(), None, "GET", url, "c")
    text = repr(request) + repr(call)
    for secret in ("secret-filter", "SIG", "pw"):
        assert secret not in text


@pytest.mark.parametrize(
    ("per_call", "expected"),
    [
        (5.0, {"connect": 5.0, "read": 5.0, "write": 5.0, "pool": 5.0}),
        (httpx.Timeout(2.0, read=9.0), {"connect": 2.0, "read": 9.0, "write": 2.0, "pool": 2.0}),
        ("partial", {"connect": 10.0, "read": 1.5, "write": 60.0, "pool": 30.0}),
        (None, {"connect": None, "read": None, "write": None, "pool": None}),
    ],
)
async def test_a_per_call_timeout_reaches_the_request(
    router, make_client, per_call: Any, expected: Any
) -> None:
    from batchaio import Timeout

    if per_call == "partial":
        per_call = Timeout(read=1.5)
    route = router.get("/jobs/j1").mock(return_value=httpx.Response(200, json={}))
    async with make_client() as client:
        await client._pipeline.send(BatchRequest("Jobs_GetJob", "GET", "/jobs/j1", timeout=per_call))
        await client._pipeline.send(BatchRequest("Jobs_GetJob", "GET", "/jobs/j1"))
    assert route.calls[0].request.extensions["timeout"] == expected
    assert route.calls[1].request.extensions["timeout"] == {
        "connect": 10.0,
        "read": 60.0,
        "write": 60.0,
        "pool": 30.0,
    }


async def test_a_per_call_retry_policy_and_deadline_apply_to_that_call_only(
    router, make_client, sleeps
) -> None:
    route = router.get("/jobs/j1").mock(return_value=httpx.Response(503))
    async with make_client() as client:
        with pytest.raises(ServerError) as one:
            await client._pipeline.send(
                BatchRequest("Jobs_GetJob", "GET", "/jobs/j1", retry=RetryPolicy(max_attempts=2))
            )
        with pytest.raises(ServerError) as short:
            await client._pipeline.send(BatchRequest("Jobs_GetJob", "GET", "/jobs/j1", deadline=0.001))
    assert one.value.attempts == 2 and short.value.attempts == 1
    assert route.call_count == 3
