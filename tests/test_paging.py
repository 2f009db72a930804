"""The async pager: several pages, empty pages, resuming from a saved link, a page that fails once."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import respx

from batchaio._client import BatchClient
from batchaio._paging import AsyncPager, Page
from batchaio._retry import RetryPolicy
from batchaio.auth import SharedKeyCredential
from batchaio.errors import ResponseParseError, ServerError, ValidationError
from batchaio.models import BatchCertificate, BatchTask

ENDPOINT = "https://acct.westeurope.batch.azure.com"
TASKS = f"{ENDPOINT}/jobs/job-1/tasks"


def link(token: str) -> str:
    return f"{TASKS}?api-version=2024-07-01.20.0&$filter=state%20eq%20%27active%27&$skiptoken={token}"


def page(ids: list[str], next_token: str | None = None) -> httpx.Response:
    body: dict[str, Any] = {"odata.metadata": "m", "value": [{"id": i, "state": "active"} for i in ids]}
    if next_token is not None:
        body["odata.nextLink"] = link(next_token)
    return httpx.Response(200, json=body)


@pytest.fixture
async def client() -> AsyncIterator[BatchClient]:
    credential = SharedKeyCredential("acct", base64.b64encode(b"k" * 32).decode())
    retry = RetryPolicy(max_attempts=3, backoff_base=0.0, backoff_cap=0.0)
    async with BatchClient(ENDPOINT, credential, retry=retry) as batch:
        yield batch


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        yield router


def token_of(request: httpx.Request) -> str | None:
    return request.url.params.get("$skiptoken")


def serve(pages: dict[str | None, list[httpx.Response]]) -> Any:
    """A side effect answering by skip token; each token's responses are used in turn."""

    def respond(request: httpx.Request) -> httpx.Response:
        return pages[token_of(request)].pop(0)

    return respond


async def test_walks_every_page_in_order(client: BatchClient, mock: respx.MockRouter) -> None:
    route = mock.get(url__startswith=TASKS).mock(
        side_effect=serve({None: [page(["a", "b"], "p2")], "p2": [page(["c"], "p3")], "p3": [page(["d"])]})
    )
    pager = client.tasks.list("job-1", filter="state eq 'active'", max_results=2)
    assert isinstance(pager, AsyncPager)
    ids = [task.id async for task in pager]
    assert ids == ["a", "b", "c", "d"]
    assert all(isinstance(call.request, httpx.Request) for call in route.calls)
    first, second, third = (call.request for call in route.calls)
    assert first.url.params["$filter"] == "state eq 'active'"
    assert first.url.params["maxresults"] == "2"
    assert token_of(second) == "p2" and token_of(third) == "p3"
    for request in (second, third):
        assert request.url.params.get_list("api-version") == ["2024-07-01.20.0"]
        assert request.url.params.get_list("$filter") == ["state eq 'active'"]
    assert pager.next_link is None


async def test_pages_expose_items_and_next_link(client: BatchClient, mock: respx.MockRouter) -> None:
    mock.get(url__startswith=TASKS).mock(side_effect=serve({None: [page(["a"], "p2")], "p2": [page(["b"])]}))
    pages = [p async for p in client.tasks.list("job-1").pages()]
    assert [type(p) for p in pages] == [Page, Page]
    assert [[t.id for t in p.items] for p in pages] == [["a"], ["b"]]
    assert all(isinstance(t, BatchTask) for p in pages for t in p.items)
    assert [p.next_link for p in pages] == [link("p2"), None]
    assert pages[0].metadata.status_code == 200


async def test_empty_pages_with_a_next_link_are_followed(client: BatchClient, mock: respx.MockRouter) -> None:
    mock.get(url__startswith=TASKS).mock(
        side_effect=serve({None: [page([], "p2")], "p2": [page([], "p3")], "p3": [page(["z"])]})
    )
    assert [task.id async for task in client.tasks.list("job-1")] == ["z"]


async def test_resume_from_a_saved_link(client: BatchClient, mock: respx.MockRouter) -> None:
    route = mock.get(url__startswith=TASKS).mock(
        side_effect=serve(
            {None: [page(["a"], "p2")], "p2": [page(["b"], "p3"), page(["b"], "p3")], "p3": [page(["c"])]}
        )
    )
    pager = client.tasks.list("job-1")
    async for first_page in pager.pages():
        saved = first_page.next_link
        break
    assert saved == link("p2")
    assert pager.next_link == saved

    resumed = client.tasks.list("job-1").from_link(saved)
    assert [task.id async for task in resumed] == ["b", "c"]
    assert [token_of(call.request) for call in route.calls] == [None, "p2", "p3"]


async def test_a_page_that_fails_once_is_retried_without_restarting(
    client: BatchClient, mock: respx.MockRouter
) -> None:
    busy = httpx.Response(503, json={"code": "ServerBusy", "message": {"value": "busy"}})
    route = mock.get(url__startswith=TASKS).mock(
        side_effect=serve({None: [page(["a"], "p2")], "p2": [busy, page(["b"], "p3")], "p3": [page(["c"])]})
    )
    assert [task.id async for task in client.tasks.list("job-1")] == ["a", "b", "c"]
    assert [token_of(call.request) for call in route.calls] == [None, "p2", "p2", "p3"]
    retried = [call.request for call in route.calls[1:3]]
    assert retried[0].headers["client-request-id"] == retried[1].headers["client-request-id"]


async def test_a_page_that_keeps_failing_raises_and_can_be_resumed(
    client: BatchClient, mock: respx.MockRouter
) -> None:
    busy = httpx.Response(500, json={"code": "InternalError"})
    mock.get(url__startswith=TASKS).mock(
        side_effect=serve({None: [page(["a"], "p2")], "p2": [busy, busy, busy, page(["b"])]})
    )
    pager = client.tasks.list("job-1")
    seen = []
    with pytest.raises(ServerError):
        async for task in pager:
            seen.append(task.id)
    assert seen == ["a"]
    assert pager.next_link == link("p2")
    assert [task.id async for task in pager.from_link(pager.next_link)] == ["b"]


async def test_pages_are_fetched_lazily(client: BatchClient, mock: respx.MockRouter) -> None:
    route = mock.get(url__startswith=TASKS).mock(
        side_effect=serve({None: [page(["a", "b"], "p2")], "p2": [page(["c"])]})
    )
    pager = client.tasks.list("job-1")
    assert route.call_count == 0
    iterator = aiter(pager)
    assert (await anext(iterator)).id == "a"
    assert (await anext(iterator)).id == "b"
    assert route.call_count == 1
    assert (await anext(iterator)).id == "c"
    assert route.call_count == 2


async def test_next_link_on_another_host_is_refused(client: BatchClient, mock: respx.MockRouter) -> None:
    evil = {"value": [], "odata.nextLink": "https://evil.example.com/jobs/job-1/tasks?$skiptoken=x"}
    route = mock.get(url__startswith=TASKS).mock(return_value=httpx.Response(200, json=evil))
    with pytest.raises(ValidationError, match="not on the client's endpoint"):
        [task async for task in client.tasks.list("job-1")]
    assert route.call_count == 1


@pytest.mark.parametrize("value", [0, -1, 1001, True, "10"])
def test_max_results_is_checked_before_sending(client: BatchClient, value: Any) -> None:
    with pytest.raises(ValidationError) as info:
        client.tasks.list("job-1", max_results=value)
    assert info.value.field == "max_results"


def test_certificates_allow_at_most_100_per_page(client: BatchClient) -> None:
    with pytest.raises(ValidationError, match="between 1 and 100"):
        client.certificates.list(max_results=101)
    assert isinstance(client.certificates.list(max_results=100), AsyncPager)
    assert isinstance(client.pools.list(max_results=1000), AsyncPager)


def test_from_link_wants_an_absolute_url(client: BatchClient) -> None:
    with pytest.raises(ValidationError):
        client.tasks.list("job-1").from_link("/jobs/job-1/tasks?$skiptoken=x")


async def test_certificate_pages_are_typed(client: BatchClient, mock: respx.MockRouter) -> None:
    body = {"value": [{"thumbprint": "AB", "thumbprintAlgorithm": "sha1", "state": "active"}]}
    mock.get(f"{ENDPOINT}/certificates").mock(return_value=httpx.Response(200, json=body))
    [certificate] = [c async for c in client.certificates.list()]
    assert isinstance(certificate, BatchCertificate)
    assert certificate.thumbprint == "AB"


async def test_resume_inside_a_page_from_the_current_link(
    client: BatchClient, mock: respx.MockRouter
) -> None:
    mock.get(url__startswith=TASKS).mock(
        side_effect=serve(
            {None: [page(["a"], "p2")], "p2": [page(["b", "c"], "p3")] * 2, "p3": [page(["d"])]}
        )
    )
    pager = client.tasks.list("job-1")
    async for task in pager:
        if task.id == "a":
            assert pager.current_link is None
        if task.id == "b":
            break
    assert pager.current_link == link("p2")
    assert pager.next_link == link("p3")
    resumed = pager.from_link(pager.current_link)
    assert [task.id async for task in resumed] == ["b", "c", "d"]
    assert resumed.current_link == link("p3")


@pytest.mark.parametrize("body", [b"", b"[]", b'{"value": {"id": "a"}}', b'{"value": [1]}', b"nope"])
async def test_an_unreadable_listing_body_raises(
    client: BatchClient, mock: respx.MockRouter, body: bytes
) -> None:
    mock.get(url__startswith=TASKS).mock(
        return_value=httpx.Response(200, content=body, headers={"request-id": "r-list"})
    )
    with pytest.raises(ResponseParseError) as info:
        [task async for task in client.tasks.list("job-1")]
    assert info.value.operation == "Tasks_ListTasks"
    assert info.value.request_id == "r-list"


async def test_a_next_link_seen_before_stops_the_listing(client: BatchClient, mock: respx.MockRouter) -> None:
    route = mock.get(url__startswith=TASKS).mock(
        side_effect=serve({None: [page(["a"], "p2")], "p2": [page(["b"], "p3")], "p3": [page(["c"], "p2")]})
    )
    seen = []
    with pytest.raises(ResponseParseError, match="already followed"):
        async for task in client.tasks.list("job-1"):
            seen.append(task.id)
    assert seen == ["a", "b"]
    assert route.call_count == 3


async def test_a_next_link_equal_to_the_resumed_link_stops(
    client: BatchClient, mock: respx.MockRouter
) -> None:
    mock.get(url__startswith=TASKS).mock(return_value=page(["a"], "p2"))
    with pytest.raises(ResponseParseError, match="already followed"):
        [task async for task in client.tasks.list("job-1").from_link(link("p2"))]


async def test_ever_new_next_links_with_empty_pages_stop_after_the_bound(
    client: BatchClient, mock: respx.MockRouter
) -> None:
    counter = iter(range(1_000_000))

    def endless(request: httpx.Request) -> httpx.Response:
        return page([], f"n{next(counter)}")

    route = mock.get(url__startswith=TASKS).mock(side_effect=endless)
    pager = client.tasks.list("job-1")
    pager.max_empty_pages = 25
    with pytest.raises(ResponseParseError, match="26 empty pages in a row"):
        [task async for task in pager]
    assert route.call_count == 26


async def test_the_empty_page_bound_counts_pages_in_a_row(
    client: BatchClient, mock: respx.MockRouter
) -> None:
    pages = {None: [page([], "p1")], "p1": [page([], "p2")], "p2": [page(["a"], "p3")]}
    pages |= {"p3": [page([], "p4")], "p4": [page([], "p5")], "p5": [page(["b"])]}
    mock.get(url__startswith=TASKS).mock(side_effect=serve(pages))
    pager = client.tasks.list("job-1")
    pager.max_empty_pages = 2
    assert [task.id async for task in pager] == ["a", "b"]
    resumed = pager.from_link(link("p3"))
    assert resumed.max_empty_pages == 2


def test_the_default_empty_page_bound_is_generous_and_checked(client: BatchClient) -> None:
    pager = client.tasks.list("job-1")
    assert pager.max_empty_pages == 1000
    for bad in (0, -1, True, 2.5):
        with pytest.raises(ValidationError):
            pager.max_empty_pages = bad  # type: ignore[assignment]


async def test_resuming_from_the_next_link_of_a_finished_listing_yields_nothing(
    client: BatchClient, mock: respx.MockRouter
) -> None:
    route = mock.get(url__startswith=TASKS).mock(side_effect=serve({None: [page(["a"])]}))
    pager = client.tasks.list("job-1", max_results=2)
    async for _ in pager:
        break
    assert pager.next_link is None
    assert [task async for task in client.tasks.list("job-1").from_link(pager.next_link)] == []
    assert route.call_count == 1


async def test_a_listing_without_value_is_a_parse_error(client: BatchClient, mock: respx.MockRouter) -> None:
    mock.get(url__startswith=TASKS).mock(return_value=httpx.Response(200, json={"odata.metadata": "m"}))
    with pytest.raises(ResponseParseError):
        [task async for task in client.tasks.list("job-1")]


async def test_a_listing_answered_with_a_batch_error_is_a_parse_error(
    client: BatchClient, mock: respx.MockRouter
) -> None:
    error = {"code": "InternalError", "message": {"lang": "en-US", "value": "Server busy"}}
    mock.get(url__startswith=TASKS).mock(return_value=httpx.Response(200, json=error))
    with pytest.raises(ResponseParseError):
        [task async for task in client.tasks.list("job-1")]
