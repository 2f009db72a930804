"""Replay real service exchanges (tests/fixtures/recorded) through the operations: paths, queries, parsing."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
import respx

from batchaio import models
from batchaio._client import BatchClient
from batchaio._retry import RetryPolicy
from batchaio.auth import SharedKeyCredential
from batchaio.errors import ConflictError

RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "recorded"
ENDPOINT = "https://test4.japaneast.batch.azure.com"
NODE_A = "tvmps_629912ea6ac7432abe90f0dde1dd3071b1141a76f5de918abc24ffb884842d38_d"
NODE_B = "tvmps_b4dfe133c1801748d727159c89c5e9050cea5f835b329da83049f10f6d415a0e_d"
JOB = "HelloWorldJobNodeSDKTest"


async def collect(pager: Any) -> list[Any]:
    return [item async for item in pager]


async def first_pages(pager: Any, count: int) -> list[Any]:
    """The items of the first ``count`` pages (the recording stops there), checking each page's next link."""
    items: list[Any] = []
    async for page in pager.pages():
        assert page.next_link is not None and "$skiptoken=" in page.next_link
        items += page.items
        count -= 1
        if not count:
            break
    return items


Check = Callable[[BatchClient], Awaitable[Any]]

CASES: dict[str, tuple[Check, Callable[[Any], bool]]] = {
    "should_count_tasks_sucessfully": (
        lambda c: c.jobs.get_task_counts(JOB),
        # recorded with api-version 2020-03-01: its flat body predates the taskCounts wrapper
        lambda r: isinstance(r, models.BatchTaskCountsResult) and r.task_counts is None,
    ),
    "should_get_a_compute_node_reference": (
        lambda c: c.nodes.get("nodesdktestpool1", NODE_A),
        lambda r: isinstance(r, models.BatchNode) and r.id == NODE_A,
    ),
    "should_get_a_pool_reference_successfully": (
        lambda c: c.pools.get("nodesdktestpool1"),
        lambda r: isinstance(r, models.BatchPool) and r.id == "nodesdktestpool1",
    ),
    "should_get_a_pool_reference_with_odata_successfully": (
        lambda c: c.pools.get("nodesdktestpool1", select=["id", "state"], expand=["stats"]),
        lambda r: isinstance(r, models.BatchPool) and r.id == "nodesdktestpool1" and r.state is not None,
    ),
    "should_get_file_properties_from_node_successfully": (
        lambda c: c.nodes.get_file_properties("nodesdktestpool1", NODE_B, "startup/wd/hello.txt"),
        lambda r: r.etag is None,
    ),
    "should_get_pool_node_counts_successfully": (
        lambda c: collect(c.pools.list_node_counts()),
        lambda r: all(isinstance(x, models.BatchPoolNodeCounts) and x.pool_id for x in r),
    ),
    "should_list_a_maximum_number_of_pools": (
        lambda c: first_pages(c.pools.list(max_results=1), 2),
        lambda r: len(r) == 2 and all(isinstance(x, models.BatchPool) and x.id for x in r),
    ),
    "should_list_all_tasks_successfully": (
        lambda c: collect(c.tasks.list(JOB)),
        lambda r: len(r) > 0 and all(isinstance(x, models.BatchTask) and x.id for x in r),
    ),
    "should_list_compute_nodes_successfully": (
        lambda c: collect(c.nodes.list("nodesdktestpool1")),
        lambda r: len(r) > 0 and all(isinstance(x, models.BatchNode) and x.id for x in r),
    ),
    "should_list_files_from_compute_node_successfully": (
        lambda c: collect(c.nodes.list_files("nodesdktestpool1", NODE_B)),
        lambda r: len(r) > 0 and all(isinstance(x, models.BatchNodeFile) and x.name for x in r),
    ),
    "should_list_files_from_task_successfully": (
        lambda c: collect(c.tasks.list_files(JOB, "HelloWorldNodeSDKTestTask2")),
        lambda r: len(r) > 0 and all(isinstance(x, models.BatchNodeFile) and x.name for x in r),
    ),
    "should_list_pools_without_filters": (
        lambda c: collect(c.pools.list()),
        lambda r: len(r) > 0 and all(isinstance(x, models.BatchPool) for x in r),
    ),
}
FAILURES: dict[str, tuple[Check, str]] = {
    "should_fail_to_cancel_deleting_a_certificate": (
        lambda c: c.certificates.cancel_deletion("sha1", "cff2ab63c8c955aaf71989efa641b906558d9fb7"),
        "CertificateBeingDeleted",
    ),
    "should_fail_to_delete_a_non-existant_pool": (
        lambda c: c.pools.delete("nodesdktestpool1"),
        "PoolBeingDeleted",
    ),
    "should_fail_to_job_preprelease_status": (
        lambda c: collect(c.jobs.list_preparation_and_release_task_status(JOB)),
        "JobPreparationTaskOrReleaseTaskNotSpecified",
    ),
}


def _split(target: str) -> tuple[str, list[tuple[str, str]]]:
    path, _, query = target.partition("?")
    pairs = [
        (k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k not in ("api-version", "timeout")
    ]
    return path, pairs


@pytest.fixture
async def client() -> AsyncIterator[BatchClient]:
    credential = SharedKeyCredential("test4", base64.b64encode(b"k" * 32).decode())
    async with BatchClient(ENDPOINT, credential, retry=RetryPolicy(max_attempts=1)) as batch:
        yield batch


def _replay(name: str, router: respx.MockRouter) -> respx.Route:
    exchanges = json.loads((RECORDED / f"{name}.json").read_text())["exchanges"]
    queue = list(exchanges)

    def respond(request: httpx.Request) -> httpx.Response:
        exchange = queue.pop(0)
        assert request.method == exchange["method"]
        sent = request.url.raw_path.decode()
        assert _split(sent) == _split(exchange["path"])
        body = exchange.get("body")
        return httpx.Response(exchange["status"], json=body) if body is not None else httpx.Response(200)

    return router.route().mock(side_effect=respond)


@pytest.mark.parametrize("name", sorted(CASES))
async def test_recorded_success(name: str, client: BatchClient) -> None:
    call, check = CASES[name]
    with respx.mock(assert_all_called=False) as router:
        route = _replay(name, router)
        result = await call(client)
    assert check(result)
    assert route.call_count == len(json.loads((RECORDED / f"{name}.json").read_text())["exchanges"])


@pytest.mark.parametrize("name", sorted(FAILURES))
async def test_recorded_failure(name: str, client: BatchClient) -> None:
    call, code = FAILURES[name]
    with respx.mock(assert_all_called=False) as router:
        _replay(name, router)
        with pytest.raises(ConflictError) as info:
            await call(client)
    assert info.value.code == code


def test_the_recorded_invalid_max_results_is_caught_before_sending(client: BatchClient) -> None:
    exchange = json.loads((RECORDED / "should_fail_to_list_pools_with_invalid_max.json").read_text())[
        "exchanges"
    ][0]
    assert exchange["status"] == 400  # what the service answers to maxresults=-5
    with pytest.raises(ValueError, match="max_results must be between 1 and 1000"):
        client.pools.list(max_results=-5)


def test_every_recording_is_replayed() -> None:
    names = {p.stem for p in RECORDED.glob("*.json")}
    assert names == set(CASES) | set(FAILURES) | {"should_fail_to_list_pools_with_invalid_max"}
