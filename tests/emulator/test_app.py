"""The emulator's service semantics, driven through httpx.ASGITransport with Shared Key signed requests."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import orjson
import pytest

from batchaio.emulator import Emulator

from .conftest import API, SharedKeyAuth, make_client

ERROR_METADATA = "$metadata#Microsoft.Azure.Batch.Protocol.Entities.Container.errors/@Element"


async def setup_job(
    client: httpx.AsyncClient, job: dict[str, Any] | None = None, nodes: int = 2, slots: int = 16
) -> None:
    pool = {
        "id": "pool",
        "vmSize": "standard_d2s_v3",
        "targetDedicatedNodes": nodes,
        "taskSlotsPerNode": slots,
    }
    response = await client.post("/pools", json=pool)
    assert response.status_code == 201
    body = {"id": "job", "poolInfo": {"poolId": "pool"}, **(job or {})}
    assert (await client.post("/jobs", json=body)).status_code == 201


async def add_tasks(
    client: httpx.AsyncClient, tasks: list[dict[str, Any]], job: str = "job"
) -> list[dict[str, Any]]:
    response = await client.post(f"/jobs/{job}/addtaskcollection", json={"value": tasks})
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = response.json()["value"]
    return results


async def wait_for(client: httpx.AsyncClient, url: str, predicate: Any) -> dict[str, Any]:
    with anyio.fail_after(10):
        while True:
            body: dict[str, Any] = (await client.get(url)).json()
            if predicate(body):
                return body
            await anyio.sleep(0.02)


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    assert body["odata.metadata"].endswith(ERROR_METADATA)
    assert body["message"]["lang"] == "en-US"
    assert f"RequestId:{response.headers['request-id']}" in body["message"]["value"]
    return body


async def test_api_version_is_required(emu: Emulator) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=emu.app),
        base_url="http://e",
        auth=SharedKeyAuth(emu.account, emu.key, add_api_version=False),
    ) as raw:
        assert_error(await raw.get("/pools"), 400, "MissingRequiredQueryParameter")
        body = assert_error(
            await raw.get("/pools", params={"api-version": "2020-01-01"}), 400, "InvalidQueryParameterValue"
        )
        assert {"key": "QueryParameterName", "value": "api-version"} in body["values"]


async def test_bad_key_or_missing_signature_is_403(emu: Emulator) -> None:
    wrong = Emulator(key="d3Jvbmcta2V5LXdyb25nLWtleQ==")
    async with make_client(wrong) as signed_with_wrong_key:
        signed_with_wrong_key._transport = httpx.ASGITransport(app=emu.app)
        body = assert_error(await signed_with_wrong_key.get("/pools"), 403, "AuthenticationFailed")
        assert body["values"][0]["key"] == "AuthenticationErrorDetail"
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=emu.app), base_url="http://e"
    ) as anonymous:
        assert_error(await anonymous.get("/pools", params={"api-version": API}), 403, "AuthenticationFailed")
        bearer = {"Authorization": "Bearer token"}
        response = await anonymous.get("/pools", params={"api-version": API}, headers=bearer)
        assert_error(response, 403, "AuthenticationFailed")
    entra = Emulator(allow_bearer=True)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=entra.app), base_url="http://e"
    ) as anonymous:
        response = await anonymous.get(
            "/pools", params={"api-version": API}, headers={"Authorization": "Bearer t"}
        )
        assert response.status_code == 200


async def test_signature_covers_percent_encoded_file_path_and_mixed_case_query(
    client: httpx.AsyncClient,
) -> None:
    await setup_job(client)
    await add_tasks(client, [{"id": "t1", "commandLine": "echo hi"}])
    response = await client.get("/jobs/job/tasks/t1/files/wd%2Fmissing.txt", params={"timeOut": "30"})
    assert_error(response, 404, "FileNotFound")


async def test_create_get_headers_and_client_request_id(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/pools",
        json={"id": "p1", "vmSize": "standard_d2s_v3", "targetDedicatedNodes": 3},
        headers={"client-request-id": "abc-123", "return-client-request-id": "true"},
    )
    assert response.status_code == 201
    assert response.headers["client-request-id"] == "abc-123"
    assert (
        response.headers["Location"] == response.headers["DataServiceId"] == "http://emulator.local/pools/p1"
    )
    etag = response.headers["ETag"]
    got = await client.get("/pools/p1")
    assert got.headers["content-type"] == "application/json;odata=minimalmetadata"
    assert "client-request-id" not in got.headers and got.headers["request-id"]
    body = got.json()
    assert body["eTag"] == etag == got.headers["ETag"]
    assert body["currentDedicatedNodes"] == 3 and body["allocationState"] == "steady"
    nodes = (await client.get("/pools/p1/nodes")).json()["value"]
    assert len(nodes) == 3 and {node["state"] for node in nodes} == {"idle"}
    assert (await client.head("/pools/p1")).status_code == 200
    assert (await client.head("/pools/nope")).status_code == 404


async def test_not_found_exists_and_being_deleted_codes(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/jobs/nope"), 404, "JobNotFound")
    assert_error(await client.get("/pools/nope"), 404, "PoolNotFound")
    await setup_job(client)
    assert_error(
        await client.post("/jobs", json={"id": "JOB", "poolInfo": {"poolId": "pool"}}), 409, "JobExists"
    )
    assert_error(await client.get("/jobs/job/tasks/nope"), 404, "TaskNotFound")
    assert_error(await client.get("/pools/pool/nodes/nope"), 404, "NodeNotFound")
    assert (await client.delete("/pools/pool")).status_code == 202
    assert_error(await client.delete("/pools/pool"), 409, "PoolBeingDeleted")
    body = {"id": "pool", "vmSize": "standard_d2s_v3"}
    assert_error(await client.post("/pools", json=body), 409, "PoolBeingDeleted")
    await anyio.sleep(0.1)
    assert_error(await client.get("/pools/pool"), 404, "PoolNotFound")
    assert (await client.post("/pools", json=body)).status_code == 201


async def test_etag_conditions(client: httpx.AsyncClient) -> None:
    await setup_job(client)
    etag = (await client.get("/jobs/job")).headers["ETag"]
    assert (await client.get("/jobs/job", headers={"If-None-Match": f'"{etag}"'})).status_code == 304
    stale = {"If-Match": '"0x8DC000000000001"'}
    assert_error(await client.patch("/jobs/job", json={"priority": 5}, headers=stale), 412, "ConditionNotMet")
    response = await client.patch("/jobs/job", json={"priority": 5}, headers={"If-Match": f'"{etag}"'})
    assert response.status_code == 200 and response.headers["ETag"] != etag
    assert (await client.get("/jobs/job", headers={"If-None-Match": etag})).status_code == 200
    assert (await client.get("/jobs/job")).json()["priority"] == 5
    current = (await client.get("/jobs/job")).headers["ETag"]
    assert current != etag
    replacement = {"poolInfo": {"poolId": "pool"}}
    response = await client.put("/jobs/job", json=replacement, headers={"If-Match": current})
    assert response.status_code == 200, response.text
    assert_error(
        await client.put("/jobs/job", json=replacement, headers={"If-Match": current}), 412, "ConditionNotMet"
    )


async def test_task_collection_limits_and_task_exists(client: httpx.AsyncClient) -> None:
    await setup_job(client)
    too_many = [{"id": f"t{i}", "commandLine": "echo"} for i in range(101)]
    response = await client.post("/jobs/job/addtaskcollection", json={"value": too_many})
    assert {"key": "MaxLimit", "value": "100"} in assert_error(response, 413, "RequestBodyTooLarge")["values"]
    big = [{"id": f"big{i}", "commandLine": "echo " + "x" * 20_000} for i in range(60)]
    response = await client.post("/jobs/job/addtaskcollection", json={"value": big})
    body = assert_error(response, 413, "RequestBodyTooLarge")
    assert {"key": "MaxLimit", "value": "1048576"} in body["values"]
    assert (await client.get("/jobs/job/taskcounts")).json()["taskCounts"]["active"] == 0
    results = await add_tasks(
        client, [{"id": "a", "commandLine": "echo"}, {"id": "b", "commandLine": "echo"}]
    )
    assert [r["status"] for r in results] == ["success", "success"]
    assert all(
        r["eTag"] and r["lastModified"] and r["location"].endswith(f"/tasks/{r['taskId']}") for r in results
    )
    results = await add_tasks(
        client,
        [
            {"id": "A", "commandLine": "echo"},
            {"id": "c", "commandLine": "echo"},
            {"id": "bad id!", "commandLine": "x"},
        ],
    )
    by_id = {r["taskId"]: r for r in results}
    assert by_id["A"]["status"] == "clienterror" and by_id["A"]["error"]["code"] == "TaskExists"
    assert by_id["c"]["status"] == "success"
    assert by_id["bad id!"]["status"] == "clienterror"
    assert_error(
        await client.post("/jobs/job/tasks", json={"id": "C", "commandLine": "x"}), 409, "TaskExists"
    )


async def test_paging_with_maxresults_and_next_link(client: httpx.AsyncClient) -> None:
    await setup_job(client)
    await add_tasks(client, [{"id": f"t{i:02d}", "commandLine": "echo"} for i in range(25)])
    seen: list[str] = []
    url: str | None = "/jobs/job/tasks?maxresults=10"
    pages = 0
    while url:
        body = (await client.get(url)).json()
        seen += [task["id"] for task in body["value"]]
        url = body.get("odata.nextLink")
        if url:
            assert url.startswith("http://emulator.local/jobs/job/tasks?") and "$skiptoken=" in url
            assert "api-version=" in url and "maxresults=10" in url
        pages += 1
    assert pages == 3 and sorted(seen) == [f"t{i:02d}" for i in range(25)]
    for bad in ("0", "-5", "1001", "x"):
        body = assert_error(
            await client.get(f"/jobs/job/tasks?maxresults={bad}"), 400, "InvalidQueryParameterValue"
        )
        assert {"key": "QueryParameterName", "value": "maxresults"} in body["values"]
    assert_error(await client.get("/certificates?maxresults=101"), 400, "InvalidQueryParameterValue")
    assert (await client.get("/certificates?maxresults=100")).status_code == 200


async def test_filter_and_select(client: httpx.AsyncClient) -> None:
    await setup_job(client)
    await add_tasks(
        client,
        [
            {"id": "ok1", "commandLine": "echo a"},
            {"id": "ok2", "commandLine": "echo b"},
            {"id": "bad", "commandLine": "exit 4"},
        ],
    )
    await wait_for(client, "/jobs/job/taskcounts", lambda body: body["taskCounts"]["completed"] == 3)
    params = {"$filter": "state eq 'completed' and executionInfo/exitCode ne 0", "$select": "id,state"}
    values = (await client.get("/jobs/job/tasks", params=params)).json()["value"]
    assert values == [{"id": "bad", "state": "completed"}]
    params = {"$filter": "(id eq 'ok1' or id eq 'bad') and not (id eq 'bad')"}
    assert [task["id"] for task in (await client.get("/jobs/job/tasks", params=params)).json()["value"]] == [
        "ok1"
    ]
    params = {"$filter": "startswith(id,'ok')"}
    assert len((await client.get("/jobs/job/tasks", params=params)).json()["value"]) == 2
    params = {"$filter": "creationTime ge datetime'2000-01-01T00:00:00Z'"}
    assert len((await client.get("/jobs/job/tasks", params=params)).json()["value"]) == 3
    assert_error(
        await client.get("/jobs/job/tasks", params={"$filter": "id eq"}), 400, "InvalidQueryParameterValue"
    )
    one = (await client.get("/jobs/job", params={"$select": "id,state"})).json()
    assert set(one) == {"odata.metadata", "id", "state"}


async def test_state_machine_exit_codes_and_retries(client: httpx.AsyncClient) -> None:
    await setup_job(client)
    await add_tasks(
        client,
        [
            {"id": "slow", "commandLine": "sleep 0.3 && echo done"},
            {"id": "fails", "commandLine": "/bin/sh -c 'exit 3'", "constraints": {"maxTaskRetryCount": 2}},
        ],
    )
    slow = (await client.get("/jobs/job/tasks/slow")).json()
    assert slow["state"] in ("running", "active")
    done = await wait_for(client, "/jobs/job/tasks/slow", lambda body: body["state"] == "completed")
    info = done["executionInfo"]
    assert info["exitCode"] == 0 and info["result"] == "success" and info["endTime"] > info["startTime"]
    assert done["previousState"] == "running" and done["nodeInfo"]["poolId"] == "pool"
    failed = await wait_for(client, "/jobs/job/tasks/fails", lambda body: body["state"] == "completed")
    assert failed["executionInfo"]["exitCode"] == 3 and failed["executionInfo"]["result"] == "failure"
    assert failed["executionInfo"]["retryCount"] == 2
    counts = (await client.get("/jobs/job/taskcounts")).json()
    assert counts["taskCounts"] == {"active": 0, "running": 0, "completed": 2, "succeeded": 1, "failed": 1}
    assert (await client.post("/jobs/job/tasks/fails/reactivate")).status_code == 204
    assert (await client.get("/jobs/job/tasks/fails")).json()["state"] in ("active", "running")
    assert_error(await client.post("/jobs/job/tasks/slow/terminate"), 409, "TaskCompleted")


async def test_dependencies_wait_for_success(client: httpx.AsyncClient) -> None:
    await setup_job(client, {"usesTaskDependencies": True})
    await add_tasks(
        client,
        [
            {"id": "1", "commandLine": "sleep 0.2"},
            {"id": "2", "commandLine": "echo two"},
            {
                "id": "after",
                "commandLine": "echo after",
                "dependsOn": {"taskIdRanges": [{"start": 1, "end": 2}]},
            },
            {"id": "broken", "commandLine": "exit 1"},
            {"id": "blocked", "commandLine": "echo never", "dependsOn": {"taskIds": ["broken"]}},
            {"id": "waiting", "commandLine": "echo later", "dependsOn": {"taskIds": ["not-yet"]}},
        ],
    )
    assert (await client.get("/jobs/job/tasks/after")).json()["state"] == "active"
    after = await wait_for(client, "/jobs/job/tasks/after", lambda body: body["state"] == "completed")
    first = (await client.get("/jobs/job/tasks/1")).json()
    assert after["executionInfo"]["startTime"] >= first["executionInfo"]["endTime"]
    await wait_for(client, "/jobs/job/tasks/broken", lambda body: body["state"] == "completed")
    assert (await client.get("/jobs/job/tasks/blocked")).json()["state"] == "active"
    assert (await client.get("/jobs/job/tasks/waiting")).json()["state"] == "active"
    await add_tasks(client, [{"id": "not-yet", "commandLine": "echo now"}])
    await wait_for(client, "/jobs/job/tasks/waiting", lambda body: body["state"] == "completed")


async def test_task_files_properties_and_ranges(client: httpx.AsyncClient) -> None:
    await setup_job(client)
    await add_tasks(client, [{"id": "t", "commandLine": "/bin/sh -c 'echo hello world'"}])
    await wait_for(client, "/jobs/job/tasks/t", lambda body: body["state"] == "completed")
    listing = (await client.get("/jobs/job/tasks/t/files", params={"recursive": "true"})).json()["value"]
    assert {entry["name"]: entry["isDirectory"] for entry in listing} == {
        "certs": True,
        "stderr.txt": False,
        "stdout.txt": False,
        "wd": True,
    }
    assert (await client.get("/jobs/job/tasks/t/files/stdout.txt")).content == b"hello world\n"
    part = await client.get("/jobs/job/tasks/t/files/stdout.txt", headers={"ocp-range": "bytes=6-10"})
    assert part.content == b"world"
    head = await client.head("/jobs/job/tasks/t/files/stdout.txt")
    assert head.headers["Content-Length"] == "12" and head.headers["ocp-batch-file-isdirectory"] == "False"
    assert head.headers["ocp-batch-file-url"].endswith("%2Fjobs%2Fjob%2Ftasks%2Ft%2Ffiles%2Fstdout.txt")
    assert head.headers["ocp-batch-file-mode"] == "0o100644"
    modified = head.headers["Last-Modified"]
    response = await client.get("/jobs/job/tasks/t/files/stdout.txt", headers={"If-Modified-Since": modified})
    assert response.status_code == 304
    response = await client.get(
        "/jobs/job/tasks/t/files/stdout.txt", headers={"If-Unmodified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"}
    )
    assert_error(response, 412, "ConditionNotMet")
    node_id = (await client.get("/jobs/job/tasks/t")).json()["nodeInfo"]["nodeId"]
    node_file = await client.get(
        f"/pools/pool/nodes/{node_id}/files/workitems%2Fjob%2Fjob-1%2Ft%2Fstdout.txt"
    )
    assert node_file.content == b"hello world\n"
    top = (await client.get(f"/pools/pool/nodes/{node_id}/files")).json()["value"]
    assert all("/" not in entry["name"] for entry in top)
    assert (await client.delete("/jobs/job/tasks/t/files/stderr.txt")).status_code == 200
    assert_error(await client.get("/jobs/job/tasks/t/files/stderr.txt"), 404, "FileNotFound")


async def test_job_lifecycle_schedules_and_pool_operations(client: httpx.AsyncClient) -> None:
    await setup_job(client, {"onAllTasksComplete": "terminatejob"})
    await add_tasks(client, [{"id": "x", "commandLine": "echo"}])
    job = await wait_for(client, "/jobs/job", lambda body: body["state"] == "completed")
    assert job["executionInfo"]["terminateReason"] == "AllTasksComplete"
    assert_error(await client.post("/jobs/job/addtaskcollection", json={"value": []}), 409, "JobCompleted")
    await client.post("/jobs", json={"id": "j2", "poolInfo": {"poolId": "pool"}})
    assert (await client.post("/jobs/j2/disable", json={"disableTasks": "requeue"})).status_code == 202
    assert (await client.get("/jobs/j2")).json()["state"] == "disabled"
    await add_tasks(client, [{"id": "held", "commandLine": "echo"}], job="j2")
    await anyio.sleep(0.1)
    assert (await client.get("/jobs/j2/tasks/held")).json()["state"] == "active"
    assert (await client.post("/jobs/j2/enable")).status_code == 202
    await wait_for(client, "/jobs/j2/tasks/held", lambda body: body["state"] == "completed")
    assert (await client.post("/jobs/j2/terminate")).status_code == 202
    schedule = {"id": "s", "schedule": {}, "jobSpecification": {"poolInfo": {"poolId": "pool"}}}
    assert (await client.post("/jobschedules", json=schedule)).status_code == 201
    assert_error(await client.post("/jobschedules", json=schedule), 409, "JobScheduleExists")
    assert (await client.head("/jobschedules/s")).status_code == 200
    jobs = (await client.get("/jobschedules/s/jobs")).json()["value"]
    assert [job["id"] for job in jobs] == ["s:job-1"]
    assert (await client.post("/jobschedules/s/disable")).status_code == 204
    assert (await client.post("/jobschedules/s/enable")).status_code == 204
    assert (await client.post("/jobschedules/s/terminate")).status_code == 202
    assert (await client.get("/jobschedules/s")).json()["state"] == "completed"
    assert (await client.post("/pools/pool/resize", json={"targetDedicatedNodes": 4})).status_code == 202
    counts = (await client.get("/nodecounts")).json()["value"][0]
    assert counts["poolId"] == "pool" and counts["dedicated"]["total"] == 4
    formula = {"autoScaleFormula": "$TargetDedicatedNodes = 1;"}
    assert_error(await client.post("/pools/pool/evaluateautoscale", json=formula), 409, "AutoScaleDisabled")
    assert (await client.post("/pools/pool/enableautoscale", json=formula)).status_code == 200
    run = (
        await client.post(
            "/pools/pool/evaluateautoscale", json={"autoScaleFormula": "$TargetDedicatedNodes = 2;"}
        )
    ).json()
    assert "$TargetDedicatedNodes=2" in run["results"]
    bad = (await client.post("/pools/pool/evaluateautoscale", json={"autoScaleFormula": "max(1, 2)"})).json()
    assert bad["error"]["code"] == "InvalidAutoScaleFormula"
    assert (await client.get("/pools/pool")).json()["currentDedicatedNodes"] == 1
    node_id = (await client.get("/pools/pool/nodes")).json()["value"][0]["id"]
    user = {"name": "alice", "password": "secret"}
    assert (await client.post(f"/pools/pool/nodes/{node_id}/users", json=user)).status_code == 201
    assert_error(await client.post(f"/pools/pool/nodes/{node_id}/users", json=user), 409, "NodeUserExists")
    assert (await client.post(f"/pools/pool/nodes/{node_id}/reboot")).status_code == 202
    assert (await client.get(f"/pools/pool/nodes/{node_id}")).json()["state"] == "rebooting"
    login = (await client.get(f"/pools/pool/nodes/{node_id}/remoteloginsettings")).json()
    assert login["remoteLoginIPAddress"].startswith("203.0.113.") and login["remoteLoginPort"] == 50000
    assert (await client.get("/supportedimages")).json()["value"]
    assert (await client.get("/applications/emulator-app")).json()["versions"] == ["1.0"]


async def test_fault_injection_is_seeded_and_counted(emu: Emulator, client: httpx.AsyncClient) -> None:
    async def statuses() -> list[int]:
        return [(await client.get("/pools")).status_code for _ in range(60)]

    emu.faults.configure(throttle_rate=0.3, server_error_rate=0.2, seed=7)
    first = await statuses()
    assert first.count(429) + first.count(503) == emu.faults.counts["throttle"] > 0
    assert first.count(500) == emu.faults.counts["server_error"] > 0
    emu.faults.configure(seed=7)
    assert await statuses() == first
    emu.faults.clear()
    emu.faults.fail_next("throttle", 1)
    response = await client.get("/pools")
    assert response.status_code in (429, 503) and response.headers["Retry-After"] == "1"
    assert response.json()["code"] in ("TooManyRequests", "ServerBusy")


async def test_drop_and_reset_after_apply_through_asgi(emu: Emulator, client: httpx.AsyncClient) -> None:
    await setup_job(client)
    emu.faults.fail_next("drop", path_pattern="addtaskcollection$")
    with pytest.raises(httpx.RemoteProtocolError):
        await client.post("/jobs/job/addtaskcollection", json={"value": [{"id": "d", "commandLine": "echo"}]})
    assert_error(await client.get("/jobs/job/tasks/d"), 404, "TaskNotFound")
    emu.faults.fail_next("reset_after_apply", path_pattern="addtaskcollection$")
    with pytest.raises(httpx.RemoteProtocolError):
        await client.post("/jobs/job/addtaskcollection", json={"value": [{"id": "r", "commandLine": "echo"}]})
    assert (await client.get("/jobs/job/tasks/r")).status_code == 200
    results = await add_tasks(client, [{"id": "r", "commandLine": "echo"}])
    assert results[0]["status"] == "clienterror" and results[0]["error"]["code"] == "TaskExists"
    assert emu.faults.counts["drop"] == 1 and emu.faults.counts["reset_after_apply"] == 1


async def test_per_task_server_errors(emu: Emulator, client: httpx.AsyncClient) -> None:
    await setup_job(client)
    emu.faults.configure(task_server_error_rate=0.5, seed=3)
    results = await add_tasks(client, [{"id": f"t{i}", "commandLine": "echo"} for i in range(100)])
    failed = [r for r in results if r["status"] == "servererror"]
    assert len(failed) == emu.faults.counts["task_server_error"] > 0
    assert all(r["error"]["code"] == "InternalError" for r in failed)
    counts = (await client.get("/jobs/job/taskcounts")).json()["taskCounts"]
    assert sum(counts[name] for name in ("active", "running", "completed")) == 100 - len(failed)


async def test_ten_thousand_tasks_in_chunks(client: httpx.AsyncClient) -> None:
    await setup_job(client, nodes=4, slots=256)

    async def submit(chunk: int) -> None:
        tasks = [{"id": f"task-{chunk}-{i}", "commandLine": f"echo {i}"} for i in range(100)]
        body = orjson.dumps({"value": tasks})
        headers = {"Content-Type": "application/json; odata=minimalmetadata"}
        response = await client.post("/jobs/job/addtaskcollection", content=body, headers=headers)
        assert all(result["status"] == "success" for result in response.json()["value"])

    async with anyio.create_task_group() as group:
        for chunk in range(100):
            group.start_soon(submit, chunk)
    counts = await wait_for(
        client, "/jobs/job/taskcounts", lambda body: body["taskCounts"]["completed"] == 10_000
    )
    assert counts["taskCounts"]["succeeded"] == 10_000
    listed = 0
    url: str | None = "/jobs/job/tasks?$select=id"
    while url:
        body = (await client.get(url)).json()
        listed += len(body["value"])
        url = body.get("odata.nextLink")
    assert listed == 10_000


async def test_discard_tasks_keeps_ids_and_counts() -> None:
    emu = Emulator(discard_tasks=True)
    async with make_client(emu) as client:
        await setup_job(client)
        await add_tasks(client, [{"id": f"t{i}", "commandLine": "echo"} for i in range(50)])
        results = await add_tasks(client, [{"id": "T1", "commandLine": "echo"}])
        assert results[0]["error"]["code"] == "TaskExists"
        counts = (await client.get("/jobs/job/taskcounts")).json()["taskCounts"]
        assert counts["completed"] == counts["succeeded"] == 50
        assert (await client.get("/jobs/job/tasks")).json()["value"] == []


async def test_head_on_a_get_route_is_get_without_the_body(client: httpx.AsyncClient) -> None:
    await setup_job(client)
    got = await client.get("/jobs/job")
    head = await client.head("/jobs/job")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["etag"] == got.headers["etag"]
    assert int(head.headers["content-length"]) == len(got.content)
    missing = await client.head("/jobs/nope")
    assert missing.status_code == 404 and missing.content == b""


async def test_unsupported_verb_is_a_batch_error(client: httpx.AsyncClient) -> None:
    response = await client.put("/pools", json={})
    assert_error(response, 405, "UnsupportedHttpVerb")
    assert response.headers["allow"] == "GET, HEAD, POST"


async def test_client_disconnect_mid_request_is_not_an_error(emu: Emulator) -> None:
    unsigned = Emulator(require_auth=False)
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.disconnect"}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/jobs",
        "raw_path": b"/jobs",
        "query_string": b"api-version=2024-07-01.20.0",
        "headers": [(b"host", b"emulator"), (b"content-length", b"100")],
        "server": ("emulator", 80),
        "client": ("127.0.0.1", 1234),
    }
    await unsigned.app(scope, receive, send)  # without the fix: starlette.requests.ClientDisconnect
    assert len(unsigned.store.jobs) == 0


@pytest.mark.parametrize(
    ("extra", "name"),
    [
        ({"constraints": "oops"}, "constraints"),
        ({"constraints": {"maxWallClockTime": "soon"}}, "constraints.maxWallClockTime"),
        ({"constraints": {"maxTaskRetryCount": "3"}}, "constraints.maxTaskRetryCount"),
        ({"dependsOn": {"taskIdRanges": [{"start": "a", "end": 3}]}}, "dependsOn.taskIdRanges.start"),
        ({"dependsOn": {"taskIdRanges": [{"start": 5, "end": 3}]}}, "dependsOn.taskIdRanges"),
        ({"dependsOn": {"taskIds": "a"}}, "dependsOn.taskIds"),
        ({"environmentSettings": {"name": "A"}}, "environmentSettings"),
        ({"environmentSettings": [{"name": "", "value": "x"}]}, "environmentSettings.name"),
        ({"resourceFiles": ["https://x"]}, "resourceFiles"),
        ({"multiInstanceSettings": {"numberOfInstances": 0}}, "multiInstanceSettings.numberOfInstances"),
        ({"requiredSlots": True}, "requiredSlots"),
    ],
)
async def test_wrong_typed_task_properties_are_rejected(
    client: httpx.AsyncClient, extra: dict[str, Any], name: str
) -> None:
    await setup_job(client, {"usesTaskDependencies": True})
    single = await client.post("/jobs/job/tasks", json={"id": "bad", "commandLine": "echo", **extra})
    body = assert_error(single, 400, "InvalidPropertyValue")
    assert {"key": "PropertyName", "value": name} in body["values"]
    assert any(value["key"] == "Reason" for value in body["values"])
    results = await add_tasks(
        client,
        [
            {"id": "ok1", "commandLine": "echo"},
            {"id": "bad", "commandLine": "echo", **extra},
            {"id": "ok2", "commandLine": "echo"},
        ],
    )
    assert {r["taskId"]: r["status"] for r in results} == {
        "ok1": "success",
        "bad": "clienterror",
        "ok2": "success",
    }
    assert (await client.get("/jobs/job/tasks")).status_code == 200
    assert (await client.get("/jobs/job/taskcounts")).status_code == 200
    assert (await client.get("/jobs/job/tasks/bad")).status_code == 404


async def test_dependencies_need_a_job_that_uses_them(client: httpx.AsyncClient) -> None:
    await setup_job(client)
    task = {"id": "dep", "commandLine": "echo", "dependsOn": {"taskIds": ["other"]}}
    assert_error(await client.post("/jobs/job/tasks", json=task), 409, "TaskDependenciesNotSpecifiedOnJob")
    [result] = await add_tasks(client, [task])
    assert result["status"] == "clienterror"
    assert result["error"]["code"] == "TaskDependenciesNotSpecifiedOnJob"


async def test_job_put_resets_every_omitted_writable_property(client: httpx.AsyncClient) -> None:
    changed = {
        "priority": 5,
        "allowTaskPreemption": True,
        "maxParallelTasks": 4,
        "onAllTasksComplete": "terminatejob",
        "metadata": [{"name": "a", "value": "b"}],
        "constraints": {"maxWallClockTime": "PT1H", "maxTaskRetryCount": 2},
    }
    await setup_job(client, changed)
    response = await client.put(
        "/jobs/job", json={"poolInfo": {"poolId": "pool"}, "constraints": {"maxTaskRetryCount": 3}}
    )
    assert response.status_code == 200, response.text
    job = (await client.get("/jobs/job")).json()
    assert job["priority"] == 0 and job["allowTaskPreemption"] is False and job["maxParallelTasks"] == -1
    assert job["onAllTasksComplete"] == "noaction" and "metadata" not in job
    assert job["constraints"] == {"maxWallClockTime": "P10675199DT2H48M5.4775807S", "maxTaskRetryCount": 3}


async def test_job_patch_keeps_omitted_and_replaces_given_constraints(client: httpx.AsyncClient) -> None:
    await setup_job(
        client, {"priority": 7, "constraints": {"maxWallClockTime": "PT1H", "maxTaskRetryCount": 2}}
    )
    response = await client.patch("/jobs/job", json={"constraints": {"maxTaskRetryCount": 5}})
    assert response.status_code == 200, response.text
    job = (await client.get("/jobs/job")).json()
    assert job["priority"] == 7
    assert job["constraints"] == {"maxWallClockTime": "P10675199DT2H48M5.4775807S", "maxTaskRetryCount": 5}
    response = await client.patch("/jobs/job", json={"constraints": 3})
    assert_error(response, 400, "InvalidPropertyValue")


async def test_schedule_put_resets_omitted_properties(client: httpx.AsyncClient) -> None:
    schedule = {
        "id": "s",
        "schedule": {"recurrenceInterval": "PT1H"},
        "jobSpecification": {"poolInfo": {"poolId": "pool"}},
        "metadata": [{"name": "a", "value": "b"}],
    }
    assert (await client.post("/jobschedules", json=schedule)).status_code == 201
    replaced = {"jobSpecification": {"poolInfo": {"poolId": "other"}}}
    assert (await client.put("/jobschedules/s", json=replaced)).status_code == 200
    body = (await client.get("/jobschedules/s")).json()
    assert body["schedule"] == {} and "metadata" not in body
    assert body["jobSpecification"] == {"poolInfo": {"poolId": "other"}}


async def test_pool_updateproperties_resets_omitted_properties(client: httpx.AsyncClient) -> None:
    pool = {
        "id": "pool",
        "vmSize": "standard_d2s_v3",
        "startTask": {"commandLine": "echo start"},
        "targetNodeCommunicationMode": "simplified",
        "metadata": [{"name": "a", "value": "b"}],
    }
    assert (await client.post("/pools", json=pool)).status_code == 201
    body = {"certificateReferences": [], "applicationPackageReferences": [], "metadata": []}
    assert (await client.post("/pools/pool/updateproperties", json=body)).status_code == 204
    stored = (await client.get("/pools/pool")).json()
    assert "startTask" not in stored and stored["metadata"] == []
    assert stored["targetNodeCommunicationMode"] == "default"
