"""Per-call options (``timeout``, ``retry``, ``deadline``...), ``with_options`` views, raw-response views."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from batchaio import RetryPolicy, Timeout, models
from batchaio._client import BatchClient
from batchaio._transport import BatchRequest
from batchaio.errors import ServerError, ValidationError
from batchaio.resources import Pools, RawResponse

ENDPOINT = "https://acct.westeurope.batch.azure.com"
POOL = {"id": "pool-1", "state": "active"}


def sent_requests(client: BatchClient, monkeypatch: pytest.MonkeyPatch) -> list[BatchRequest]:
    """The pipeline requests the client hands over, recorded on their way to the real pipeline."""
    seen: list[BatchRequest] = []
    send, stream = client._pipeline.send, client._pipeline.stream

    async def recording_send(request: BatchRequest) -> Any:
        seen.append(request)
        return await send(request)

    def recording_stream(request: BatchRequest) -> Any:
        seen.append(request)
        return stream(request)

    monkeypatch.setattr(client._pipeline, "send", recording_send)
    monkeypatch.setattr(client._pipeline, "stream", recording_stream)
    return seen


async def test_call_options_reach_the_request(
    client: BatchClient, mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    route = mock.get(url__startswith=f"{ENDPOINT}/pools/pool-1?").mock(
        return_value=httpx.Response(200, json=POOL)
    )
    seen = sent_requests(client, monkeypatch)
    policy = RetryPolicy(max_attempts=1)
    await client.pools.get(
        "pool-1", timeout=2.5, retry=policy, deadline=9, server_timeout=7, client_request_id="cid-7"
    )
    assert seen[0].retry is policy
    assert seen[0].deadline == 9
    assert seen[0].timeout == 2.5
    request = route.calls.last.request
    assert request.extensions["timeout"] == {"connect": 2.5, "read": 2.5, "write": 2.5, "pool": 2.5}
    assert request.url.params["timeout"] == "7"
    assert request.headers["client-request-id"] == "cid-7"


async def test_a_call_retry_policy_replaces_the_clients(client: BatchClient, mock: respx.MockRouter) -> None:
    route = mock.get(url__startswith=f"{ENDPOINT}/pools/pool-1?").mock(return_value=httpx.Response(503))
    with pytest.raises(ServerError):
        await client.pools.get("pool-1", retry=RetryPolicy.no_retries())
    assert route.call_count == 1
    with pytest.raises(ServerError):
        await client.pools.get("pool-1")
    assert route.call_count == 1 + 3  # the client's policy: 3 attempts


async def test_timeout_none_means_no_timeout_and_a_timeout_object_is_taken_as_is(
    client: BatchClient, mock: respx.MockRouter
) -> None:
    route = mock.get(url__startswith=f"{ENDPOINT}/pools/pool-1?").mock(
        return_value=httpx.Response(200, json=POOL)
    )
    await client.pools.get("pool-1", timeout=None)
    assert route.calls.last.request.extensions["timeout"] == dict.fromkeys(
        ("connect", "read", "write", "pool")
    )
    await client.pools.get("pool-1", timeout=Timeout(read=4.0))
    assert route.calls.last.request.extensions["timeout"]["read"] == 4.0
    assert route.calls.last.request.extensions["timeout"]["connect"] == client.timeout.connect


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"timeout": 0}, "timeout"),
        ({"timeout": float("nan")}, "timeout"),
        ({"timeout": "5"}, "timeout"),
        ({"deadline": -1}, "deadline"),
        ({"deadline": float("inf")}, "deadline"),
        ({"deadline": True}, "deadline"),
        ({"retry": 3}, "retry"),
    ],
)
async def test_bad_call_options_are_refused_before_sending(
    client: BatchClient, mock: respx.MockRouter, options: dict[str, Any], field: str
) -> None:
    route = mock.route().mock(return_value=httpx.Response(200, json=POOL))
    with pytest.raises(ValidationError) as info:
        await client.pools.get("pool-1", **options)
    assert info.value.field is not None and info.value.field.startswith(field)
    assert route.call_count == 0


async def test_a_misspelt_keyword_is_a_type_error(client: BatchClient, mock: respx.MockRouter) -> None:
    route = mock.route().mock(return_value=httpx.Response(200, json=POOL))
    with pytest.raises(TypeError, match="unexpected keyword argument 'selct'"):
        await client.pools.get("pool-1", selct=["id"])  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected keyword argument 'dedline'"):
        client.pools.list(dedline=3)  # type: ignore[call-arg]
    assert route.call_count == 0


async def test_listings_keep_the_call_options_on_every_page(
    client: BatchClient, mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    mock.get(url__startswith=f"{ENDPOINT}/pools?").mock(
        side_effect=[
            httpx.Response(200, json={"value": [POOL], "odata.nextLink": f"{ENDPOINT}/pools?skip=1"}),
            httpx.Response(200, json={"value": [POOL]}),
        ]
    )
    seen = sent_requests(client, monkeypatch)
    policy = RetryPolicy(max_attempts=2)
    items = [pool async for pool in client.pools.list(retry=policy, deadline=30)]
    assert len(items) == 2
    assert [(r.retry, r.deadline) for r in seen] == [(policy, 30), (policy, 30)]


async def test_downloads_take_call_options(
    client: BatchClient, mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    mock.get(url__startswith=f"{ENDPOINT}/jobs/job-1/tasks/t1/files/out.txt?").mock(
        return_value=httpx.Response(200, content=b"hello", headers={"content-length": "5"})
    )
    seen = sent_requests(client, monkeypatch)
    await client.tasks.download_file_to("job-1", "t1", "out.txt", tmp_path / "out.txt", deadline=12)
    assert (tmp_path / "out.txt").read_bytes() == b"hello"
    assert seen[0].deadline == 12


async def test_with_options_is_a_view_sharing_the_connection_pool(
    client: BatchClient, mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    route = mock.get(url__startswith=f"{ENDPOINT}/pools/pool-1?").mock(
        return_value=httpx.Response(200, json=POOL)
    )
    seen = sent_requests(client, monkeypatch)
    policy = RetryPolicy.no_retries()
    view = client.with_options(retry=policy, timeout=3, server_timeout=10)
    assert view._transport is client._transport
    assert view._pipeline is client._pipeline
    assert view.retry is policy
    assert client.retry is not policy
    await view.pools.get("pool-1")
    await view.pools.get("pool-1", server_timeout=20)
    await client.pools.get("pool-1")
    assert [r.retry for r in seen] == [policy, policy, None]
    assert [r.server_timeout for r in seen] == [10, 20, None]
    assert route.calls[0].request.extensions["timeout"]["read"] == 3
    assert route.calls[2].request.extensions["timeout"]["read"] == client.timeout.read
    narrower = view.with_options(deadline=5)
    await narrower.pools.get("pool-1")
    assert (seen[-1].retry, seen[-1].deadline, seen[-1].server_timeout) == (policy, 5, 10)


async def test_closing_a_view_leaves_its_client_open(client: BatchClient) -> None:
    async with client.with_options(deadline=5) as view:
        pass
    assert not client.is_closed
    assert not view.is_closed
    await client.aclose()
    assert view.is_closed


def test_with_options_checks_its_values(client: BatchClient) -> None:
    with pytest.raises(ValidationError) as info:
        client.with_options(deadline=0)
    assert info.value.field == "deadline"
    with pytest.raises(TypeError):
        client.with_options(client_request_id="same-for-every-call")  # type: ignore[call-arg]


async def test_raw_responses_wrap_the_same_methods_and_are_built_on_first_use(
    client: BatchClient, mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "with_raw_response" not in vars(client)
    raw_client = client.with_raw_response
    assert "pools" not in vars(raw_client)
    raw_get = raw_client.pools.get
    assert raw_get.__func__ is Pools.get  # type: ignore[attr-defined]
    assert set(vars(raw_client)) == {"_client", "pools"}
    mock.get(url__startswith=f"{ENDPOINT}/pools/pool-1?").mock(return_value=httpx.Response(200, json=POOL))
    seen = sent_requests(client, monkeypatch)
    raw = await raw_get("pool-1", select=["id"], deadline=4)
    assert isinstance(raw, RawResponse)
    assert raw.parse() == models.BatchPool(id="pool-1", state=models.BatchPoolState.ACTIVE)
    assert seen[0].deadline == 4
    assert seen[0].query["$select"] == "id"
    plain = await client.pools.get("pool-1")
    assert isinstance(plain, models.BatchPool)


async def test_a_view_has_its_own_raw_responses(client: BatchClient) -> None:
    view = client.with_options(deadline=6)
    assert view.with_raw_response is not client.with_raw_response
    assert view.with_raw_response.pools.get.__self__._defaults == {"deadline": 6}  # type: ignore[attr-defined]
