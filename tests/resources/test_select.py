"""``select=`` takes the models' field names and the wire names; unknown names are refused before sending."""

from __future__ import annotations

import httpx
import pytest
import respx

from batchaio._client import BatchClient
from batchaio.errors import ValidationError

ENDPOINT = "https://acct.westeurope.batch.azure.com"


async def test_field_names_are_sent_as_wire_names(client: BatchClient, mock: respx.MockRouter) -> None:
    route = mock.get(url__startswith=f"{ENDPOINT}/jobs/job-1/tasks/t1?").mock(
        return_value=httpx.Response(
            200, json={"id": "t1", "executionInfo": {"retryCount": 0, "requeueCount": 0}}
        )
    )
    task = await client.tasks.get("job-1", "t1", select=["id", "execution_info", "stateTransitionTime"])
    assert route.calls.last.request.url.params["$select"] == "id,executionInfo,stateTransitionTime"
    assert task.execution_info is not None


async def test_listings_translate_the_names_of_their_items(
    client: BatchClient, mock: respx.MockRouter
) -> None:
    route = mock.get(url__startswith=f"{ENDPOINT}/pools?").mock(
        return_value=httpx.Response(200, json={"value": []})
    )
    assert [
        pool async for pool in client.pools.list(select=["vm_size", "id", "target_dedicated_nodes"])
    ] == []
    assert route.calls.last.request.url.params["$select"] == "vmSize,id,targetDedicatedNodes"


@pytest.mark.parametrize("names", [["id", "no_such_field"], ["ExecutionInfo"], ["execution_info/exit_code"]])
async def test_unknown_names_are_refused_before_sending(
    client: BatchClient, mock: respx.MockRouter, names: list[str]
) -> None:
    route = mock.route().mock(return_value=httpx.Response(200, json={}))
    with pytest.raises(ValidationError) as info:
        await client.tasks.get("job-1", "t1", select=names)
    assert info.value.field == "select"
    assert "BatchTask" in str(info.value)
    with pytest.raises(ValidationError):
        client.jobs.list(select=names)
    assert route.call_count == 0
