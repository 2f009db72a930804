"""Pools over HTTP: create, get, exists, update, resize, list across pages, delete."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from batchaio import BatchClient, ConflictError, models

from .conftest import eventually

pytestmark = pytest.mark.integration


def pool_spec(pool_id: str, nodes: int = 1) -> models.BatchPoolCreateContent:
    return models.BatchPoolCreateContent(
        id=pool_id,
        vm_size="Standard_D2s_v3",
        virtual_machine_configuration=models.VirtualMachineConfiguration(
            image_reference=models.ImageReference(
                publisher="canonical", offer="0001-com-ubuntu-server-jammy", sku="22_04-lts", version="latest"
            ),
            node_agent_sku_id="batch.node.ubuntu 22.04",
        ),
        target_dedicated_nodes=nodes,
        metadata=[models.MetadataItem(name="owner", value="integration")],
    )


async def test_pool_lifecycle(client: BatchClient, unique: Callable[[str], str]) -> None:
    pool_id = unique("pool")
    created = await client.pools.create(pool_spec(pool_id))
    assert created.status_code == 201
    assert created.etag

    pool = await client.pools.get(pool_id)
    assert (pool.id, pool.vm_size, pool.target_dedicated_nodes) == (pool_id, "Standard_D2s_v3", 1)
    assert pool.state == models.BatchPoolState.ACTIVE
    assert pool.e_tag == created.etag
    assert await client.pools.exists(pool_id) is True
    with pytest.raises(ConflictError) as caught:
        await client.pools.create(pool_spec(pool_id))
    assert caught.value.code == "PoolExists"

    await client.pools.update(
        pool_id, models.BatchPoolUpdateContent(metadata=[models.MetadataItem(name="stage", value="two")])
    )
    pool = await client.pools.get(pool_id, select=["id", "metadata"])
    assert pool.metadata == [models.MetadataItem(name="stage", value="two")]
    assert pool.vm_size is None  # not selected

    await client.pools.resize(pool_id, models.BatchPoolResizeContent(target_dedicated_nodes=3))
    pool = await client.pools.get(pool_id)
    assert pool.target_dedicated_nodes == 3

    async def steady_with_three_nodes() -> bool:
        current = await client.pools.get(pool_id, select=["allocationState", "currentDedicatedNodes"])
        return (
            current.allocation_state == models.AllocationState.STEADY and current.current_dedicated_nodes == 3
        )

    await eventually(steady_with_three_nodes)

    deleted = await client.pools.delete(pool_id)
    assert deleted.status_code == 202

    async def gone() -> bool:
        return not await client.pools.exists(pool_id)

    await eventually(gone)


async def test_list_pools_pages_with_small_max_results(
    client: BatchClient, unique: Callable[[str], str]
) -> None:
    prefix = unique("paged")
    ids = [f"{prefix}-{number}" for number in range(5)]
    for pool_id in ids:
        await client.pools.create(pool_spec(pool_id, nodes=0))

    pager = client.pools.list(max_results=2, filter=f"startswith(id, '{prefix}')", select=["id"])
    pages = [page async for page in pager.pages()]

    assert [len(page.items) for page in pages] == [2, 2, 1]
    assert [pool.id for page in pages for pool in page.items] == ids
    assert all(page.next_link for page in pages[:-1])
    assert pages[-1].next_link is None
    assert [
        pool.id async for pool in client.pools.list(max_results=2, filter=f"startswith(id, '{prefix}')")
    ] == ids
