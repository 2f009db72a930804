"""The emulator over real HTTP (thread and asyncio servers, CLI, pytest fixture) and real execution."""

from __future__ import annotations

import itertools
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import anyio
import httpx
import pytest

from batchaio.emulator import Emulator
from batchaio.emulator.__main__ import main as cli_main
from batchaio.emulator.pytest_plugin import BatchEmulatorCredentials

from .conftest import SharedKeyAuth, make_client


async def test_real_http_thread_server_and_dropped_connection(batch_emulator: Emulator) -> None:
    assert batch_emulator.endpoint is not None
    async with make_client(batch_emulator, batch_emulator.endpoint) as client:
        body = {"id": "pool", "vmSize": "standard_d2s_v3", "targetDedicatedNodes": 1}
        assert (await client.post("/pools", json=body)).status_code == 201
        pool = (await client.get("/pools/pool")).json()
        assert pool["url"] == f"{batch_emulator.endpoint}/pools/pool"
        batch_emulator.faults.fail_next("drop")
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get("/pools/pool")
        assert (await client.get("/pools/pool")).status_code == 200
        batch_emulator.faults.fail_next("reset_after_apply", path_pattern="^/jobs$")
        with pytest.raises(httpx.RemoteProtocolError):
            await client.post("/jobs", json={"id": "job", "poolInfo": {"poolId": "pool"}})
        assert (await client.get("/jobs/job")).status_code == 200


def test_credentials_fixture_hides_the_key(batch_emulator_credentials: BatchEmulatorCredentials) -> None:
    assert batch_emulator_credentials.endpoint.startswith("http://127.0.0.1:")
    assert batch_emulator_credentials.key not in repr(batch_emulator_credentials)


async def test_asyncio_serve_refuses_non_loopback() -> None:
    emu = Emulator()
    with pytest.raises(ValueError, match="loopback"):
        async with emu.serve(host="0.0.0.0"):
            pass
    async with (
        emu.serve() as endpoint,
        httpx.AsyncClient(base_url=endpoint, auth=SharedKeyAuth(emu.account, emu.key)) as client,
    ):
        assert (await client.get("/pools")).status_code == 200
        bad = await httpx.AsyncClient(base_url=endpoint).get("/pools?api-version=2024-07-01.20.0")
        assert bad.status_code == 403 and bad.json()["code"] == "AuthenticationFailed"


async def test_execute_runs_command_lines_for_real(tmp_path: Path) -> None:
    emu = Emulator(execute=True, work_dir=tmp_path, max_processes=2)
    async with emu.running(), make_client(emu) as client:
        await client.post(
            "/pools", json={"id": "pool", "vmSize": "standard_d2s_v3", "targetDedicatedNodes": 1}
        )
        await client.post(
            "/jobs", json={"id": "job", "poolInfo": {"poolId": "pool"}, "usesTaskDependencies": True}
        )
        tasks = [
            {
                "id": "hello",
                "commandLine": "echo hello; echo $AZ_BATCH_TASK_ID-$AZ_BATCH_JOB_ID; echo out > out.txt",
            },
            {"id": "fail", "commandLine": "echo oops >&2; exit 7"},
            {"id": "next", "commandLine": "echo second", "dependsOn": {"taskIds": ["hello"]}},
        ]
        results = (await client.post("/jobs/job/addtaskcollection", json={"value": tasks})).json()["value"]
        assert {result["status"] for result in results} == {"success"}
        with anyio.fail_after(20):
            for _ in itertools.count():
                if (await client.get("/jobs/job/taskcounts")).json()["taskCounts"]["completed"] == 3:
                    break
                await anyio.sleep(0.05)
        stdout = await client.get("/jobs/job/tasks/hello/files/stdout.txt")
        assert stdout.content == b"hello\nhello-job\n"
        assert (await client.get("/jobs/job/tasks/hello/files/wd%2Fout.txt")).content == b"out\n"
        names = {
            e["name"]
            for e in (await client.get("/jobs/job/tasks/hello/files?recursive=true")).json()["value"]
        }
        assert {"stdout.txt", "stderr.txt", "wd", "wd/out.txt"} <= names
        failed = (await client.get("/jobs/job/tasks/fail")).json()["executionInfo"]
        assert failed["exitCode"] == 7 and failed["result"] == "failure"
        assert (await client.get("/jobs/job/tasks/fail/files/stderr.txt")).content == b"oops\n"
        first = (await client.get("/jobs/job/tasks/hello")).json()["executionInfo"]
        second = (await client.get("/jobs/job/tasks/next")).json()["executionInfo"]
        assert second["startTime"] >= first["endTime"]


def test_cli_prints_endpoint_account_and_key() -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "batchaio.emulator", "--port", "0", "--account", "cliacct", "--key", "random"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        lines = dict(process.stdout.readline().strip().split("=", 1) for _ in range(3))
        assert lines["BATCH_ENDPOINT"].startswith("http://127.0.0.1:")
        assert lines["BATCH_ACCOUNT_NAME"] == "cliacct"
        key = lines["BATCH_ACCOUNT_KEY"]
        auth = SharedKeyAuth("cliacct", key)
        with anyio.from_thread.start_blocking_portal() as portal:

            async def probe() -> int:
                async with httpx.AsyncClient(base_url=lines["BATCH_ENDPOINT"], auth=auth) as client:
                    for _ in range(100):
                        try:
                            return (await client.get("/pools")).status_code
                        except httpx.ConnectError:
                            await anyio.sleep(0.05)
                return -1

            assert portal.call(probe) == 200
    finally:
        process.terminate()
        process.communicate(timeout=10)


def test_cli_refuses_non_loopback() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "batchaio.emulator", "--host", "0.0.0.0", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2 and "loopback" in result.stderr


def test_importing_batchaio_does_not_import_starlette() -> None:
    code = "import sys, batchaio; print('starlette' in sys.modules or 'uvicorn' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert result.stdout.strip() == "False"


def test_microsoft_azure_batch_client_works_against_the_emulator(batch_emulator: Emulator) -> None:
    pytest.importorskip("azure.batch")
    from azure.batch import BatchClient, models
    from azure.core.credentials import AzureNamedKeyCredential
    from azure.core.exceptions import ResourceNotFoundError

    assert batch_emulator.endpoint is not None
    client = BatchClient(
        batch_emulator.endpoint, AzureNamedKeyCredential(batch_emulator.account, batch_emulator.key)
    )
    client.create_pool(
        models.BatchPoolCreateContent(id="p", vm_size="standard_d2s_v3", target_dedicated_nodes=2)
    )
    assert client.pool_exists("p")
    client.create_job(models.BatchJobCreateContent(id="j", pool_info=models.BatchPoolInfo(pool_id="p")))
    tasks = [models.BatchTaskCreateContent(id=f"t{i}", command_line=f"echo hi {i}") for i in range(5)]
    result = client.create_task_collection("j", models.BatchTaskGroup(value=tasks))
    assert [item.status for item in result.value] == ["success"] * 5
    for _ in range(200):
        if client.get_job_task_counts("j").task_counts.completed == 5:
            break
        time.sleep(0.02)
    assert sorted(task.id for task in client.list_tasks("j", max_results=2)) == [f"t{i}" for i in range(5)]
    assert b"".join(client.get_task_file("j", "t1", "stdout.txt")) == b"hi 1\n"
    with pytest.raises(ResourceNotFoundError) as raised:
        client.get_job("missing")
    assert raised.value.error is not None and raised.value.error.code == "JobNotFound"


@pytest.mark.parametrize(
    "extra",
    [
        ["--allow-non-loopback", "--execute"],
        ["--allow-non-loopback", "--execute", "--key", "random", "--no-auth"],
        ["--allow-non-loopback", "--execute", "--key", "random", "--allow-bearer"],
    ],
)
def test_cli_refuses_remote_execution_without_a_private_key(
    extra: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_main(["--host", "0.0.0.0", "--port", "0", *extra]) == 2
    assert "--execute with --allow-non-loopback" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--key", "not a key!!"], "base64"),
        (["--task-seconds", "2", "1"], "task_duration"),
    ],
)
def test_cli_reports_bad_arguments_as_errors(
    extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_main(["--port", "0", *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "not a key" not in err


def test_cli_reports_a_port_in_use(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        assert cli_main(["--port", str(port)]) == 2
    assert capsys.readouterr().err.startswith(f"error: cannot listen on 127.0.0.1:{port}")


@pytest.mark.parametrize("key", ["not base64!!", "", "===="])
def test_emulator_rejects_an_invalid_key_without_echoing_it(key: str) -> None:
    with pytest.raises(ValueError, match="base64") as caught:
        Emulator(key=key)
    assert key not in str(caught.value) or not key


async def test_serve_closes_its_socket_when_the_block_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    from batchaio.emulator import _server

    bound: list[socket.socket] = []
    real_bind = _server.bind_socket

    def recording_bind(host: str, port: int) -> socket.socket:
        sock = real_bind(host, port)
        bound.append(sock)
        return sock

    monkeypatch.setattr(_server, "bind_socket", recording_bind)
    emu = Emulator()
    with pytest.raises(RuntimeError, match="inside the block"):
        async with emu.serve():
            raise RuntimeError("inside the block")
    assert len(bound) == 1 and bound[0].fileno() == -1
    assert emu.endpoint is None
