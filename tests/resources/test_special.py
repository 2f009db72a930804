"""Hand-written checks for the operations whose shape is not a plain request/response."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import httpx
import orjson
import pytest
import respx

from batchaio import models
from batchaio._client import BatchClient
from batchaio.errors import (
    BatchaioError,
    NotFoundError,
    NotModifiedError,
    ResponseParseError,
    ValidationError,
)
from batchaio.resources import _base

ENDPOINT = "https://acct.westeurope.batch.azure.com"


def tasks(n: int) -> models.BatchTaskGroup:
    return models.BatchTaskGroup(
        value=[models.BatchTaskCreateContent(id=f"t{i}", command_line="echo") for i in range(n)]
    )


def tasks_with_id(second: str) -> models.BatchTaskGroup:
    return models.BatchTaskGroup(
        value=[models.BatchTaskCreateContent(id=i, command_line="echo") for i in ("first", second)]
    )


async def test_jobs_made_by_a_schedule_can_be_addressed(client: BatchClient, mock: respx.MockRouter) -> None:
    route = mock.get(url__startswith=f"{ENDPOINT}/jobs/nightly%3Ajob-1?").mock(
        return_value=httpx.Response(200, json={"id": "nightly:job-1"})
    )
    job = await client.jobs.get("nightly:job-1")
    assert job.id == "nightly:job-1"
    assert route.calls[0].request.url.raw_path.startswith(b"/jobs/nightly%3Ajob-1?")


@pytest.mark.parametrize(
    ("call", "url"),
    [
        (lambda c: c.pools.exists("pool-1"), "/pools/pool-1"),
        (lambda c: c.job_schedules.exists("sched-1"), "/jobschedules/sched-1"),
    ],
)
async def test_exists_maps_404_to_false(
    client: BatchClient, mock: respx.MockRouter, call: Any, url: str
) -> None:
    route = mock.head(url).mock(side_effect=[httpx.Response(200), httpx.Response(404)])
    assert await call(client) is True
    assert await call(client) is False
    assert route.call_count == 2


async def test_get_still_raises_not_found(client: BatchClient, mock: respx.MockRouter) -> None:
    mock.get("/pools/gone").mock(return_value=httpx.Response(404, json={"code": "PoolNotFound"}))
    with pytest.raises(NotFoundError) as info:
        await client.pools.get("gone")
    assert info.value.code == "PoolNotFound"


async def test_add_collection_parses_per_task_results(client: BatchClient, mock: respx.MockRouter) -> None:
    body = {
        "value": [
            {"status": "Success", "taskId": "t0", "eTag": "0x1", "location": "https://x/jobs/j/tasks/t0"},
            {
                "status": "clienterror",
                "taskId": "t1",
                "error": {"code": "TaskExists", "message": {"value": "exists"}},
            },
        ]
    }
    route = mock.post("/jobs/job-1/addtaskcollection").mock(return_value=httpx.Response(200, json=body))
    result = await client.tasks.add_collection("job-1", tasks(2))
    assert isinstance(result, models.BatchTaskAddCollectionResult)
    assert [r.task_id for r in result.value or []] == ["t0", "t1"]
    assert (result.value or [])[1].error.code == "TaskExists"  # type: ignore[union-attr]
    sent = orjson.loads(route.calls[0].request.content)
    assert sent == {"value": [{"id": "t0", "commandLine": "echo"}, {"id": "t1", "commandLine": "echo"}]}


@pytest.mark.parametrize("count", [0, 101])
async def test_add_collection_takes_1_to_100_tasks(
    client: BatchClient, mock: respx.MockRouter, count: int
) -> None:
    route = mock.route()
    with pytest.raises(ValidationError, match="1 to 100") as info:
        await client.tasks.add_collection("job-1", tasks(count))
    assert info.value.field == "task_collection.value"
    assert not route.called


async def test_add_collection_with_100_tasks_is_one_request(
    client: BatchClient, mock: respx.MockRouter
) -> None:
    route = mock.post("/jobs/job-1/addtaskcollection").mock(
        return_value=httpx.Response(200, json={"value": []})
    )
    await client.tasks.add_collection("job-1", tasks(100))
    assert route.call_count == 1
    assert len(orjson.loads(route.calls[0].request.content)["value"]) == 100


async def test_missing_required_body_field_is_named(client: BatchClient, mock: respx.MockRouter) -> None:
    route = mock.route()
    group = models.BatchTaskGroup(value=[models.BatchTaskCreateContent(id="t0")])
    with pytest.raises(ValidationError) as info:
        await client.tasks.add_collection("job-1", group)
    assert info.value.field == "value[0].command_line"
    assert not route.called


async def test_body_of_the_wrong_model_is_rejected(client: BatchClient, mock: respx.MockRouter) -> None:
    route = mock.route()
    with pytest.raises(ValidationError, match="pool must be a BatchPoolCreateContent, not BatchPool"):
        await client.pools.create(models.BatchPool(id="p"))  # type: ignore[arg-type]
    assert not route.called


async def test_optional_body_left_out_sends_no_content(client: BatchClient, mock: respx.MockRouter) -> None:
    route = mock.post("/pools/pool-1/nodes/tvm-1/reboot").mock(return_value=httpx.Response(202))
    metadata = await client.nodes.reboot("pool-1", "tvm-1")
    assert metadata.status_code == 202
    request = route.calls[0].request
    assert request.content == b""
    assert request.headers["content-length"] == "0"


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda c: c.tasks.get("..", "t"), "job_id"),
        (lambda c: c.tasks.get("job-1", "t" * 1025), "task_id"),
        (lambda c: c.tasks.delete_file("job-1", "task-1", "..", recursive=True), "file_path"),
        (lambda c: c.tasks.delete_file("job-1", "task-1", "."), "file_path"),
        (lambda c: c.nodes.delete_user("pool-1", "tvm-1", ".."), "user_name"),
        (lambda c: c.jobs.create(models.BatchJobCreateContent(id="nightly:job-1")), "id"),
        (lambda c: c.tasks.create("job-1", models.BatchTaskCreateContent(id="t 1")), "id"),
        (lambda c: c.tasks.add_collection("job-1", tasks_with_id("a" * 65)), "value[1].id"),
        (lambda c: c.nodes.get("pool-1", "tvm\r\n1"), "node_id"),
        (lambda c: c.nodes.delete_user("pool-1", "tvm-1", ""), "user_name"),
        (lambda c: c.tasks.delete_file("job-1", "task-1", "a\nb"), "file_path"),
        (lambda c: c.pools.get("pool-1", select="id,state"), "select"),
        (lambda c: c.pools.get("pool-1", if_modified_since=datetime(2024, 1, 1)), "if_modified_since"),
        (lambda c: c.pools.delete("pool-1", if_match=""), "if_match"),
        (lambda c: c.pools.list_usage_metrics(start_time=datetime(2024, 1, 1)), "start_time"),
        (lambda c: c.pools.list_usage_metrics(end_time="2024-01-01"), "end_time"),
        (
            lambda c: c.tasks.create(
                "job-1",
                models.BatchTaskCreateContent(
                    id="t",
                    command_line="x",
                    constraints=models.BatchTaskConstraints(max_task_retry_count="3"),
                ),
            ),
            "constraints.max_task_retry_count",
        ),
        (lambda c: c.jobs.delete("job-1", force="yes"), "force"),
        (lambda c: c.pools.get("pool-1", server_timeout=31), "server_timeout"),
        (lambda c: c.pools.get("pool-1", client_request_id="a\r\nb"), "client_request_id"),
    ],
)
async def test_bad_arguments_fail_before_sending(
    client: BatchClient, mock: respx.MockRouter, call: Any, field: str
) -> None:
    route = mock.route()
    with pytest.raises(ValidationError) as info:
        await call(client)
    assert info.value.field == field
    assert not route.called


@pytest.mark.parametrize(
    ("given", "sent"),
    [("0x8DC1", '"0x8DC1"'), ('"0x8DC1"', '"0x8DC1"'), ("*", "*"), ('W/"abc"', 'W/"abc"')],
)
def test_etags_are_quoted(given: str, sent: str) -> None:
    assert _base.conditional_headers(if_match=given) == {"If-Match": sent}
    assert _base.conditional_headers(if_none_match=given) == {"If-None-Match": sent}


async def test_raw_response_keeps_headers_and_parses_lazily(
    client: BatchClient, mock: respx.MockRouter
) -> None:
    mock.get("/jobs/job-1/taskcounts").mock(
        return_value=httpx.Response(
            200,
            json={"taskCounts": {"active": 1, "running": 2, "completed": 3, "succeeded": 3, "failed": 0}},
            headers={"request-id": "r-9", "x-custom": "yes"},
        )
    )
    raw = await client.with_raw_response.jobs.get_task_counts("job-1")
    assert raw.status_code == 200
    assert raw.headers["x-custom"] == "yes"
    assert raw.metadata.request_id == "r-9"
    assert repr(raw) == "<RawResponse [200]>"
    counts = raw.parse()
    assert isinstance(counts, models.BatchTaskCountsResult)
    assert counts.task_counts is not None and counts.task_counts.running == 2


async def test_certificate_paths_encode_both_keys(client: BatchClient, mock: respx.MockRouter) -> None:
    route = mock.delete(url__startswith=ENDPOINT).mock(return_value=httpx.Response(202))
    await client.certificates.delete("sha1", "AB CD")
    assert route.calls[0].request.url.raw_path.startswith(
        b"/certificates(thumbprintAlgorithm=sha1,thumbprint=AB%20CD)?"
    )


async def test_raw_exists_on_404_parses_to_false(client: BatchClient, mock: respx.MockRouter) -> None:
    mock.head("/pools/pool-1").mock(return_value=httpx.Response(404, headers={"request-id": "r-404"}))
    raw = await client.with_raw_response.pools.exists("pool-1")
    assert raw.status_code == 404
    assert raw.metadata.request_id == "r-404"
    assert raw.parse() is False


async def test_raw_get_on_404_still_raises(client: BatchClient, mock: respx.MockRouter) -> None:
    mock.get(url__startswith=f"{ENDPOINT}/pools/pool-1").mock(return_value=httpx.Response(404))
    with pytest.raises(NotFoundError):
        await client.with_raw_response.pools.get("pool-1")


async def test_conditional_get_answered_304_raises_not_modified(
    client: BatchClient, mock: respx.MockRouter
) -> None:
    route = mock.get(url__startswith=f"{ENDPOINT}/jobs/job-1").mock(
        return_value=httpx.Response(304, headers={"etag": "0x1", "request-id": "r-304"})
    )
    with pytest.raises(NotModifiedError) as info:
        await client.jobs.get("job-1", if_none_match="0x1")
    assert route.calls[0].request.headers["if-none-match"] == '"0x1"'
    assert isinstance(info.value, BatchaioError)
    assert info.value.operation == "Jobs_GetJob"
    assert info.value.status_code == 304
    assert info.value.metadata.etag == "0x1"
    assert "r-304" in str(info.value)
    raw = await client.with_raw_response.jobs.get("job-1", if_none_match="0x1")
    assert raw.status_code == 304
    with pytest.raises(NotModifiedError):
        raw.parse()


async def test_file_properties_answered_304_raises_not_modified(
    client: BatchClient, mock: respx.MockRouter
) -> None:
    mock.head(url__startswith=f"{ENDPOINT}/jobs/job-1/tasks/t/files/").mock(
        return_value=httpx.Response(304, headers={"etag": "0x2"})
    )
    with pytest.raises(NotModifiedError) as info:
        await client.tasks.get_file_properties(
            "job-1", "t", "stdout.txt", if_modified_since=datetime(2024, 1, 1, tzinfo=timezone.utc)
        )
    assert info.value.metadata.etag == "0x2"


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        b'{"id": "job-1", "constraints": {"maxWallClockTime": "P99999999999D"}}',
        b'{"id": "job-1", "creationTime": "0001-01-01T00:00:00+01:00"}',
        b'{"id": {"a": 1}}',
    ],
)
async def test_unreadable_bodies_raise_response_parse_error(
    client: BatchClient, mock: respx.MockRouter, body: bytes
) -> None:
    mock.get(url__startswith=f"{ENDPOINT}/jobs/job-1").mock(
        return_value=httpx.Response(200, content=body, headers={"request-id": "r-bad"})
    )
    with pytest.raises(ResponseParseError) as info:
        await client.jobs.get("job-1")
    assert info.value.operation == "Jobs_GetJob"
    assert info.value.request_id == "r-bad"
    assert info.value.status_code == 200
    assert "r-bad" in str(info.value)
    assert info.value.__cause__ is not None


async def test_raw_exists_on_404_is_the_response_as_received(
    client: BatchClient, mock: respx.MockRouter
) -> None:
    answer = httpx.Response(404, headers={"request-id": "r-404", "DataServiceVersion": "3.0"})
    route = mock.head("/pools/pool-1").mock(return_value=answer)
    raw = await client.with_raw_response.pools.exists("pool-1")
    assert raw.headers["dataserviceversion"] == "3.0"  # the service's own headers, not a rebuilt subset
    assert raw.metadata.attempts == 1 and route.call_count == 1
    assert raw.parse() is False
