"""``client.tasks.add_many`` / ``iter_add`` through the real pipeline, the service mocked with respx."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest
import respx
from _bulk_fake import FakeBatchService, Faults, make_tasks

from batchaio import (
    BatchClient,
    BulkAddError,
    BulkAddReport,
    RetryPolicy,
    SharedKeyCredential,
    TaskOutcome,
    ValidationError,
)
from batchaio.errors import AuthenticationError

Run = Callable[[Callable[[], Any]], Any]
HOST = "https://acct.westeurope.batch.azure.com"
KEY = base64.b64encode(b"k" * 32).decode()


def client_for(router: respx.MockRouter, retry: RetryPolicy | None = None) -> BatchClient:
    return BatchClient(
        HOST,
        SharedKeyCredential("acct", KEY),
        transport=httpx.MockTransport(router.async_handler),
        **({"retry": retry} if retry is not None else {}),
    )


def test_mixed_faults_through_the_pipeline_create_each_task_once(run: Run, sleeps: list[float]) -> None:
    service = FakeBatchService(
        Faults(
            busy_with_retry_after=0.20,
            throttled_no_retry_after=0.05,
            reset_before_apply=0.04,
            reset_after_apply=0.04,
            server_error=0.03,
        ),
        seed=21,
    )
    router = respx.MockRouter(assert_all_called=False)
    route = router.post(url__regex=r"/jobs/job-1/addtaskcollection").mock(side_effect=service.http_handler)

    async def main() -> BulkAddReport:
        async with client_for(router) as client:
            return await client.tasks.add_many("job-1", make_tasks(2000), concurrency=8)

    report = run(main)

    service.assert_exactly_once({f"task-{n}" for n in range(2000)})
    assert (report.created, report.existing, report.failed, report.in_doubt) == (2000, 0, 0, [])
    assert service.statuses[503] and service.statuses[429]
    assert report.requests == route.call_count == service.requests
    request = route.calls[0].request
    assert request.url.params["api-version"] == "2024-07-01.20.0"
    assert request.headers["content-type"].startswith("application/json; odata=minimalmetadata")
    assert request.headers["authorization"].startswith("SharedKey acct:")
    assert any(delay >= 1.0 for delay in sleeps)  # Retry-After read from the 503


def test_iter_add_through_the_client(run: Run, sleeps: list[float]) -> None:
    service = FakeBatchService()
    service.tasks["t-1"] = {}
    service.scripts["t-2"] = ["clienterror"]
    router = respx.MockRouter()
    router.post(url__regex=r"/addtaskcollection").mock(side_effect=service.http_handler)

    async def main() -> list[TaskOutcome]:
        async with client_for(router) as client:
            tasks = [task for task in make_tasks(5, prefix="t")]
            async with client.tasks.iter_add("job-1", tasks, chunk_size=2) as stream:
                return [outcome async for outcome in stream]

    outcomes = run(main)

    by_id = {outcome.task_id: outcome.status.value for outcome in outcomes}
    assert by_id == {"t-0": "created", "t-1": "existing", "t-2": "failed", "t-3": "created", "t-4": "created"}


def test_authentication_failure_stops_the_run(run: Run, sleeps: list[float]) -> None:
    router = respx.MockRouter()
    body = {
        "code": "AuthenticationFailed",
        "message": {"lang": "en-US", "value": "Server failed to authenticate"},
    }
    route = router.post(url__regex=r"/addtaskcollection").mock(
        return_value=httpx.Response(403, content=orjson.dumps(body))
    )

    async def main() -> None:
        async with client_for(router) as client:
            await client.tasks.add_many("job-1", make_tasks(5000), concurrency=2)

    with pytest.raises(BulkAddError) as caught:
        run(main)

    assert isinstance(caught.value.__cause__, AuthenticationError)
    assert route.call_count <= 2 and caught.value.report.total < 5000


def test_invalid_job_id_is_refused_before_sending(run: Run) -> None:
    router = respx.MockRouter()

    async def main() -> None:
        async with client_for(router) as client:
            await client.tasks.add_many("..", make_tasks(1))

    with pytest.raises(ValidationError) as caught:
        run(main)
    assert caught.value.field == "job_id"
    assert not router.calls


def test_a_job_made_by_a_schedule_takes_tasks(run: Run) -> None:
    router = respx.MockRouter()
    result = {"value": [{"status": "success", "taskId": "task-0"}]}
    route = router.post(url__regex=r"/jobs/nightly%3Ajob-1/addtaskcollection").mock(
        return_value=httpx.Response(200, content=orjson.dumps(result))
    )

    async def main() -> BulkAddReport:
        async with client_for(router) as client:
            return await client.tasks.add_many("nightly:job-1", make_tasks(1))

    report = run(main)
    assert report.created == 1
    assert route.call_count == 1


def busy_router() -> tuple[respx.MockRouter, respx.Route]:
    router = respx.MockRouter()
    body = {"code": "ServerBusy", "message": {"lang": "en-US", "value": "busy"}}
    route = router.post(url__regex=r"/addtaskcollection").mock(
        return_value=httpx.Response(503, headers={"Retry-After": "45"}, content=orjson.dumps(body))
    )
    return router, route


@pytest.mark.parametrize("where", ["client", "call"])
def test_no_retries_policy_makes_one_attempt_per_task(run: Run, sleeps: list[float], where: str) -> None:
    router, route = busy_router()
    policy = RetryPolicy.no_retries()

    async def main() -> BulkAddReport:
        async with client_for(router, policy if where == "client" else None) as client:
            tasks = make_tasks(3)
            if where == "client":
                return await client.tasks.add_many("job-1", tasks)
            return await client.tasks.add_many("job-1", tasks, retry=policy)

    report = run(main)

    assert route.call_count == 1 and report.failed == 3 and sleeps == []


def test_waits_follow_the_client_retry_policy(run: Run, sleeps: list[float]) -> None:
    router, route = busy_router()
    policy = RetryPolicy(max_attempts=4, backoff_base=0.0, backoff_cap=0.0, retry_after_cap=2.0)

    async def main() -> BulkAddReport:
        async with client_for(router, policy) as client:
            return await client.tasks.add_many("job-1", make_tasks(3), max_attempts=4)

    report = run(main)

    assert route.call_count == 4 and report.failed == 3
    assert sleeps == [2.0, 2.0, 2.0]  # Retry-After: 45 cut to the policy's retry_after_cap
