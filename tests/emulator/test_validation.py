"""Issue 13 items 1 and 2: bodies checked as the service checks them, $filter and $select per operation."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from batchaio.emulator import Emulator

from .conftest import make_client
from .test_app import assert_error, setup_job

SUBSCRIPTION = "11111111-2222-3333-4444-555555555555"
OTHER = "99999999-2222-3333-4444-555555555555"
SUBNET = (
    "/subscriptions/{}/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet/subnets/default"
)
IMAGE = "/subscriptions/{}/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/i/versions/1.0.0"
IDENTITY = "/subscriptions/{}/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id"


def _pool(**extra: Any) -> dict[str, Any]:
    return {"id": "pool", "vmSize": "standard_d2s_v3", **extra}


def _vm(image: dict[str, Any]) -> dict[str, Any]:
    return {"imageReference": image, "nodeAgentSKUId": "batch.node.ubuntu 22.04"}


def _values(body: dict[str, Any]) -> dict[str, str]:
    return {value["key"]: value["value"] for value in body["values"]}


@pytest.fixture
async def account() -> Any:
    emu = Emulator(subscription_id=SUBSCRIPTION)
    async with make_client(emu) as client:
        yield client
    emu.close()


@pytest.mark.parametrize(
    ("body", "code", "name"),
    [
        (_pool(targetDedicatedNodes=1e300), "InvalidPropertyValue", "targetDedicatedNodes"),
        (_pool(targetDedicatedNodes=2**31), "InvalidPropertyValue", "targetDedicatedNodes"),
        (_pool(targetDedicatedNodes=-1), "InvalidPropertyValue", "targetDedicatedNodes"),
        (_pool(targetDedicatedNodes="2"), "InvalidPropertyValue", "targetDedicatedNodes"),
        (_pool(taskSlotsPerNode=257), "InvalidPropertyValue", "taskSlotsPerNode"),
        (_pool(displayName="x" * 1025), "InvalidPropertyValue", "displayName"),
        (_pool(enableAutoScale="yes"), "InvalidPropertyValue", "enableAutoScale"),
        (_pool(resizeTimeout="fifteen minutes"), "InvalidPropertyValue", "resizeTimeout"),
        (
            _pool(targetNodeCommunicationMode="telepathy"),
            "InvalidPropertyValue",
            "targetNodeCommunicationMode",
        ),
        (_pool(virtualMachineConfiguration={"imageReference": {}}), "MissingRequiredProperty", None),
        (
            _pool(virtualMachineConfiguration=_vm({"virtualMachineImageId": "my-image"})),
            "InvalidPropertyValue",
            "virtualMachineConfiguration.imageReference.virtualMachineImageId",
        ),
        (
            _pool(networkConfiguration={"subnetId": "/subscriptions/x/subnets/y"}),
            "InvalidPropertyValue",
            "networkConfiguration.subnetId",
        ),
        (
            _pool(networkConfiguration={"subnetId": SUBNET.format(OTHER)}),
            "InvalidPropertyValue",
            "networkConfiguration.subnetId",
        ),
        (
            _pool(startTask={"commandLine": "x", "userIdentity": {"userName": "u"}, "maxTaskRetryCount": -2}),
            "InvalidPropertyValue",
            "startTask.maxTaskRetryCount",
        ),
        ({"vmSize": "d2"}, "MissingRequiredProperty", "id"),
    ],
)
async def test_pool_bodies_the_service_refuses(
    account: httpx.AsyncClient, body: dict[str, Any], code: str, name: str | None
) -> None:
    """REST reference, Pool - Add: property types and ranges (``targetDedicatedNodes`` an int32 of at least
    0, ``taskSlotsPerNode`` at most 256, ``displayName`` up to 1024 characters, enums from their lists),
    required properties (``MissingRequiredProperty``), ``virtualMachineImageId`` of the form
    ``/subscriptions/{subscriptionId}/resourceGroups/{resourceGroup}/providers/Microsoft.Compute/galleries/
    {galleryName}/images/{imageDefinitionName}[/versions/{versionId}]``, and ``subnetId`` of the form
    ``/subscriptions/{subscription}/resourceGroups/{group}/providers/{provider}/virtualNetworks/{network}/subnets
    /{subnet}`` in the subscription of the Batch account. Errors carry ``PropertyName`` (and
    ``PropertyValue``, ``Reason``)."""
    error = assert_error(await account.post("/pools", json=body), 400, code)
    if name is not None:
        assert _values(error)["PropertyName"] == name
    if code == "InvalidPropertyValue":
        assert "Reason" in _values(error)
    assert (await account.get("/pools/pool")).status_code == 404


async def test_resource_ids_of_the_right_form_are_accepted(account: httpx.AsyncClient) -> None:
    body = _pool(
        virtualMachineConfiguration=_vm({"virtualMachineImageId": IMAGE.format(OTHER)}),
        networkConfiguration={"subnetId": SUBNET.format(SUBSCRIPTION)},
        startTask={"commandLine": "true", "userIdentity": {"autoUser": {"scope": "pool"}}},
    )
    response = await account.post("/pools", json=body)
    assert response.status_code == 201, response.text
    job = {
        "id": "job",
        "poolInfo": {"poolId": "pool"},
        "jobManagerTask": {"id": "m", "commandLine": "x"},
        "networkConfiguration": {"subnetId": SUBNET.format(SUBSCRIPTION), "skipWithdrawFromVNet": False},
    }
    assert (await account.post("/jobs", json=job)).status_code == 201
    identity = {"resourceId": "/not/an/identity"}
    task = {"id": "t", "commandLine": "x", "outputFiles": [_output(identity)]}
    error = assert_error(await account.post("/jobs/job/tasks", json=task), 400, "InvalidPropertyValue")
    assert _values(error)["PropertyName"].endswith("identityReference.resourceId")
    task["outputFiles"] = [_output({"resourceId": IDENTITY.format(SUBSCRIPTION)})]
    assert (await account.post("/jobs/job/tasks", json=task)).status_code == 201


def _output(identity: dict[str, str]) -> dict[str, Any]:
    container = {"containerUrl": "https://a.blob.core.windows.net/c", "identityReference": identity}
    return {
        "filePattern": "*.txt",
        "destination": {"container": container},
        "uploadOptions": {"uploadCondition": "taskcompletion"},
    }


async def test_body_validation_comes_before_existence_checks(client: httpx.AsyncClient) -> None:
    """The service validates the body (400) before it looks the resource up (404): a bad task for a missing
    job is a 400, a good one a 404."""
    missing = await client.post("/jobs/nope/tasks", json={"id": "t"})
    assert _values(assert_error(missing, 400, "MissingRequiredProperty"))["PropertyName"] == "commandLine"
    assert_error(
        await client.post("/jobs/nope/tasks", json={"id": "t", "commandLine": "x"}), 404, "JobNotFound"
    )
    resize = await client.post("/pools/nope/resize", json={"targetDedicatedNodes": 1.5})
    assert_error(resize, 400, "InvalidPropertyValue")
    assert_error(
        await client.post("/pools/nope/resize", json={"targetDedicatedNodes": 1}), 404, "PoolNotFound"
    )
    assert_error(
        await client.post("/jobs/nope/disable", json={"disableTasks": "never"}), 400, "InvalidPropertyValue"
    )


@pytest.mark.parametrize(
    ("body", "name"),
    [
        ({"priority": 1001}, "priority"),
        ({"maxParallelTasks": 0}, "maxParallelTasks"),
        ({"onAllTasksComplete": "explode"}, "onAllTasksComplete"),
        ({"constraints": {"maxWallClockTime": "soon"}}, "constraints.maxWallClockTime"),
    ],
)
async def test_job_bodies_the_service_refuses(
    client: httpx.AsyncClient, body: dict[str, Any], name: str
) -> None:
    """REST reference, Job - Add: ``priority`` from -1000 to 1000, ``maxParallelTasks`` -1 or greater than 0,
    enums from their lists, durations in ISO 8601."""
    job = {"id": "job", "poolInfo": {"poolId": "pool"}, **body}
    error = assert_error(await client.post("/jobs", json=job), 400, "InvalidPropertyValue")
    assert _values(error)["PropertyName"] == name


@pytest.mark.parametrize(
    ("path", "select", "ok"),
    [
        ("/jobs/job/tasks", "id,state,executionInfo", True),
        ("/jobs/job/tasks", "id,nodeInfo,EXITCODE", False),
        ("/jobs/job/tasks/t", "id,constraints", True),
        ("/jobs/job/tasks/t", "id,bogus", False),
        ("/jobs", "id,poolInfo", True),
        ("/jobs", "id,taskCounts", False),
        ("/pools", "id,vmSize,resizeErrors", True),
        ("/pools", "id,state/x", False),
    ],
)
async def test_select_names_only_properties_of_the_result(
    client: httpx.AsyncClient, path: str, select: str, ok: bool
) -> None:
    """``$select`` names top-level properties of what the operation returns (case-insensitive, as the
    service's OData is); any other name is 400 ``InvalidQueryParameterValue``."""
    await setup_job(client)
    await client.post("/jobs/job/tasks", json={"id": "t", "commandLine": "x"})
    response = await client.get(path, params={"$select": select})
    if ok:
        assert response.status_code == 200, response.text
    else:
        body = assert_error(response, 400, "InvalidQueryParameterValue")
        assert _values(body)["QueryParameterName"] == "$select"


@pytest.mark.parametrize(
    ("path", "accepted", "refused"),
    [
        ("/pools", "vmSize eq 'd2' and enableAutoScale eq false", "targetDedicatedNodes gt 1"),
        ("/jobs", "startswith(executionInfo/poolId,'p')", "priority gt 1"),
        ("/pools/pool/nodes", "startTaskInfo/exitCode ne 0", "ipAddress eq '10.0.0.4'"),
        ("/jobschedules", "schedule/doNotRunUntil gt datetime'2000-01-01T00:00:00Z'", "metadata eq 'x'"),
        ("/certificates", "state eq 'active'", "thumbprint eq 'x'"),
        ("/nodecounts", "poolId eq 'pool'", "poolId ne 'pool'"),
    ],
)
async def test_each_list_operation_filters_on_its_documented_properties(
    client: httpx.AsyncClient, path: str, accepted: str, refused: str
) -> None:
    """REST reference, "OData filters in Batch": each list operation has its own properties and operators
    (List pools: id, state, allocationState, vmSize, enableAutoScale, ...; List pool node counts: poolId
    eq)."""
    await setup_job(client)
    assert (await client.get(path, params={"$filter": accepted})).status_code == 200
    assert_error(await client.get(path, params={"$filter": refused}), 400, "InvalidQueryParameterValue")
