"""Realism switches: off by default (the fast emulator), each modelling one documented service behaviour."""

from __future__ import annotations

import datetime
import itertools
import time
from typing import Any

import anyio
import httpx
import pytest

from batchaio.emulator import Emulator, Realism
from batchaio.emulator._realism import (
    RateLimiter,
    Recurrence,
    next_scheduled_job,
    nodes_within_quota,
    plan_start_up,
    vm_cores,
)

from .conftest import make_client


def test_everything_turns_every_switch_on_and_the_default_none() -> None:
    every = Realism.everything()
    assert every == Realism(
        node_startup=True,
        throttling=True,
        core_quota=True,
        task_count_lag=True,
        preemption=True,
        job_scheduling=True,
        schedule_recurrence=True,
    )
    assert not any((Realism().node_startup, Realism().throttling, Realism().core_quota))
    assert Realism.everything(requests_per_second=5).requests_per_second == 5
    with pytest.raises(ValueError):
        Realism(requests_per_second=0)


async def test_nodes_start_up_before_they_take_tasks() -> None:
    """ComputeNodeState (REST reference): ``creating`` "The Batch service has obtained the underlying virtual
    machine from Azure Compute, but it has not yet started to join the Pool", ``starting`` "The Batch service
    is starting on the underlying virtual machine", ``waitingForStartTask`` "The StartTask has started
    running on the Compute Node, but waitForSuccess is set and the StartTask has not yet completed"; only
    then ``idle``. Extensions report ``provisioningState`` ``Creating`` until the node has started, and the
    pool is ``resizing`` meanwhile."""
    realism = Realism(
        node_startup=True, node_creating_seconds=0.2, node_starting_seconds=0.2, start_task_seconds=0.2
    )
    emu = Emulator(realism=realism, task_duration=(0.01, 0.01))
    async with make_client(emu) as client:
        pool = {
            "id": "pool",
            "vmSize": "standard_d2_v2",
            "targetDedicatedNodes": 1,
            "startTask": {"commandLine": "echo setup", "waitForSuccess": True},
        }
        assert (await client.post("/pools", json=pool)).status_code == 201
        assert (await client.get("/pools/pool")).json()["allocationState"] == "resizing"
        [node] = (await client.get("/pools/pool/nodes")).json()["value"]
        assert node["state"] == "creating" and "lastBootTime" not in node
        extensions = (await client.get(f"/pools/pool/nodes/{node['id']}/extensions")).json()["value"]
        assert {item["provisioningState"] for item in extensions} == {"Creating"}
        assert (
            await client.post("/jobs", json={"id": "job", "poolInfo": {"poolId": "pool"}})
        ).status_code == 201
        assert (
            await client.post("/jobs/job/tasks", json={"id": "t", "commandLine": "echo hi"})
        ).status_code == 201
        seen = []
        for _ in range(200):
            state = (await client.get(f"/pools/pool/nodes/{node['id']}")).json()["state"]
            if not seen or seen[-1] != state:
                seen.append(state)
            if state in ("idle", "running"):
                break
            if state == "creating":
                assert (await client.get("/jobs/job/tasks/t")).json()["state"] == "active"
            await _pause()
        assert seen[:3] == ["creating", "starting", "waitingforstarttask"]
        extensions = (await client.get(f"/pools/pool/nodes/{node['id']}/extensions")).json()["value"]
        assert {item["provisioningState"] for item in extensions} == {"Succeeded"}
        assert (await client.get("/pools/pool")).json()["allocationState"] == "steady"
    emu.close()


async def _pause() -> None:
    await anyio.sleep(0.02)


def test_start_up_plan() -> None:
    realism = Realism(node_startup=True, node_creating_seconds=1, node_starting_seconds=2)
    assert plan_start_up(realism, 10.0) == (11.0, 13.0)
    assert plan_start_up(Realism(), 10.0) == (10.0, 10.0)


async def test_throttling_by_request_rate_with_retry_after() -> None:
    """Batch throttles an account's requests past a rate: "429 (Too many requests)" with a ``Retry-After``
    header saying how many seconds to wait. Nothing of a throttled request is applied."""
    emu = Emulator(realism=Realism(throttling=True, requests_per_second=5, retry_after_seconds=2))
    async with make_client(emu) as client:
        statuses = [(await client.get("/pools")).status_code for _ in range(5)]
        throttled = await client.post("/pools", json={"id": "late", "vmSize": "standard_d2_v2"})
    assert statuses == [200] * 5
    assert throttled.status_code == 429 and throttled.json()["code"] == "TooManyRequests"
    assert throttled.headers["Retry-After"] == "2"
    assert emu.faults.counts["rate_limited"] == 1
    assert emu.store.pools.find("late", 0) is None
    emu.close()


def test_rate_limiter_window_slides() -> None:
    limiter = RateLimiter(2)
    assert [limiter.admit(t) for t in (0.0, 0.1, 0.2, 1.05, 1.2)] == [True, True, False, True, True]


async def test_core_quota_stops_a_resize_with_a_resize_error() -> None:
    """Batch accounts have core quotas per VM family, dedicated and low-priority (spot) apart. A resize past
    the quota is accepted; the pool gets the nodes that fit and a ``resizeErrors`` entry (``ResizeError``:
    "An error that occurred when resizing a Pool") with code ``AccountCoreQuotaReached``."""
    emu = Emulator(realism=Realism(core_quota=True, dedicated_core_quota=8, low_priority_core_quota=4))
    async with make_client(emu) as client:
        first = {"id": "a", "vmSize": "Standard_D2s_v3", "targetDedicatedNodes": 3}
        assert (await client.post("/pools", json=first)).status_code == 201
        second = {
            "id": "b",
            "vmSize": "Standard_D4s_v3",
            "targetDedicatedNodes": 2,
            "targetLowPriorityNodes": 1,
        }
        assert (await client.post("/pools", json=second)).status_code == 201
        pool = (await client.get("/pools/b")).json()
        assert (pool["currentDedicatedNodes"], pool["currentLowPriorityNodes"]) == (0, 1)
        assert [error["code"] for error in pool["resizeErrors"]] == ["AccountCoreQuotaReached"]
        assert (await client.post("/pools/a/resize", json={"targetDedicatedNodes": 0})).status_code == 202
        assert (await client.post("/pools/b/resize", json={"targetDedicatedNodes": 2})).status_code == 202
        pool = (await client.get("/pools/b")).json()
        assert pool["currentDedicatedNodes"] == 2 and "resizeErrors" not in pool
    emu.close()


def test_quota_arithmetic_and_core_counts() -> None:
    realism = Realism(core_quota=True, dedicated_core_quota=10, low_priority_core_quota=10)
    assert nodes_within_quota(realism, 4, 2, 5, True)[0] == 2
    fits, error = nodes_within_quota(realism, 4, 0, 5, False)
    assert fits == 2 and error is not None and error["code"] == "AccountLowPriorityCoreQuotaReached"
    assert nodes_within_quota(Realism(), 4, 100, 5, True) == (5, None)
    assert [vm_cores(size) for size in ("standard_d1_v2", "Standard_D2s_v3", "Standard_NC24ads_A100_v4")] == [
        1,
        2,
        24,
    ]


async def test_default_emulator_is_fast_nodes_idle_at_once(client: httpx.AsyncClient) -> None:
    body = {
        "id": "pool",
        "vmSize": "standard_d2_v2",
        "targetDedicatedNodes": 1,
        "startTask": {"commandLine": "x"},
    }
    assert (await client.post("/pools", json=body)).status_code == 201
    [node] = (await client.get("/pools/pool/nodes")).json()["value"]
    assert node["state"] == "idle"


async def test_task_counts_lag_while_the_task_list_is_exact() -> None:
    """REST reference, "Jobs - Get Job Task Counts": "Note that the numbers returned may not always be up to
    date. If you need exact task counts, use a list query." """
    emu = Emulator(
        realism=Realism(task_count_lag=True, task_count_lag_seconds=60), task_duration=(0.01, 0.01)
    )
    async with make_client(emu) as client:
        body = {"id": "pool", "vmSize": "standard_d2_v2", "targetDedicatedNodes": 1}
        assert (await client.post("/pools", json=body)).status_code == 201
        assert (
            await client.post("/jobs", json={"id": "job", "poolInfo": {"poolId": "pool"}})
        ).status_code == 201
        before = (await client.get("/jobs/job/taskcounts")).json()["taskCounts"]
        assert (
            await client.post("/jobs/job/tasks", json={"id": "t", "commandLine": "echo"})
        ).status_code == 201
        stale = (await client.get("/jobs/job/taskcounts")).json()["taskCounts"]
        assert stale == before and stale["active"] == 0
        listed = (await client.get("/jobs/job/tasks")).json()["value"]
        assert [task["id"] for task in listed] == ["t"]
        emu.store.realism = Realism(task_count_lag=True, task_count_lag_seconds=0)
        fresh = (await client.get("/jobs/job/taskcounts")).json()["taskCounts"]
        assert sum(fresh[state] for state in ("active", "running", "completed")) == 1
    emu.close()


async def test_spot_preemption_requeues_the_running_task() -> None:
    """ComputeNodeState (REST reference): ``preempted`` "The Spot/Low-priority Compute Node has been
    preempted. Tasks which were running on the Compute Node when it was preempted will be rescheduled when
    another Compute Node becomes available." The requeued task's ``executionInfo.requeueCount`` goes up."""
    realism = Realism(preemption=True, preempt_after_seconds=0.15, preempted_seconds=60)
    emu = Emulator(realism=realism, task_duration=(0.01, 0.01))
    async with make_client(emu) as client:
        body = {
            "id": "pool",
            "vmSize": "standard_d2_v2",
            "targetDedicatedNodes": 1,
            "targetLowPriorityNodes": 1,
        }
        assert (await client.post("/pools", json=body)).status_code == 201
        nodes = (await client.get("/pools/pool/nodes")).json()["value"]
        spot = next(node["id"] for node in nodes if not node["isDedicated"])
        assert (
            await client.post("/jobs", json={"id": "job", "poolInfo": {"poolId": "pool"}})
        ).status_code == 201
        tasks = [{"id": f"t{i}", "commandLine": "sleep 0.3"} for i in range(2)]
        assert (await client.post("/jobs/job/addtaskcollection", json={"value": tasks})).status_code == 200
        first = {
            t["id"]: t["nodeInfo"]["nodeId"] for t in (await client.get("/jobs/job/tasks")).json()["value"]
        }
        on_spot = next(task_id for task_id, node_id in first.items() if node_id == spot)
        await _wait(client, f"/pools/pool/nodes/{spot}", lambda node: node["state"] == "preempted")
        task = await _wait(client, f"/jobs/job/tasks/{on_spot}", lambda task: task["state"] == "completed")
        assert task["executionInfo"]["requeueCount"] == 1
        assert task["nodeInfo"]["nodeId"] != spot
    emu.close()


async def test_removing_a_node_requeues_its_running_tasks(client: httpx.AsyncClient) -> None:
    """REST reference, "Pools - Remove Nodes": ``nodeDeallocationOption`` "Determines what to do with a
    Compute Node and its running task(s) after it has been selected for deallocation. The default value is
    requeue"; ``requeue``: "Terminate running Task processes and requeue the Tasks. The Tasks will run again
    when a Compute Node is available." """
    body = {"id": "pool", "vmSize": "standard_d2_v2", "targetDedicatedNodes": 2}
    assert (await client.post("/pools", json=body)).status_code == 201
    assert (await client.post("/jobs", json={"id": "job", "poolInfo": {"poolId": "pool"}})).status_code == 201
    tasks = [{"id": "a", "commandLine": "sleep 0.3"}, {"id": "b", "commandLine": "sleep 0.3"}]
    assert (await client.post("/jobs/job/addtaskcollection", json={"value": tasks})).status_code == 200
    node_of_a = (await client.get("/jobs/job/tasks/a")).json()["nodeInfo"]["nodeId"]
    response = await client.post("/pools/pool/removenodes", json={"nodeList": [node_of_a]})
    assert response.status_code == 202
    requeued = (await client.get("/jobs/job/tasks/a")).json()
    assert requeued["executionInfo"]["requeueCount"] == 1
    done = await _wait(client, "/jobs/job/tasks/a", lambda task: task["state"] == "completed")
    assert done["nodeInfo"]["nodeId"] != node_of_a


async def _wait(client: httpx.AsyncClient, url: str, predicate: Any) -> dict[str, Any]:
    with anyio.fail_after(10):
        while True:
            body: dict[str, Any] = (await client.get(url)).json()
            if predicate(body):
                return body
            await anyio.sleep(0.02)


async def test_max_parallel_tasks_and_priority_shape_the_queue() -> None:
    """REST reference, Job: ``maxParallelTasks`` "The maximum number of tasks that can be executed in
    parallel for the job. The value of maxParallelTasks must be -1 or greater than 0 if specified. If not
    specified, the default value is -1, which means there's no limit to the number of tasks that can be run
    at once"; ``priority`` "Priority values can range from -1000 to 1000, with -1000 being the lowest priority
    and 1000 being the highest priority" (higher-priority jobs' tasks are scheduled first in a pool)."""
    emu = Emulator(realism=Realism(job_scheduling=True), task_duration=(0.01, 0.01))
    async with make_client(emu) as client:
        body = {"id": "pool", "vmSize": "standard_d2_v2", "targetDedicatedNodes": 1, "taskSlotsPerNode": 4}
        assert (await client.post("/pools", json=body)).status_code == 201
        low = {"id": "low", "poolInfo": {"poolId": "pool"}, "priority": -10, "maxParallelTasks": 1}
        high = {"id": "high", "poolInfo": {"poolId": "pool"}, "priority": 100}
        for job in (low, high):
            assert (await client.post("/jobs", json=job)).status_code == 201
        await client.post("/jobs/low/addtaskcollection", json={"value": _sleepers(3)})
        await client.post("/jobs/high/addtaskcollection", json={"value": _sleepers(4)})
        running = lambda tasks: [t["id"] for t in tasks if t["state"] == "running"]  # noqa: E731
        low_tasks = (await client.get("/jobs/low/tasks")).json()["value"]
        high_tasks = (await client.get("/jobs/high/tasks")).json()["value"]
        # The low job got one slot before the high job's tasks arrived and keeps it; its limit is 1.
        assert len(running(low_tasks)) == 1 and len(running(high_tasks)) == 3
        done = await _wait(
            client, "/jobs/low/taskcounts", lambda counts: counts["taskCounts"]["completed"] == 3
        )
        assert done["taskCounts"]["completed"] == 3
        low_tasks = (await client.get("/jobs/low/tasks")).json()["value"]
        starts = sorted((t["executionInfo"]["startTime"], t["executionInfo"]["endTime"]) for t in low_tasks)
        assert all(later[0] >= earlier[1] for earlier, later in itertools.pairwise(starts))
    emu.close()


async def test_higher_priority_jobs_tasks_start_first() -> None:
    """A task of a higher-priority job queued later starts before the waiting tasks of a lower one."""
    emu = Emulator(realism=Realism(job_scheduling=True), task_duration=(0.01, 0.01))
    async with make_client(emu) as client:
        body = {"id": "pool", "vmSize": "standard_d2_v2", "targetDedicatedNodes": 1}
        assert (await client.post("/pools", json=body)).status_code == 201
        for job_id, priority in (("low", 0), ("high", 500)):
            job = {"id": job_id, "poolInfo": {"poolId": "pool"}, "priority": priority}
            assert (await client.post("/jobs", json=job)).status_code == 201
        await client.post("/jobs/low/addtaskcollection", json={"value": _sleepers(3)})
        await client.post("/jobs/high/addtaskcollection", json={"value": _sleepers(1)})
        await _wait(client, "/jobs/low/taskcounts", lambda counts: counts["taskCounts"]["completed"] == 3)
        low = {
            t["id"]: t["executionInfo"]["startTime"]
            for t in (await client.get("/jobs/low/tasks")).json()["value"]
        }
        high = (await client.get("/jobs/high/tasks/t0")).json()["executionInfo"]["startTime"]
        first_low, *rest = sorted(low.values())
        assert first_low < high < min(rest)  # the running low task kept its slot; high went next
    emu.close()


def _sleepers(count: int) -> list[dict[str, Any]]:
    return [{"id": f"t{i}", "commandLine": "sleep 0.1"} for i in range(count)]


def test_next_scheduled_job_rules() -> None:
    """REST reference, Schedule: "If it is time to create a new Job under a Job Schedule, but the previous
    Job is still running, the Batch service will not create the new Job until the previous Job finishes. If
    the previous Job does not finish within the startWindow period of the new recurrenceInterval, then no new
    Job will be scheduled for that interval"; ``doNotRunAfter`` "If you do not specify a doNotRunAfter time,
    and you are creating a recurring Job Schedule, the Job Schedule will remain active until you explicitly
    terminate it"; without ``recurrenceInterval`` one job is created."""
    every_10 = Recurrence(interval=10)
    assert next_scheduled_job(every_10, 100, None, False, 105) == (100, 110)
    assert next_scheduled_job(every_10, 110, None, True, 115) == (None, 110)  # waits for the previous job
    assert next_scheduled_job(every_10, 110, 113, False, 115) == (113, 120)  # created when it ended
    windowed = Recurrence(interval=10, start_window=2)
    assert next_scheduled_job(windowed, 110, None, True, 115) == (None, 120)  # the window passed
    assert next_scheduled_job(windowed, 110, 113, False, 115) == (None, 120)
    assert next_scheduled_job(Recurrence(), 100, None, False, 100) == (100, None)
    assert next_scheduled_job(Recurrence(interval=10, not_after=105), 110, 101, False, 111) == (None, None)
    # due before doNotRunAfter, but the previous job ended after it: no job
    assert next_scheduled_job(Recurrence(interval=10, not_after=105), 100, 107, False, 108) == (None, None)


async def test_a_recurring_schedule_keeps_one_active_job_and_stops_after_do_not_run_after() -> None:
    """Schedule (REST reference): no job before ``doNotRunUntil``; "the schedule will become completed as
    soon as this deadline [doNotRunAfter] is past and there is no active Job under this Job Schedule"."""
    emu = Emulator(realism=Realism(schedule_recurrence=True), task_duration=(0.01, 0.01))
    async with make_client(emu) as client:
        start = time.time()
        schedule = {
            "id": "nightly",
            "schedule": {
                "recurrenceInterval": "PT0.2S",
                "doNotRunUntil": _rfc3339(start + 0.2),
                "doNotRunAfter": _rfc3339(start + 1.2),
            },
            "jobSpecification": {"poolInfo": {"poolId": "pool"}},
        }
        assert (await client.post("/jobschedules", json=schedule)).status_code == 201
        assert (await client.get("/jobschedules/nightly/jobs")).json()[
            "value"
        ] == []  # not before doNotRunUntil
        first = await _wait(client, "/jobschedules/nightly", lambda s: "recentJob" in s["executionInfo"])
        first_job = first["executionInfo"]["recentJob"]["id"]
        await anyio.sleep(0.5)
        jobs = (await client.get("/jobschedules/nightly/jobs")).json()["value"]
        assert [job["id"] for job in jobs] == [first_job]  # one active job at a time: it never completed
        assert (await client.post(f"/jobs/{first_job}/terminate")).status_code == 202
        await _wait(client, "/jobschedules/nightly/jobs", lambda page: len(page["value"]) == 2)
        await anyio.sleep(max(0.0, start + 1.3 - time.time()))  # past doNotRunAfter: no new job
        for job in (await client.get("/jobschedules/nightly/jobs")).json()["value"]:
            if job["state"] == "active":
                assert (await client.post(f"/jobs/{job['id']}/terminate")).status_code == 202
        done = await _wait(client, "/jobschedules/nightly", lambda s: s["state"] == "completed")
        assert done["state"] == "completed"
    emu.close()


def _rfc3339(moment: float) -> str:
    return datetime.datetime.fromtimestamp(moment, datetime.timezone.utc).isoformat().replace("+00:00", "Z")


def test_command_line_switches() -> None:
    from batchaio.emulator.__main__ import _parser, _realism

    assert _realism(_parser().parse_args([])) is None
    assert _realism(_parser().parse_args(["--realistic"])) == Realism.everything()
    assert _realism(_parser().parse_args(["--preemption", "--core-quota"])) == Realism(
        preemption=True, core_quota=True
    )
