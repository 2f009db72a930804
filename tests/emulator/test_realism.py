"""Realism switches: off by default (the fast emulator), each modelling one documented service behaviour."""

from __future__ import annotations

import httpx
import pytest

from batchaio.emulator import Emulator, Realism
from batchaio.emulator._realism import RateLimiter, nodes_within_quota, plan_start_up, vm_cores

from .conftest import make_client


def test_everything_turns_every_switch_on_and_the_default_none() -> None:
    assert Realism.everything() == Realism(node_startup=True, throttling=True, core_quota=True)
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
    import anyio

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
