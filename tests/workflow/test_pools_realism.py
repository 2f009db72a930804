"""``pools.wait_until_ready`` and ``jobs.wait_for_tasks`` against the emulator's realism switches, over HTTP:
nodes that take a while to start, and a resize that stops at the account's core quota."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from batchaio import BatchClient, JobCannotProgressError, PoolResizeError, models
from batchaio.emulator import Emulator
from batchaio.emulator._realism import Realism

from .conftest import connect, task

pytestmark = pytest.mark.integration


@pytest.fixture
async def realistic() -> AsyncIterator[BatchClient]:
    realism = Realism(node_startup=True, core_quota=True, dedicated_core_quota=8)
    emulator = Emulator(realism=realism, task_duration=(0.0, 0.01))
    emulator.start()
    try:
        async with connect(emulator) as client:
            yield client
    finally:
        emulator.close()


def pool(pool_id: str, nodes: int) -> models.BatchPoolCreateContent:
    return models.BatchPoolCreateContent(id=pool_id, vm_size="standard_d4s_v3", target_dedicated_nodes=nodes)


async def test_wait_until_ready_waits_for_nodes_to_start(realistic: BatchClient) -> None:
    await realistic.pools.create(pool("starting", 2))
    nodes = [node.state async for node in realistic.nodes.list("starting")]
    assert models.BatchNodeState.IDLE not in nodes  # still creating or starting
    ready = await realistic.pools.wait_until_ready("starting", timeout=10, poll_interval=0.05)
    assert ready.allocation_state == models.AllocationState.STEADY
    assert {node.state async for node in realistic.nodes.list("starting")} == {models.BatchNodeState.IDLE}


async def test_a_resize_stopped_by_the_core_quota_is_named(realistic: BatchClient) -> None:
    await realistic.pools.create(pool("too-big", 4))  # 16 cores, 8 allowed
    with pytest.raises(PoolResizeError) as caught:
        await realistic.pools.wait_until_ready("too-big", timeout=10, poll_interval=0.05)
    assert caught.value.quota_codes == ("AccountCoreQuotaReached",)
    assert "with 2 node(s)" in str(caught.value) and "4 needed" in str(caught.value)
    # Asking for no more than the nodes that fit is ready.
    ready = await realistic.pools.wait_until_ready("too-big", timeout=10, min_nodes=2, poll_interval=0.05)
    assert ready.current_dedicated_nodes == 2


async def test_tasks_on_a_pool_with_no_quota_left_cannot_progress(realistic: BatchClient) -> None:
    await realistic.pools.create(pool("first", 2))  # takes the whole quota
    await realistic.pools.create(pool("second", 2))
    await realistic.pools.wait_until_ready("first", timeout=10, poll_interval=0.05)
    await realistic.jobs.create(
        models.BatchJobCreateContent(id="starved", pool_info=models.BatchPoolInfo(pool_id="second"))
    )
    await realistic.tasks.create("starved", task("t", "exit 0"))
    with pytest.raises(JobCannotProgressError) as caught:
        await realistic.jobs.wait_for_tasks("starved", timeout=10, poll_interval=0.05)
    assert isinstance(caught.value.__cause__, PoolResizeError)
    assert "AccountCoreQuotaReached" in caught.value.reason
