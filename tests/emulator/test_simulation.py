"""What simulated runs show: start tasks, stderr, output-file upload failures, and list-task filters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from batchaio.emulator import Emulator
from batchaio.emulator._executor import simulated_output

from .conftest import make_client
from .test_app import add_tasks, assert_error, setup_job, wait_for

UNREACHABLE = "https://nowhere.invalid/container?sv=x"


async def _pool_with_start_task(client: httpx.AsyncClient, start_task: dict[str, Any]) -> dict[str, Any]:
    pool = {"id": "pool", "vmSize": "d2", "targetDedicatedNodes": 1, "startTask": start_task}
    assert (await client.post("/pools", json=pool)).status_code == 201
    nodes: list[dict[str, Any]] = (await client.get("/pools/pool/nodes")).json()["value"]
    assert len(nodes) == 1
    return nodes[0]


async def test_a_failing_start_task_that_is_waited_for_makes_the_node_starttaskfailed(
    client: httpx.AsyncClient,
) -> None:
    """REST reference, StartTask.waitForSuccess: "If true and the StartTask fails on a Node, the Batch service
    retries the StartTask up to its maximum retry count (maxTaskRetryCount). If the Task has still not
    completed successfully after all retries, then the Batch service marks the Node unusable, and will not
    schedule Tasks to it. [...] The default is true." The node state is ``starttaskfailed``."""
    start_task = {
        "commandLine": "/bin/sh -c 'echo setting up; echo no disk >&2; exit 3'",
        "maxTaskRetryCount": 2,
    }
    node = await _pool_with_start_task(client, start_task)
    assert node["state"] == "starttaskfailed"
    info = node["startTaskInfo"]
    assert (info["state"], info["exitCode"], info["result"], info["retryCount"]) == (
        "completed",
        3,
        "failure",
        2,
    )
    assert info["failureInfo"]["code"] == "FailureExitCode"
    files = f"/pools/pool/nodes/{node['id']}/files"
    assert (await client.get(f"{files}/startup/stdout.txt")).content == b"setting up\n"
    assert (await client.get(f"{files}/startup/stderr.txt")).content == b"no disk\n"
    counts = (await client.get("/nodecounts")).json()["value"][0]["dedicated"]
    assert counts["startTaskFailed"] == 1 and counts["idle"] == 0
    # No task is scheduled to the node.
    await client.post("/jobs", json={"id": "job", "poolInfo": {"poolId": "pool"}})
    await client.post("/jobs/job/tasks", json={"id": "t", "commandLine": "echo hi"})
    await anyio.sleep(0.1)
    assert (await client.get("/jobs/job/tasks/t")).json()["state"] == "active"
    listed = await client.get("/pools/pool/nodes", params={"$filter": "state eq 'starttaskfailed'"})
    assert [n["id"] for n in listed.json()["value"]] == [node["id"]]


async def test_a_failing_start_task_not_waited_for_leaves_the_node_usable(client: httpx.AsyncClient) -> None:
    """REST reference, StartTask.waitForSuccess: "If false, [...] even if the StartTask fails, new Tasks will
    continue to be scheduled on the Compute Node." """
    node = await _pool_with_start_task(client, {"commandLine": "exit 1", "waitForSuccess": False})
    assert node["state"] == "idle"
    assert (node["startTaskInfo"]["exitCode"], node["startTaskInfo"]["result"]) == (1, "failure")
    await client.post("/jobs", json={"id": "job", "poolInfo": {"poolId": "pool"}})
    await client.post("/jobs/job/tasks", json={"id": "t", "commandLine": "echo hi"})
    await wait_for(client, "/jobs/job/tasks/t", lambda task: task["state"] == "completed")


async def test_tasks_wait_for_a_running_start_task(client: httpx.AsyncClient) -> None:
    """REST reference, StartTask.waitForSuccess: the service waits "for the StartTask to complete successfully
    (that is, to exit with exit code 0) before scheduling any Tasks on the Compute Node"; meanwhile the node
    is ``waitingforstarttask``."""
    node = await _pool_with_start_task(client, {"commandLine": "sleep 0.3 && echo ready"})
    assert node["state"] == "waitingforstarttask"
    assert node["startTaskInfo"] == {
        "state": "running",
        "startTime": node["startTaskInfo"]["startTime"],
        "retryCount": 0,
    }
    await client.post("/jobs", json={"id": "job", "poolInfo": {"poolId": "pool"}})
    await client.post("/jobs/job/tasks", json={"id": "t", "commandLine": "echo hi"})
    task = await wait_for(client, "/jobs/job/tasks/t", lambda task: task["state"] == "completed")
    node = (await client.get(f"/pools/pool/nodes/{node['id']}")).json()
    assert node["state"] == "idle" and node["startTaskInfo"]["result"] == "success"
    assert task["executionInfo"]["startTime"] >= node["startTaskInfo"]["endTime"]
    stdout = await client.get(f"/pools/pool/nodes/{node['id']}/files/startup/stdout.txt")
    assert stdout.content == b"ready\n"


async def test_echo_to_stderr_goes_to_stderr_txt(client: httpx.AsyncClient) -> None:
    """A task's stderr.txt holds what its command line writes to standard error (``echo ... >&2``)."""
    await setup_job(client)
    await add_tasks(client, [{"id": "t", "commandLine": "/bin/sh -c 'echo out; echo broken >&2; exit 2'"}])
    await wait_for(client, "/jobs/job/tasks/t", lambda task: task["state"] == "completed")
    assert (await client.get("/jobs/job/tasks/t/files/stdout.txt")).content == b"out\n"
    assert (await client.get("/jobs/job/tasks/t/files/stderr.txt")).content == b"broken\n"


@pytest.mark.parametrize(
    ("command", "stdout", "stderr"),
    [
        ("echo hi", b"hi\n", b""),
        ("echo a b; echo c 1>&2", b"a b\n", b"c\n"),
        ("echo x > out.txt && echo y", b"y\n", b""),
        ("echo x 2>/dev/null", b"x\n", b""),
        ("echo bad >/dev/stderr", b"", b"bad\n"),
        ("bash -c \"echo 'it; works' >&2\"", b"", b"it; works\n"),
        ("cmd /c echo windows", b"windows\n", b""),
        ("exit 3", b"exit 3\n", b""),
        ('echo "unbalanced', b"unbalanced\n", b""),
    ],
)
def test_simulated_output(command: str, stdout: bytes, stderr: bytes) -> None:
    assert simulated_output(command, 0) == (stdout, stderr)


def _output_file(condition: str = "taskCompletion", url: str = UNREACHABLE) -> dict[str, Any]:
    return {
        "filePattern": "../std*.txt",
        "destination": {"container": {"containerUrl": url, "path": "logs"}},
        "uploadOptions": {"uploadCondition": condition},
    }


async def test_an_unreachable_output_destination_fails_the_task(client: httpx.AsyncClient) -> None:
    """REST reference, TaskFailureInformationCodes / BatchTaskExecutionInfo: a task whose output files fail to
    upload completes with ``result`` ``failure`` and ``failureInfo`` (code ``FileUploadMiscError``: "The
    compute node hit an unexpected error when uploading Output Files") while ``exitCode`` stays the process's;
    the node writes ``fileuploaderr.txt`` in the task directory. The emulator fails uploads to hosts under
    ``.invalid`` (RFC 2606)."""
    await setup_job(client)
    tasks = [
        {"id": "upload-fails", "commandLine": "echo ok", "outputFiles": [_output_file()]},
        {"id": "not-uploaded", "commandLine": "echo ok", "outputFiles": [_output_file("taskFailure")]},
        {
            "id": "fine",
            "commandLine": "echo ok",
            "outputFiles": [_output_file(url="https://a.blob.example/c")],
        },
    ]
    await add_tasks(client, tasks)
    counts = await wait_for(client, "/jobs/job/taskcounts", lambda body: body["taskCounts"]["completed"] == 3)
    assert (counts["taskCounts"]["failed"], counts["taskCounts"]["succeeded"]) == (1, 2)
    execution = (await client.get("/jobs/job/tasks/upload-fails")).json()["executionInfo"]
    assert (execution["exitCode"], execution["result"]) == (0, "failure")
    assert execution["failureInfo"]["code"] == "FileUploadMiscError"
    assert execution["failureInfo"]["category"] == "usererror"
    error_log = await client.get("/jobs/job/tasks/upload-fails/files/fileuploaderr.txt")
    assert b"nowhere.invalid" in error_log.content
    assert (await client.get("/jobs/job/tasks/fine")).json()["executionInfo"]["result"] == "success"
    assert (await client.get("/jobs/job/tasks/fine/files/fileuploaderr.txt")).content == b""
    assert (await client.get("/jobs/job/tasks/not-uploaded/files/fileuploaderr.txt")).status_code == 404
    failed = await client.get("/jobs/job/tasks", params={"$filter": "executionInfo/result eq 'failure'"})
    assert [task["id"] for task in failed.json()["value"]] == ["upload-fails"]


async def test_an_unreachable_output_destination_fails_an_executed_task(tmp_path: Path) -> None:
    """The same rule with ``execute=True``: the process exits 0, the upload fails."""
    emu = Emulator(execute=True, work_dir=tmp_path)
    try:
        async with emu.running(), make_client(emu) as client:
            await setup_job(client, nodes=1, slots=1)
            await client.post(
                "/jobs/job/tasks", json={"id": "t", "commandLine": "echo ok", "outputFiles": [_output_file()]}
            )
            task = await wait_for(client, "/jobs/job/tasks/t", lambda task: task["state"] == "completed")
            assert (task["executionInfo"]["exitCode"], task["executionInfo"]["result"]) == (0, "failure")
            assert task["executionInfo"]["failureInfo"]["code"] == "FileUploadMiscError"
            assert (
                b"nowhere.invalid" in (await client.get("/jobs/job/tasks/t/files/fileuploaderr.txt")).content
            )
    finally:
        emu.close()


@pytest.mark.parametrize(
    "expression",
    [
        "id eq 't1'",
        "startswith(id,'t')",
        "id ge 't'",
        "state eq 'completed'",
        "state ne 'active'",
        "stateTransitionTime ge datetime'2000-01-01T00:00:00Z'",
        "creationTime lt datetime'2100-01-01T00:00:00Z'",
        "lastModified gt datetime'2000-01-01T00:00:00Z'",
        "lastModifiedTime gt datetime'2000-01-01T00:00:00Z'",
        "executionInfo/startTime gt datetime'2000-01-01T00:00:00Z'",
        "executionInfo/endTime le datetime'2100-01-01T00:00:00Z'",
        "executionInfo/exitCode eq 0",
        "executionInfo/result eq 'success'",
        "state eq 'completed' and (executionInfo/exitCode ne 1 or id eq 't1')",
    ],
)
async def test_list_tasks_accepts_the_documented_filters(client: httpx.AsyncClient, expression: str) -> None:
    """REST reference, "OData filters in Batch", List tasks: id (startswith, eq, ge, gt, le, lt, ne), state,
    stateTransitionTime, creationTime, lastModifiedTime, executionInfo/startTime, executionInfo/endTime,
    executionInfo/exitCode (eq, ne, ge, gt, le, lt) and executionInfo/result (eq, ne), combined with
    and/or."""
    await setup_job(client)
    await add_tasks(client, [{"id": "t1", "commandLine": "echo ok"}])
    await wait_for(client, "/jobs/job/tasks/t1", lambda task: task["state"] == "completed")
    response = await client.get("/jobs/job/tasks", params={"$filter": expression})
    assert response.status_code == 200, response.text
    assert [task["id"] for task in response.json()["value"]] == ["t1"]


@pytest.mark.parametrize(
    "expression",
    [
        "executionInfo/retryCount eq 0",  # not a documented property
        "displayName eq 'x'",
        "executionInfo/failureInfo/code eq 'FailureExitCode'",
        "endswith(id,'1')",  # only startswith is documented
        "substringof('1',id)",
        "startswith(state,'c')",  # startswith is documented for id only
        "executionInfo/result gt 'a'",  # eq, ne only
        "'t1' eq 't1'",  # no property at all
        "id",
    ],
)
async def test_list_tasks_refuses_undocumented_filters(client: httpx.AsyncClient, expression: str) -> None:
    """REST reference, "OData filters in Batch": "each supported API allows filtering on a unique set of
    properties, as listed below"; anything else is refused with 400 ``InvalidQueryParameterValue``."""
    await setup_job(client)
    body = assert_error(
        await client.get("/jobs/job/tasks", params={"$filter": expression}), 400, "InvalidQueryParameterValue"
    )
    assert {"key": "QueryParameterName", "value": "$filter"} in body["values"]
