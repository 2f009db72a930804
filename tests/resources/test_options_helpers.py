"""A :meth:`BatchClient.with_options` view's defaults reach the helpers built on the operations: the bulk
engine's chunk requests and the workflow helpers' polls, not only the generated operations."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import httpx
import pytest
import respx

from batchaio import BatchClient, RetryPolicy, SharedKeyCredential
from batchaio.models import BatchTaskCreateContent

ENDPOINT = "https://acct.westeurope.batch.azure.com"
COUNTS = {
    "taskCounts": {"active": 0, "running": 0, "completed": 3, "succeeded": 3, "failed": 0},
    "taskSlotCounts": {"active": 0, "running": 0, "completed": 3, "succeeded": 3, "failed": 0},
}


@pytest.fixture
async def client() -> AsyncIterator[BatchClient]:
    credential = SharedKeyCredential("acct", base64.b64encode(b"k" * 32).decode())
    retry = RetryPolicy(max_attempts=4, backoff_base=0.0, backoff_cap=0.0)
    async with BatchClient(ENDPOINT, credential, retry=retry) as batch:
        yield batch


def tasks(count: int) -> list[BatchTaskCreateContent]:
    return [BatchTaskCreateContent(id=f"t{n}", command_line="echo") for n in range(count)]


async def test_add_many_on_a_view_takes_its_retry_policy_and_server_timeout(client: BatchClient) -> None:
    with respx.mock(base_url=ENDPOINT) as router:
        route = router.post("/jobs/j/addtaskcollection").respond(503, headers={"retry-after": "0"})
        view = client.with_options(retry=RetryPolicy.no_retries(), server_timeout=7)
        report = await view.tasks.add_many("j", tasks(3))
    assert route.call_count == 1  # the view's policy makes one attempt; the client's would make several
    assert report.failed == 3
    assert route.calls[0].request.url.params["timeout"] == "7"


async def test_add_many_on_the_client_keeps_retrying(client: BatchClient) -> None:
    with respx.mock(base_url=ENDPOINT) as router:
        values = [{"status": "success", "taskId": f"t{n}"} for n in range(3)]
        route = router.post("/jobs/j/addtaskcollection").mock(
            side_effect=[
                httpx.Response(503, headers={"retry-after": "0"}),
                httpx.Response(200, json={"value": values}),
            ]
        )
        report = await client.tasks.add_many("j", tasks(3))
    assert route.call_count == 2 and report.created == 3
    assert "timeout" not in route.calls[0].request.url.params


async def test_workflow_helpers_on_a_view_send_its_options(client: BatchClient) -> None:
    with respx.mock(base_url=ENDPOINT) as router:
        route = router.get("/jobs/j/taskcounts").respond(200, json=COUNTS)
        progress = await client.with_options(server_timeout=9).jobs.wait_for_tasks("j", poll_interval=0.01)
    assert progress.completed == 3
    assert all(call.request.url.params["timeout"] == "9" for call in route.calls)
