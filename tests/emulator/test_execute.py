"""Real execution (``execute=True``): process groups, requeue, environment, paths."""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import httpx
import pytest

from batchaio.emulator import Emulator
from batchaio.emulator._executor import run_process, task_environment
from batchaio.emulator._files import task_dir
from batchaio.emulator._state import Job, TaskRecord

from .conftest import make_client

# Starts a child that would outlive the shell, records its pid, and waits for it.
SLEEPING_CHILD = "sleep 300 & echo $! > child.pid; wait"


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for a reaper counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


async def _wait_gone(pid: int) -> None:
    with anyio.fail_after(10):
        for _ in itertools.count():
            if not _alive(pid):
                return
            await anyio.sleep(0.02)


def _recorded_pid(work: Path, task: str) -> int | None:
    for path in work.rglob(f"{task}/wd/child.pid"):
        text = path.read_text().strip()
        if text:
            return int(text)
    return None


async def _child_pid(work: Path, task: str) -> int:
    with anyio.fail_after(10):
        for _ in itertools.count():
            pid = _recorded_pid(work, task)
            if pid is not None:
                return pid
            await anyio.sleep(0.02)
    raise AssertionError("unreachable")


async def _state(client: httpx.AsyncClient, task: str) -> dict[str, object]:
    body: dict[str, object] = (await client.get(f"/jobs/job/tasks/{task}")).json()
    return body


async def _wait_state(client: httpx.AsyncClient, task: str, state: str) -> dict[str, object]:
    with anyio.fail_after(10):
        for _ in itertools.count():
            body = await _state(client, task)
            if body["state"] == state:
                return body
            await anyio.sleep(0.02)
    raise AssertionError("unreachable")


@contextlib.asynccontextmanager
async def executing(work: Path) -> AsyncIterator[httpx.AsyncClient]:
    """An executing emulator with pool ``pool`` (one node, four slots), job ``job`` and a client."""
    emu = Emulator(execute=True, work_dir=work, max_processes=4)
    try:
        async with emu.running(), make_client(emu) as client:
            pool = {"id": "pool", "vmSize": "d2", "targetDedicatedNodes": 1, "taskSlotsPerNode": 4}
            await client.post("/pools", json=pool)
            await client.post("/jobs", json={"id": "job", "poolInfo": {"poolId": "pool"}})
            yield client
    finally:
        emu.close()


async def test_terminate_kills_the_whole_process_group(tmp_path: Path) -> None:
    async with executing(tmp_path) as client:
        await client.post("/jobs/job/tasks", json={"id": "t", "commandLine": SLEEPING_CHILD})
        pid = await _child_pid(tmp_path, "t")
        assert (await client.post("/jobs/job/tasks/t/terminate")).status_code == 204
        await _wait_gone(pid)


async def test_task_and_job_deletion_kill_their_processes(tmp_path: Path) -> None:
    async with executing(tmp_path) as client:
        await client.post("/jobs/job/tasks", json={"id": "a", "commandLine": SLEEPING_CHILD})
        await client.post("/jobs/job/tasks", json={"id": "b", "commandLine": SLEEPING_CHILD})
        first, second = await _child_pid(tmp_path, "a"), await _child_pid(tmp_path, "b")
        assert (await client.delete("/jobs/job/tasks/a")).status_code == 200
        await _wait_gone(first)
        assert (await client.delete("/jobs/job")).status_code == 202
        await _wait_gone(second)


async def test_wall_clock_limit_kills_children(tmp_path: Path) -> None:
    async with executing(tmp_path) as client:
        task = {"id": "t", "commandLine": SLEEPING_CHILD, "constraints": {"maxWallClockTime": "PT0.5S"}}
        await client.post("/jobs/job/tasks", json=task)
        pid = await _child_pid(tmp_path, "t")
        body = await _wait_state(client, "t", "completed")
        assert body["executionInfo"]["exitCode"] == -1  # type: ignore[index]
        await _wait_gone(pid)


async def test_close_kills_running_processes(tmp_path: Path) -> None:
    emu = Emulator(execute=True, work_dir=tmp_path)
    async with emu.running(), make_client(emu) as client:
        await client.post("/pools", json={"id": "pool", "vmSize": "d2", "targetDedicatedNodes": 1})
        await client.post("/jobs", json={"id": "job", "poolInfo": {"poolId": "pool"}})
        await client.post("/jobs/job/tasks", json={"id": "t", "commandLine": SLEEPING_CHILD})
        pid = await _child_pid(tmp_path, "t")
    emu.close()
    await _wait_gone(pid)


async def test_a_run_cancelled_while_its_process_starts_leaves_no_child(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The shell may run (and start its child) before ``open_process`` returns; a cancellation arriving then
    # made asyncio kill the shell alone, and the child lived on (``close()`` under load).
    real_open_process = anyio.open_process
    proceed = anyio.Event()

    async def open_process(*args: object, **kwargs: object) -> anyio.abc.Process:
        process = await real_open_process(*args, **kwargs)  # type: ignore[arg-type]
        try:
            await proceed.wait()  # the run is cancelled here, the shell already running
        except anyio.get_cancelled_exc_class():
            process.kill()  # what asyncio's subprocess transport does when cancelled before it is set up
            with anyio.CancelScope(shield=True):
                await process.wait()
            raise
        return process

    monkeypatch.setattr(anyio, "open_process", open_process)
    run = functools.partial(
        run_process,
        SLEEPING_CHILD,
        task_dir=tmp_path / "t",
        environment=task_environment({}),
        wall_clock_limit=None,
    )
    pid = None
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(run)
            pid = await _child_pid(tmp_path, "t")
            group.cancel_scope.cancel()
            proceed.set()
        await _wait_gone(pid)
    finally:
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


async def test_requeue_on_disable_kills_and_runs_the_task_again(tmp_path: Path) -> None:
    async with executing(tmp_path) as client:
        # The first run sleeps; the second finds the marker and finishes at once.
        command = "if [ -f ../ran ]; then echo again; else touch ../ran; " + SLEEPING_CHILD + "; fi"
        await client.post("/jobs/job/tasks", json={"id": "t", "commandLine": command})
        pid = await _child_pid(tmp_path, "t")
        assert (await client.post("/jobs/job/disable", json={"disableTasks": "requeue"})).status_code == 202
        await _wait_gone(pid)
        assert (await _state(client, "t"))["state"] == "active"
        assert (await client.post("/jobs/job/enable")).status_code == 202
        body = await _wait_state(client, "t", "completed")
        execution = body["executionInfo"]
        assert execution["exitCode"] == 0 and "startTime" in execution  # type: ignore[index,operator]
        assert (await client.get("/jobs/job/tasks/t/files/stdout.txt")).content == b"again\n"
        counts = (await client.get("/jobs/job/taskcounts")).json()["taskCounts"]
        assert counts["succeeded"] == 1


async def test_tasks_do_not_inherit_the_emulator_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with executing(tmp_path) as client:
        monkeypatch.setenv("SECRET_IN_EMULATOR_ENV", "hunter2")
        await client.post(
            "/jobs/job/tasks",
            json={"id": "t", "commandLine": 'echo "${SECRET_IN_EMULATOR_ENV:-unset} $AZ_BATCH_TASK_ID"'},
        )
        await _wait_state(client, "t", "completed")
        assert (await client.get("/jobs/job/tasks/t/files/stdout.txt")).content == b"unset t\n"


@pytest.mark.parametrize("pool_id", ["/tmp/x/escaped", "../..", "a/b", 7])
async def test_pool_ids_that_name_directories_are_validated(tmp_path: Path, pool_id: object) -> None:
    async with executing(tmp_path) as client:
        response = await client.post("/jobs", json={"id": "other", "poolInfo": {"poolId": pool_id}})
        assert response.status_code == 400 and response.json()["code"] == "InvalidPropertyValue"
        patched = await client.patch("/jobs/job", json={"poolInfo": {"poolId": pool_id}})
        assert patched.status_code == 400


def test_task_directories_never_leave_the_work_root(tmp_path: Path) -> None:
    job = Job("job", {}, 0.0)
    task = TaskRecord("task", {}, 0.0, "job")
    task.pool_id, task.node_id = "..", ".."
    with pytest.raises(ValueError, match="work directory"):
        task_dir(tmp_path / "root", job, task)
    task.pool_id, task.node_id = "pool", "node"
    assert task_dir(tmp_path / "root", job, task).is_relative_to(tmp_path / "root")


async def test_tasks_run_only_within_the_pool_slots(tmp_path: Path) -> None:
    async with executing(tmp_path) as client:
        assert (await client.post("/pools/pool/resize", json={"targetDedicatedNodes": 0})).status_code == 202
        await client.post("/jobs/job/tasks", json={"id": "t", "commandLine": "echo ran"})
        await anyio.sleep(0.2)  # several runner ticks: no node, so it must not start
        assert (await _state(client, "t"))["state"] == "active"
        assert not (tmp_path / "pool").exists()
        assert (await client.post("/pools/pool/resize", json={"targetDedicatedNodes": 1})).status_code == 202
        await _wait_state(client, "t", "completed")
        # Four slots on the one node: a task asking for five never starts, one asking for four does.
        await client.post("/jobs/job/tasks", json={"id": "huge", "commandLine": "true", "requiredSlots": 5})
        await client.post("/jobs/job/tasks", json={"id": "whole", "commandLine": "true", "requiredSlots": 4})
        await _wait_state(client, "whole", "completed")
        assert (await _state(client, "huge"))["state"] == "active"
