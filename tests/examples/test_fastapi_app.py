"""``examples/fastapi_app.py`` driven through its HTTP API, with its client talking to the emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import orjson
import pytest

from batchaio import BatchClient, SharedKeyCredential, models
from batchaio.emulator import Emulator
from tests.examples.conftest import load_example


@pytest.fixture
async def http(batch_emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[httpx.AsyncClient]:
    """The example app with its lifespan running, configured for ``batch_emulator`` through the environment,
    called over ASGI as a server would call it."""
    assert batch_emulator.endpoint is not None
    monkeypatch.setenv("BATCH_ENDPOINT", batch_emulator.endpoint)
    monkeypatch.setenv("BATCH_ACCOUNT_NAME", batch_emulator.account)
    monkeypatch.setenv("BATCH_ACCOUNT_KEY", batch_emulator.key)
    await _create_pool(batch_emulator)
    app = load_example("fastapi_app").app
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://backend") as client:
            yield client


async def _create_pool(emulator: Emulator) -> None:
    assert emulator.endpoint is not None
    credential = SharedKeyCredential(emulator.account, emulator.key)
    async with BatchClient(emulator.endpoint, credential, allow_insecure_http=True) as client:
        pool = models.BatchPoolCreateContent(id="pool-1", vm_size="standard_d2s_v3", target_dedicated_nodes=1)
        await client.pools.create(pool)


async def test_submit_stream_and_progress(http: httpx.AsyncClient) -> None:
    assert (await http.post("/jobs/job-1", json={"pool_id": "pool-1"})).status_code == 201
    answer = await http.post(
        "/jobs/job-1/tasks", json={"count": 250, "tasks": [{"id": "first", "command_line": "echo"}]}
    )
    assert answer.status_code == 200
    assert answer.json() == {"created": 251, "existing": 0, "failed": 0, "failures": []}

    again = await http.post("/jobs/job-1/tasks", json={"count": 3})
    assert again.json()["existing"] == 3

    async with http.stream("GET", "/jobs/job-1/tasks") as listing:
        assert listing.headers["content-type"] == "application/x-ndjson"
        tasks = [orjson.loads(line) async for line in listing.aiter_lines() if line]
    assert sorted(task["id"] for task in tasks) == sorted(["first", *(f"task-{n}" for n in range(250))])
    assert set(tasks[0]) <= {"id", "state", "executionInfo"}

    counts = (await http.get("/jobs/job-1/progress")).json()
    assert set(counts) == {"active", "running", "completed", "succeeded", "failed"}
    assert counts["active"] + counts["running"] + counts["completed"] == 251


async def test_batch_errors_become_http_statuses(http: httpx.AsyncClient) -> None:
    missing = await http.get("/jobs/no-such-job/tasks")
    assert missing.status_code == 404
    assert missing.json()["code"] == "JobNotFound"
    assert missing.json()["request_id"]

    assert (await http.post("/jobs/job-2", json={"pool_id": "pool-1"})).status_code == 201
    duplicate = await http.post("/jobs/job-2", json={"pool_id": "pool-1"})
    assert duplicate.status_code == 409
    assert duplicate.json()["code"] == "JobExists"

    bad_id = await http.post(
        "/jobs/job-2/tasks", json={"tasks": [{"id": "has space", "command_line": "echo"}]}
    )
    assert bad_id.status_code == 200
    assert bad_id.json()["failed"] == 1
    assert (await http.post("/jobs/bad%20id", json={"pool_id": "pool-1"})).status_code == 422

    no_job = await http.post("/jobs/no-such-job/tasks", json={"count": 1})
    assert no_job.status_code == 404
    assert no_job.json()["code"] == "JobNotFound"
