"""Issue 9, items 20-24: malformed bodies, Host checks, exposure, escaping children, limits, encoded slashes,
Ctrl-C and the CLI's help."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import httpx
import pytest

from batchaio.emulator import Emulator, _runner
from batchaio.emulator.__main__ import _parser
from batchaio.emulator._executor import run_process

from .conftest import API, SharedKeyAuth, make_client
from .test_app import add_tasks, assert_error, setup_job, wait_for
from .test_execute import _alive, _child_pid, _wait_gone, executing

# ---- item 20: malformed task bodies and the runner ---------------------------------------------------------

MALFORMED: list[tuple[dict[str, Any], str]] = [
    ({"commandLine": "echo a\x00b"}, "commandLine"),
    (
        {"commandLine": "env", "environmentSettings": [{"name": "A=B", "value": "x"}]},
        "environmentSettings.name",
    ),
    (
        {"commandLine": "env", "environmentSettings": [{"name": "A\x00", "value": "x"}]},
        "environmentSettings.name",
    ),
    (
        {"commandLine": "env", "environmentSettings": [{"name": "A", "value": "x\x00y"}]},
        "environmentSettings.value",
    ),
]


@pytest.mark.parametrize(("body", "property_name"), MALFORMED)
async def test_task_bodies_a_process_cannot_take_are_refused(
    client: httpx.AsyncClient, body: dict[str, Any], property_name: str
) -> None:
    """A command line or environment a process cannot be given (NUL anywhere, ``=`` in a variable name) is
    refused with 400 ``InvalidPropertyValue`` naming the property, alone or within a task collection."""
    await setup_job(client)
    response = await client.post("/jobs/job/tasks", json={"id": "bad", **body})
    error = assert_error(response, 400, "InvalidPropertyValue")
    assert {"key": "PropertyName", "value": property_name} in error["values"]
    results = await add_tasks(client, [{"id": "bad", **body}, {"id": "good", "commandLine": "echo ok"}])
    assert [result["status"] for result in results] == ["clienterror", "success"]


async def test_a_refused_task_leaves_the_runner_running(tmp_path: Path) -> None:
    async with executing(tmp_path) as client:
        for body, _ in MALFORMED:
            assert (await client.post("/jobs/job/tasks", json={"id": "bad", **body})).status_code == 400
        await client.post("/jobs/job/tasks", json={"id": "after", "commandLine": "echo ran"})
        await wait_for(client, "/jobs/job/tasks/after", lambda task: task["state"] == "completed")


async def test_the_runner_survives_any_failure_of_one_task(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One task that cannot be run fails alone (``CommandLaunchFailed``); the tasks after it still run."""
    real_run_process = run_process

    async def failing_for_boom(command_line: str, **kwargs: Any) -> int:
        if command_line == "boom":
            raise RuntimeError("an emulator bug")
        return await real_run_process(command_line, **kwargs)

    monkeypatch.setattr(_runner, "run_process", failing_for_boom)
    async with executing(tmp_path) as client:
        await client.post("/jobs/job/tasks", json={"id": "boom", "commandLine": "boom"})
        failed = await wait_for(client, "/jobs/job/tasks/boom", lambda task: task["state"] == "completed")
        assert failed["executionInfo"]["failureInfo"]["code"] == "CommandLaunchFailed"
        await client.post("/jobs/job/tasks", json={"id": "after", "commandLine": "echo ran"})
        done = await wait_for(client, "/jobs/job/tasks/after", lambda task: task["state"] == "completed")
        assert done["executionInfo"]["exitCode"] == 0


# ---- item 21: Host, exposure, escaping children ------------------------------------------------------------


async def _get_with_host(endpoint: str, emu: Emulator, host: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=endpoint, auth=SharedKeyAuth(emu.account, emu.key)) as client:
        return await client.get("/pools", headers={"Host": host})


async def test_a_served_emulator_refuses_a_host_that_does_not_name_it() -> None:
    """DNS rebinding: a page on ``evil.example`` whose name now resolves to 127.0.0.1 sends
    ``Host: evil.example``. Served over a socket, the emulator answers only a Host that is an IP address,
    ``localhost`` or a name it was given (400 ``InvalidHeaderValue`` otherwise)."""
    emu = Emulator()
    async with emu.serve(allowed_hosts=("batch-emulator",)) as endpoint:
        port = endpoint.rsplit(":", 1)[1]
        body = assert_error(
            await _get_with_host(endpoint, emu, f"evil.example:{port}"), 400, "InvalidHeaderValue"
        )
        assert {"key": "HeaderName", "value": "Host"} in body["values"]
        assert (await _get_with_host(endpoint, emu, "evil.example")).status_code == 400
        for host in (
            f"127.0.0.1:{port}",
            f"localhost:{port}",
            f"[::1]:{port}",
            "10.1.2.3:80",
            "batch-emulator:1",
        ):
            assert (await _get_with_host(endpoint, emu, host)).status_code == 200, host
    emu.close()


async def test_in_process_use_accepts_any_host(client: httpx.AsyncClient) -> None:
    assert (await client.get("/pools", headers={"Host": "emulator.local"})).status_code == 200


@pytest.mark.parametrize(
    "settings",
    [
        {},  # the published default key
        {"key": "bXkgb3duIGtleSBmb3IgdGhlIGVtdWxhdG9y", "require_auth": False},
        {"key": "bXkgb3duIGtleSBmb3IgdGhlIGVtdWxhdG9y", "allow_bearer": True},
    ],
)
async def test_the_python_api_applies_the_cli_exposure_rules(
    tmp_path: Path, settings: dict[str, Any]
) -> None:
    """No ``execute`` off loopback without a key of your own and Shared Key authentication, whichever way the
    emulator is served (``start()``, ``serve()``, the CLI)."""
    emu = Emulator(execute=True, work_dir=tmp_path, **settings)
    try:
        with pytest.raises(ValueError, match="--execute with --allow-non-loopback"):
            emu.start("0.0.0.0", allow_non_loopback=True)
        with pytest.raises(ValueError, match="--execute with --allow-non-loopback"):
            async with emu.serve("0.0.0.0", allow_non_loopback=True):
                pass
    finally:
        emu.close()


ESCAPING_CHILD = "setsid sleep 300 & echo $! > child.pid; wait"


async def test_terminate_kills_a_child_that_left_the_process_group(tmp_path: Path) -> None:
    """Terminating a task kills everything it started, a ``setsid`` child (a new session) included."""
    async with executing(tmp_path) as client:
        await client.post("/jobs/job/tasks", json={"id": "t", "commandLine": ESCAPING_CHILD})
        pid = await _child_pid(tmp_path, "t")
        assert (await client.post("/jobs/job/tasks/t/terminate")).status_code == 204
        await _wait_gone(pid)


async def test_close_kills_a_child_that_left_the_process_group(tmp_path: Path) -> None:
    emu = Emulator(execute=True, work_dir=tmp_path)
    async with emu.running(), make_client(emu) as client:
        await setup_job(client, nodes=1, slots=1)
        await client.post("/jobs/job/tasks", json={"id": "t", "commandLine": ESCAPING_CHILD})
        pid = await _child_pid(tmp_path, "t")
        assert _alive(pid)
        emu.close()
    await _wait_gone(pid)


# ---- item 22: limits ---------------------------------------------------------------------------------------


async def test_a_huge_dependency_range_is_never_expanded(client: httpx.AsyncClient) -> None:
    """``taskIdRanges`` of millions of ids cost no memory: ranges are counted, never expanded into ids. The
    dependent runs once every task of its range exists and has succeeded."""
    await setup_job(client, {"usesTaskDependencies": True})
    await add_tasks(client, [{"id": str(n), "commandLine": "echo ok"} for n in (1, 2, 3)])
    tracemalloc.start()
    try:
        huge = {"taskIdRanges": [{"start": 1, "end": 2_000_000}]}
        response = await client.post(
            "/jobs/job/tasks", json={"id": "huge", "commandLine": "x", "dependsOn": huge}
        )
        assert response.status_code == 201
        assert (await client.get("/jobs/job/tasks/huge")).json()["state"] == "active"
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000
    small = {"taskIdRanges": [{"start": 1, "end": 3}]}
    await add_tasks(client, [{"id": "after", "commandLine": "echo ok", "dependsOn": small}])
    await wait_for(client, "/jobs/job/tasks/after", lambda task: task["state"] == "completed")
    assert (await client.get("/jobs/job/tasks/huge")).json()["state"] == "active"


async def test_a_pool_larger_than_the_quota_stops_short_with_a_resize_error(
    client: httpx.AsyncClient,
) -> None:
    """A pool resized past the account's quota gets the nodes the quota allows and a resize error
    (``AccountCoreQuotaReached``), as the service reports it; the emulator's quota is 10,000 nodes of each
    kind."""
    pool = {"id": "pool", "vmSize": "d2", "targetDedicatedNodes": 20_000_000}
    assert (await client.post("/pools", json=pool)).status_code == 201
    body = (await client.get("/pools/pool")).json()
    assert (body["targetDedicatedNodes"], body["currentDedicatedNodes"]) == (20_000_000, 10_000)
    assert body["resizeErrors"][0]["code"] == "AccountCoreQuotaReached"
    assert (await client.post("/pools/pool/resize", json={"targetDedicatedNodes": 2})).status_code == 202
    body = (await client.get("/pools/pool")).json()
    assert body["currentDedicatedNodes"] == 2 and "resizeErrors" not in body


async def test_subtasks_are_bounded_by_the_pool(client: httpx.AsyncClient) -> None:
    """A multi-instance task has one instance per node: its subtasks never outnumber the pool's nodes."""
    await setup_job(client, nodes=2)
    settings = {"numberOfInstances": 30_000_000, "coordinationCommandLine": "true"}
    task = {"id": "mpi", "commandLine": "x", "multiInstanceSettings": settings}
    assert (await client.post("/jobs/job/tasks", json=task)).status_code == 201
    assert len((await client.get("/jobs/job/tasks/mpi/subtasksinfo")).json()["value"]) == 1


async def test_a_chunked_body_is_refused_while_it_is_read() -> None:
    """The 1 MiB body limit holds while a chunked body (no ``Content-Length``) arrives: 413
    ``RequestBodyTooLarge`` once it grows past the limit, the rest never read."""
    emu = Emulator(require_auth=False)
    chunk = b" " * 65536
    sent = 0
    responses: list[dict[str, Any]] = []

    async def receive() -> Any:
        nonlocal sent
        sent += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": sent < 64 * 1024 * 1024}

    async def send(message: Any) -> None:
        responses.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/jobs",
        "raw_path": b"/jobs",
        "query_string": f"api-version={API}".encode(),
        "headers": [(b"host", b"e"), (b"transfer-encoding", b"chunked")],
        "scheme": "http",
        "server": ("e", 80),
        "http_version": "1.1",
    }
    await emu.app(scope, receive, send)
    assert responses[0]["status"] == 413
    assert sent <= 1024 * 1024 + 2 * len(chunk)


@pytest.mark.parametrize(
    "expression",
    [
        "(" * 3000 + "id eq 'a'" + ")" * 3000,
        "not " * 3000 + "id eq 'a'",
        "executionInfo/exitCode eq " + "9" * 5000,
    ],
)
async def test_filters_past_the_limits_are_refused_not_crashed(
    client: httpx.AsyncClient, expression: str
) -> None:
    """A $filter nested 3,000 deep or a 5,000-digit number is a 400 ``InvalidQueryParameterValue``, never a
    500 (expression depth is bounded; numbers are 64-bit)."""
    await setup_job(client)
    assert_error(
        await client.get("/jobs/job/tasks", params={"$filter": expression}), 400, "InvalidQueryParameterValue"
    )


# ---- item 23: encoded slashes ------------------------------------------------------------------------------


async def test_an_encoded_slash_is_part_of_an_id(client: httpx.AsyncClient) -> None:
    """``%2F`` inside a path segment is data, not a separator: ``/jobs/job%2Ftasks`` names the job
    ``job/tasks`` (which cannot exist), never the tasks of ``job``."""
    await setup_job(client)
    await add_tasks(client, [{"id": "t", "commandLine": "echo ok"}])
    assert_error(await client.get("/jobs/job%2Ftasks"), 404, "JobNotFound")
    assert_error(await client.get("/jobs/job%2ftasks%2Ft"), 404, "JobNotFound")
    pool = {"id": "sp", "vmSize": "d2", "targetDedicatedNodes": 1, "startTask": {"commandLine": "echo hi"}}
    assert (await client.post("/pools", json=pool)).status_code == 201
    node = (await client.get("/pools/sp/nodes")).json()["value"][0]["id"]
    # In a file path it is a directory separator, as the client encodes it.
    response = await client.get(f"/pools/sp/nodes/{node}/files/startup%2Fstdout.txt")
    assert response.status_code == 200


# ---- item 24 and the CLI's help ----------------------------------------------------------------------------


def test_ctrl_c_with_a_request_in_flight_prints_no_traceback() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "batchaio.emulator", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline().strip().rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port)) as connection:
            # A request whose body never arrives keeps the server busy when Ctrl-C comes.
            head = (
                f"POST /pools?api-version={API} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{{"
            )
            connection.sendall(head.encode())
            time.sleep(0.3)
            process.send_signal(signal.SIGINT)
            _, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert process.returncode in (0, 130)


def test_cli_help_explains_the_fault_options_and_max_processes() -> None:
    parser = _parser()
    helps = {action.dest: action.help for action in parser._actions}
    for name in (
        "throttle_rate",
        "server_error_rate",
        "drop_rate",
        "reset_after_apply_rate",
        "task_server_error_rate",
        "latency",
        "fault_path",
        "max_processes",
    ):
        assert helps[name], name
    assert "probability" in parser.format_help()
