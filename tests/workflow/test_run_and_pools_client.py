"""``jobs.run`` and ``pools.wait_until_ready`` driven through respx: the order of the calls (no race with
``onAllTasksComplete``), waiting out the job quota, pools that stop resizing on quota."""

from __future__ import annotations

import base64
import random
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
import respx

from batchaio import (
    BatchClient,
    ConflictError,
    JobCannotProgressError,
    PoolResizeError,
    PoolWaitTimeoutError,
    RetryPolicy,
    SharedKeyCredential,
    ValidationError,
    WaitTimeoutError,
    _job_run,
    models,
)

ENDPOINT = "https://acct.westeurope.batch.azure.com"


@pytest.fixture
async def client() -> AsyncIterator[BatchClient]:
    credential = SharedKeyCredential("acct", base64.b64encode(b"k" * 32).decode())
    async with BatchClient(ENDPOINT, credential, retry=RetryPolicy.no_retries()) as batch:
        yield batch


def counts(active: int, completed: int, failed: int = 0) -> dict[str, Any]:
    numbers = {
        "active": active,
        "running": 0,
        "completed": completed,
        "succeeded": completed - failed,
        "failed": failed,
    }
    return {"taskCounts": numbers, "taskSlotCounts": dict.fromkeys(numbers, 0)}


def quota_refusal() -> httpx.Response:
    return httpx.Response(
        409,
        json={"code": "ActiveJobAndScheduleQuotaReached", "message": {"lang": "en-US", "value": "quota"}},
    )


JOB = models.BatchJobCreateContent(
    id="j",
    pool_info=models.BatchPoolInfo(pool_id="p"),
    on_all_tasks_complete=models.OnAllBatchTasksComplete.TERMINATE_JOB,
)


def tasks(n: int) -> list[models.BatchTaskCreateContent]:
    return [models.BatchTaskCreateContent(id=f"t{i}", command_line="echo") for i in range(n)]


async def test_run_sets_terminatejob_only_after_every_task_is_in(
    client: BatchClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits: list[int] = []
    monkeypatch.setattr(_job_run, "quota_backoff", lambda attempt, rng: waits.append(attempt) or 0.001)
    log: list[str] = []
    creates = iter([quota_refusal(), quota_refusal(), httpx.Response(201)])

    def create(request: httpx.Request) -> httpx.Response:
        body = orjson.loads(request.content)
        log.append(f"create onAllTasksComplete={body.get('onAllTasksComplete')}")
        return next(creates)

    def add(request: httpx.Request) -> httpx.Response:
        ids = [t["id"] for t in orjson.loads(request.content)["value"]]
        log.append(f"add {len(ids)}")
        return httpx.Response(200, json={"value": [{"status": "success", "taskId": i} for i in ids]})

    def update(request: httpx.Request) -> httpx.Response:
        log.append(f"update {orjson.loads(request.content)}")
        return httpx.Response(200)

    polls = iter([counts(250, 0), counts(0, 250)])

    def poll(request: httpx.Request) -> httpx.Response:
        log.append("counts")
        return httpx.Response(200, json=next(polls))

    with respx.mock(base_url=ENDPOINT) as router:
        router.post("/jobs").mock(side_effect=create)
        router.post("/jobs/j/addtaskcollection").mock(side_effect=add)
        router.patch("/jobs/j").mock(side_effect=update)
        router.get("/jobs/j/taskcounts").mock(side_effect=poll)
        outcome = await client.jobs.run(JOB, tasks(250), concurrency=1, poll_interval=0.001, timeout=60)

    assert waits == [1, 2]
    assert log == [
        "create onAllTasksComplete=noaction",
        "create onAllTasksComplete=noaction",
        "create onAllTasksComplete=noaction",
        "add 100",
        "add 100",
        "add 50",
        "update {'onAllTasksComplete': 'terminatejob'}",
        "counts",
        "counts",
    ]
    assert outcome.report.created == 250
    assert outcome.progress.completed == 250
    assert outcome.failures is None and outcome.succeeded


async def test_the_job_quota_is_waited_out_only_within_the_timeout(
    client: BatchClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_job_run, "quota_backoff", lambda attempt, rng: 10.0)
    with respx.mock(base_url=ENDPOINT) as router:
        router.post("/jobs").mock(return_value=quota_refusal())
        with pytest.raises(WaitTimeoutError, match="quota") as caught:
            await client.jobs.run(JOB, tasks(1), timeout=5)
    assert isinstance(caught.value.__cause__, ConflictError)


async def test_another_conflict_on_create_is_raised_at_once(client: BatchClient) -> None:
    with respx.mock(base_url=ENDPOINT) as router:
        router.post("/jobs").respond(409, json={"code": "JobExists", "message": {"value": "exists"}})
        with pytest.raises(ConflictError):
            await client.jobs.run(JOB, tasks(1))


@pytest.mark.parametrize(
    ("attempt", "low", "high"), [(1, 15, 30), (2, 30, 60), (3, 60, 120), (5, 150, 300), (20, 150, 300)]
)
def test_quota_backoff(attempt: int, low: float, high: float) -> None:
    rng = random.Random(attempt)
    delays = [_job_run.quota_backoff(attempt, rng) for _ in range(50)]
    assert all(low <= d <= high for d in delays)
    assert len(set(delays)) > 1


async def test_run_refuses_a_job_without_an_id(client: BatchClient) -> None:
    with pytest.raises(ValidationError, match="job"):
        await client.jobs.run(models.BatchJobCreateContent(pool_info=models.BatchPoolInfo(pool_id="p")), [])


def steady_pool(**fields: Any) -> dict[str, Any]:
    return {"id": "p", "state": "active", "allocationState": "steady", "targetDedicatedNodes": 4, **fields}


QUOTA = {"code": "AccountCoreQuotaReached", "message": "The core quota of the account was reached."}


async def test_wait_until_ready_raises_the_resize_error_with_its_quota_code(client: BatchClient) -> None:
    with respx.mock(base_url=ENDPOINT) as router:
        router.get("/pools/p").respond(200, json=steady_pool(currentDedicatedNodes=1, resizeErrors=[QUOTA]))
        router.get("/pools/p/nodes").respond(200, json={"value": [{"id": "n1", "state": "idle"}]})
        with pytest.raises(PoolResizeError) as caught:
            await client.pools.wait_until_ready("p", poll_interval=0.001)
    assert caught.value.quota_codes == ("AccountCoreQuotaReached",)
    assert "with 1 node(s), 1 ready, 4 needed" in str(caught.value)


async def test_wait_until_ready_times_out_with_a_typed_error(client: BatchClient) -> None:
    with respx.mock(base_url=ENDPOINT) as router:
        router.get("/pools/p").respond(200, json=steady_pool(allocationState="resizing"))
        router.get("/pools/p/nodes").respond(200, json={"value": [{"id": "n1", "state": "starting"}]})
        with pytest.raises(PoolWaitTimeoutError) as caught:
            await client.pools.wait_until_ready("p", timeout=0.05, poll_interval=0.01)
    assert isinstance(caught.value, WaitTimeoutError) and isinstance(caught.value, TimeoutError)
    assert "0 of 4 needed nodes ready" in str(caught.value)


async def test_wait_for_tasks_stops_early_on_a_pool_stuck_on_quota(client: BatchClient) -> None:
    with respx.mock(base_url=ENDPOINT) as router:
        router.get("/jobs/j/taskcounts").respond(200, json=counts(10, 0))
        router.get("/jobs/j").respond(200, json={"id": "j", "poolInfo": {"poolId": "p"}})
        router.get("/pools/p").respond(200, json=steady_pool(resizeErrors=[QUOTA]))
        router.get("/pools/p/nodes").respond(200, json={"value": []})
        with pytest.raises(JobCannotProgressError) as caught:
            await client.jobs.wait_for_tasks("j", poll_interval=0.001, timeout=30)
    assert isinstance(caught.value.__cause__, PoolResizeError)
    assert "AccountCoreQuotaReached" in caught.value.reason
    assert caught.value.progress.active == 10


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"timeout": -1}, "timeout"),
        ({"stall_timeout": "5"}, "stall_timeout"),
        ({"poll_interval": 0}, "poll_interval"),
    ],
)
async def test_wait_for_tasks_checks_its_options_before_sending(
    client: BatchClient, options: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        await client.jobs.wait_for_tasks("j", **options)
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("options", "field"), [({"tail_bytes": 0}, "tail_bytes"), ({"max_examples": -1}, "max_examples")]
)
async def test_failure_report_checks_its_options_before_sending(
    client: BatchClient, options: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        await client.tasks.failure_report("j", **options)
    assert caught.value.field == field


async def test_watch_checks_its_options_before_sending(client: BatchClient) -> None:
    with pytest.raises(ValidationError) as caught:
        client.tasks.watch("j", poll_interval=-1)
    assert caught.value.field == "poll_interval"
    with pytest.raises(ValidationError):
        client.tasks.watch("j", position={"watermark": None})  # type: ignore[arg-type]


async def test_wait_for_tasks_outlasts_server_errors_the_client_gave_up_on(client: BatchClient) -> None:
    with respx.mock(base_url=ENDPOINT) as router:
        router.get("/jobs/j/taskcounts").mock(
            side_effect=[
                httpx.Response(503, headers={"Retry-After": "0"}, json={"code": "ServerBusy"}),
                httpx.Response(500, json={"code": "InternalError"}),
                httpx.Response(200, json=counts(0, 3)),
            ]
        )
        progress = await client.jobs.wait_for_tasks("j", poll_interval=0.001, timeout=30)
    assert progress.completed == 3


async def test_wait_until_ready_outlasts_throttling(client: BatchClient) -> None:
    with respx.mock(base_url=ENDPOINT) as router:
        router.get("/pools/p").mock(
            side_effect=[
                httpx.Response(429, headers={"Retry-After": "0"}, json={"code": "TooManyRequests"}),
                httpx.Response(200, json=steady_pool(targetDedicatedNodes=1)),
            ]
        )
        router.get("/pools/p/nodes").respond(200, json={"value": [{"id": "n1", "state": "idle"}]})
        pool = await client.pools.wait_until_ready("p", poll_interval=0.001)
    assert pool.id == "p"
