"""Request bodies: only the writable properties of each body model (a table made from the spec)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from batchaio.emulator._bodies import BODY_MODELS, WRITABLE

from .test_app import assert_error, setup_job

ROOT = Path(__file__).resolve().parents[2]


def test_the_table_is_what_the_generator_writes() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools/generate_emulator_bodies.py"), "--check"], capture_output=True
    )
    assert result.returncode == 0, result.stderr
    assert BODY_MODELS[("PUT", "/jobs/{}/tasks/{}")] == "BatchTask"
    assert WRITABLE["BatchTask"] == {"constraints"}
    assert "state" not in WRITABLE["BatchJob"] and "priority" in WRITABLE["BatchJob"]


@pytest.mark.parametrize(
    ("method", "url", "body", "name"),
    [
        ("POST", "/jobs", {"id": "j2", "poolInfo": {"poolId": "pool"}, "state": "completed"}, "state"),
        ("POST", "/jobs", {"id": "j2", "poolInfo": {"poolId": "pool"}, "eTag": "bogus"}, "eTag"),
        ("PATCH", "/pools/pool", {"state": "deleting"}, "state"),
        ("PATCH", "/pools/pool", {"noSuchProperty": 1}, "noSuchProperty"),
        (
            "PUT",
            "/jobs/job",
            {"poolInfo": {"poolId": "pool"}, "creationTime": "2020-01-01T00:00:00Z"},
            "creationTime",
        ),
        ("PUT", "/jobs/job/tasks/t", {"constraints": {}, "commandLine": "changed"}, "commandLine"),
        (
            "POST",
            "/jobs/job/addtaskcollection",
            {"value": [{"id": "x", "commandLine": "a", "url": "u"}]},
            "url",
        ),
    ],
)
async def test_read_only_or_unknown_properties_are_refused(
    client: httpx.AsyncClient, method: str, url: str, body: dict[str, object], name: str
) -> None:
    await setup_job(client)
    assert (await client.post("/jobs/job/tasks", json={"id": "t", "commandLine": "run"})).status_code == 201
    before = (await client.get("/jobs/job")).json()
    error = assert_error(await client.request(method, url, json=body), 400, "InvalidRequestBody")
    assert {"key": "PropertyName", "value": name} in error["values"]
    assert (await client.get("/jobs/job")).json()["eTag"] == before["eTag"]
    assert (await client.get("/jobs/j2")).status_code == 404
    assert (await client.get("/pools/pool")).json()["state"] == "active"


async def test_task_put_resets_omitted_constraints(client: httpx.AsyncClient) -> None:
    await setup_job(client)
    task = {"id": "t", "commandLine": "run", "constraints": {"maxTaskRetryCount": 2, "retentionTime": "PT1H"}}
    assert (await client.post("/jobs/job/tasks", json=task)).status_code == 201
    replaced = await client.put("/jobs/job/tasks/t", json={"constraints": {"maxWallClockTime": "PT5M"}})
    assert replaced.status_code == 200
    constraints = (await client.get("/jobs/job/tasks/t")).json()["constraints"]
    assert constraints == {"maxWallClockTime": "PT5M", "retentionTime": "P7D", "maxTaskRetryCount": 0}
