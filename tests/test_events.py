"""Event hooks: what a metrics or logging integration sees of each attempt (``batchaio.EventHooks``)."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import httpx
import pytest
import respx

from batchaio import (
    BatchClient,
    EventHooks,
    RequestEvent,
    ResponseEvent,
    RetryEvent,
    RetryPolicy,
    SharedKeyCredential,
    ValidationError,
)

ENDPOINT = "https://acct.westeurope.batch.azure.com"
KEY = base64.b64encode(b"k" * 32).decode()


def hooked_client(hooks: EventHooks) -> BatchClient:
    retry = RetryPolicy(max_attempts=3, backoff_base=0.0, backoff_cap=0.0)
    return BatchClient(ENDPOINT, SharedKeyCredential("acct", KEY), retry=retry, event_hooks=hooks)


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=ENDPOINT, assert_all_called=False) as router:
        yield router


async def test_a_retried_call_reports_each_attempt_and_the_wait(mock: respx.MockRouter) -> None:
    seen: list[object] = []

    async def on_response(event: ResponseEvent) -> None:  # an async hook is awaited
        seen.append(event)

    hooks = EventHooks(request=[seen.append], response=[on_response], retry=[seen.append])
    mock.get("/pools/p1").mock(
        side_effect=[
            httpx.Response(503, headers={"retry-after": "0", "request-id": "r1"}),
            httpx.Response(200, json={"id": "p1"}, headers={"request-id": "r2"}),
        ]
    )
    async with hooked_client(hooks) as client:
        await client.pools.get("p1", select=["id"])
    kinds = [type(event).__name__ for event in seen]
    assert kinds == ["RequestEvent", "ResponseEvent", "RetryEvent", "RequestEvent", "ResponseEvent"]
    first, answered = seen[1], seen[4]
    assert isinstance(first, ResponseEvent) and isinstance(answered, ResponseEvent)
    assert (first.attempt, first.status_code, first.request_id, first.failure) == (1, 503, "r1", None)
    assert (answered.attempt, answered.status_code, answered.request_id) == (2, 200, "r2")
    retry = seen[2]
    assert isinstance(retry, RetryEvent) and retry.attempt == 1 and retry.delay >= 0 and "503" in retry.reason
    request = seen[0]
    assert isinstance(request, RequestEvent)
    assert request.operation_id == "Pools_GetPool" and request.method == "GET"
    assert request.url.startswith(f"{ENDPOINT}/pools/p1?")
    assert len({event.client_request_id for event in seen}) == 1  # type: ignore[attr-defined]


async def test_an_attempt_without_an_answer(mock: respx.MockRouter) -> None:
    seen: list[ResponseEvent] = []
    mock.get("/pools/p1").mock(
        side_effect=[httpx.ConnectError("refused"), httpx.Response(200, json={"id": "p1"})]
    )
    async with hooked_client(EventHooks(response=[seen.append])) as client:
        await client.pools.get("p1")
    assert seen[0].status_code is None and seen[0].failure
    assert seen[1].status_code == 200 and seen[1].failure is None


async def test_events_carry_no_secret(mock: respx.MockRouter) -> None:
    seen: list[object] = []
    link = f"{ENDPOINT}/jobs/j1/tasks?api-version=2024-07-01.20.0&$skiptoken=sig%3Dsecret"
    mock.get("/jobs/j1/tasks").mock(
        side_effect=[
            httpx.Response(200, json={"value": [], "odata.nextLink": link}),
            httpx.Response(200, json={"value": []}),
        ]
    )
    async with hooked_client(EventHooks(request=[seen.append], response=[seen.append])) as client:
        assert [task async for task in client.tasks.list("j1")] == []
    assert len(seen) == 4
    assert all("secret" not in repr(event) and KEY not in repr(event) for event in seen)


async def test_a_hook_that_raises_ends_the_call(mock: respx.MockRouter) -> None:
    def refuse(event: RequestEvent) -> None:
        raise RuntimeError("hook says no")

    route = mock.get("/pools/p1").respond(200, json={"id": "p1"})
    async with hooked_client(EventHooks(request=[refuse])) as client:
        with pytest.raises(RuntimeError, match="hook says no"):
            await client.pools.get("p1")
    assert not route.called


@pytest.mark.parametrize("hooks", [{"request": [1]}, {"response": print}])
def test_hooks_must_be_lists_of_callables(hooks: dict[str, object]) -> None:
    with pytest.raises(ValidationError) as raised:
        EventHooks(**hooks)  # type: ignore[arg-type]
    assert raised.value.field == "event_hooks"
