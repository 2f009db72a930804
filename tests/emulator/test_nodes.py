"""Compute nodes as the service shows them: endpoints, remote login, extensions, logs, directories, OS."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx

from batchaio.emulator import Emulator
from batchaio.emulator._nodes import inbound_endpoints, is_windows, task_root_directory

from .conftest import make_client
from .test_app import add_tasks, wait_for

WINDOWS_IMAGE = {
    "imageReference": {
        "publisher": "MicrosoftWindowsServer",
        "offer": "WindowsServer",
        "sku": "2022-datacenter",
    },
    "nodeAgentSKUId": "batch.node.windows amd64",
}
UBUNTU_IMAGE = {
    "imageReference": {"publisher": "Canonical", "offer": "UbuntuServer", "sku": "18.04-LTS"},
    "nodeAgentSKUId": "batch.node.ubuntu 18.04",
}
NAT_POOL = {
    "name": "TestEndpointConfig",
    "protocol": "udp",
    "backendPort": 64444,
    "frontendPortRangeStart": 60000,
    "frontendPortRangeEnd": 61000,
}


async def _pool(client: httpx.AsyncClient, nodes: int = 2, **extra: Any) -> list[dict[str, Any]]:
    body = {
        "id": "pool",
        "vmSize": "standard_d2_v2",
        "targetDedicatedNodes": nodes,
        "virtualMachineConfiguration": UBUNTU_IMAGE,
        **extra,
    }
    assert (await client.post("/pools", json=body)).status_code == 201
    listed: list[dict[str, Any]] = (await client.get("/pools/pool/nodes")).json()["value"]
    return listed


async def test_endpoints_follow_the_inbound_nat_pools_one_per_pool_and_node(
    client: httpx.AsyncClient,
) -> None:
    """InboundNATPool (REST reference): ``frontendPortRangeStart`` is "the first port number in the range of
    external ports that will be used to provide inbound access to the backendPort on individual Compute
    Nodes"; ports 50000 to 55000 "are reserved by the Batch service". Recorded service answers list, per
    node, ``<nat pool name>.<node index>`` at ``frontendPortRangeStart + index`` and the service's own
    ``SSHRule.<index>`` (tcp, 50000 + index, backend 22), all with the pool's public IP and FQDN."""
    network = {"endpointConfiguration": {"inboundNATPools": [NAT_POOL]}}
    nodes = await _pool(client, networkConfiguration=network)
    seen = []
    for node in nodes:
        endpoints = node["endpointConfiguration"]["inboundEndpoints"]
        names = [endpoint["name"] for endpoint in endpoints]
        index = int(names[0].rpartition(".")[2])
        assert names == [f"TestEndpointConfig.{index}", f"SSHRule.{index}"]
        nat, ssh = endpoints
        assert (nat["protocol"], nat["frontendPort"], nat["backendPort"]) == ("udp", 60000 + index, 64444)
        assert (ssh["protocol"], ssh["frontendPort"], ssh["backendPort"]) == ("tcp", 50000 + index, 22)
        assert nat["publicIPAddress"] == ssh["publicIPAddress"]
        assert re.fullmatch(
            r"dns[0-9a-f-]{36}-azurebatch-cloudservice\.[a-z]+\.cloudapp\.azure\.com", nat["publicFQDN"]
        )
        seen.append(index)
        login = (await client.get(f"/pools/pool/nodes/{node['id']}/remoteloginsettings")).json()
        assert (login["remoteLoginIPAddress"], login["remoteLoginPort"]) == (
            ssh["publicIPAddress"],
            50000 + index,
        )
    assert sorted(seen) == [0, 1]


async def test_a_replacement_node_takes_the_freed_index(client: httpx.AsyncClient) -> None:
    """Frontend ports are allocated per node from the range: a node allocated after another was removed
    reuses the free index (and port) instead of running past the end of the range."""
    nodes = await _pool(client)
    first = next(
        node for node in nodes if node["endpointConfiguration"]["inboundEndpoints"][0]["name"] == "SSHRule.0"
    )
    assert (await client.post("/pools/pool/removenodes", json={"nodeList": [first["id"]]})).status_code == 202
    assert (await client.post("/pools/pool/resize", json={"targetDedicatedNodes": 2})).status_code == 202
    nodes = (await client.get("/pools/pool/nodes")).json()["value"]
    names = sorted(node["endpointConfiguration"]["inboundEndpoints"][0]["name"] for node in nodes)
    assert names == ["SSHRule.0", "SSHRule.1"]


def test_windows_nodes_get_an_rdp_rule_and_no_public_address_means_no_endpoints() -> None:
    """Windows nodes are reached over RDP (backend 3389); with ``publicIPAddressConfiguration.provision``
    ``NoPublicIPAddresses`` (REST reference: "No public IP Address will be created") there is no inbound
    endpoint."""
    windows = {"virtualMachineConfiguration": WINDOWS_IMAGE}
    assert is_windows(windows) and not is_windows({"virtualMachineConfiguration": UBUNTU_IMAGE})
    [rdp] = inbound_endpoints(windows, "pool", 3)
    assert (rdp["name"], rdp["frontendPort"], rdp["backendPort"]) == ("RDPRule.3", 50003, 3389)
    private = {"networkConfiguration": {"publicIPAddressConfiguration": {"provision": "NoPublicIPAddresses"}}}
    assert inbound_endpoints(private, "pool", 0) == []
    assert task_root_directory("job", "t", True) == "workitems\\job\\job-1\\t"


async def test_the_service_extension_is_listed_first_and_gettable(client: httpx.AsyncClient) -> None:
    """Recorded service answer of "Nodes - List Node Extensions" on a pool with one extension of its own:
    ``batchNodeExtension`` (Microsoft.Azure.Extensions, CustomScript 2.0) first, then the user's, each
    ``provisioningState: Succeeded``; each is gettable by name."""
    extension = {"name": "secretext", "publisher": "Microsoft.Azure.KeyVault", "type": "KeyVaultForLinux"}
    image = {**UBUNTU_IMAGE, "extensions": [extension]}
    [node, _] = await _pool(client, virtualMachineConfiguration=image)
    listed = (await client.get(f"/pools/pool/nodes/{node['id']}/extensions")).json()["value"]
    assert [item["vmExtension"]["name"] for item in listed] == ["batchNodeExtension", "secretext"]
    assert listed[0]["vmExtension"]["publisher"] == "Microsoft.Azure.Extensions"
    assert {item["provisioningState"] for item in listed} == {"Succeeded"}
    for name in ("batchNodeExtension", "secretext"):
        got = await client.get(f"/pools/pool/nodes/{node['id']}/extensions/{name}")
        assert got.status_code == 200 and got.json()["vmExtension"]["name"] == name


async def test_upload_logs_reports_files_in_the_service_directory_format(client: httpx.AsyncClient) -> None:
    """UploadBatchServiceLogsResult (REST reference): ``virtualDirectoryName`` is "the virtual directory
    within Azure Blob Storage container to which the Batch Service log file(s) will be uploaded. The virtual
    directory name is part of the blob name for each log file uploaded, and it is built based poolId, nodeId
    and a unique identifier"; recorded answers read ``<account>-<hash>/<pool>/<node>/<request id>`` with
    ``numberOfFilesUploaded`` 4."""
    [node, _] = await _pool(client)
    body = {
        "containerUrl": "https://account.blob.core.windows.net/logs?sas",
        "startTime": "2024-07-01T00:00:00Z",
    }
    response = await client.post(f"/pools/pool/nodes/{node['id']}/uploadbatchservicelogs", json=body)
    result = response.json()
    assert result["numberOfFilesUploaded"] > 0
    directory = result["virtualDirectoryName"].split("/")
    assert re.fullmatch(r"emulator-[0-9A-F]{16}", directory[0])
    assert directory[1:] == ["pool", node["id"], response.headers["request-id"]]


async def test_node_directories_are_laid_out_as_the_service_does(client: httpx.AsyncClient) -> None:
    """Recorded recursive listing of a node's files: ``applications``, ``fsmounts``, ``shared``, ``startup``,
    ``volatile``, ``workitems`` and, per task that ran there, ``workitems/<job>/job-1/<task>`` with its
    ``stdout.txt``, ``stderr.txt``, ``wd`` and ``certs``; the start task's files under ``startup`` only when
    the pool has a start task. A task's ``nodeInfo.taskRootDirectory`` names the same directory."""
    await _pool(client, nodes=1)
    assert (await client.post("/jobs", json={"id": "job", "poolInfo": {"poolId": "pool"}})).status_code == 201
    await add_tasks(client, [{"id": "t", "commandLine": "/bin/sh -c 'echo hi'"}])
    task = await wait_for(client, "/jobs/job/tasks/t", lambda body: body["state"] == "completed")
    info = task["nodeInfo"]
    assert info["taskRootDirectory"] == "workitems/job/job-1/t"
    assert info["taskRootDirectoryUrl"].endswith(f"/nodes/{info['nodeId']}/files/workitems/job/job-1/t")
    listing = await client.get(f"/pools/pool/nodes/{info['nodeId']}/files", params={"recursive": "true"})
    names = {entry["name"] for entry in listing.json()["value"]}
    assert {"applications", "fsmounts", "shared", "startup", "volatile", "workitems"} <= names
    root = "workitems/job/job-1/t"
    assert {f"{root}/stdout.txt", f"{root}/stderr.txt", f"{root}/wd", f"{root}/certs"} <= names
    assert not any(name.startswith("startup/") for name in names)
    content = await client.get(
        f"/pools/pool/nodes/{info['nodeId']}/files/{root.replace('/', '%2F')}%2Fstdout.txt"
    )
    assert content.content == b"hi\n"


async def test_start_task_files_appear_with_a_start_task(client: httpx.AsyncClient) -> None:
    """The ``startup`` directory holds the start task's ``stdout.txt``, ``stderr.txt`` and ``wd``."""
    [node] = await _pool(client, nodes=1, startTask={"commandLine": "echo setup"})
    listing = await client.get(f"/pools/pool/nodes/{node['id']}/files", params={"recursive": "true"})
    names = {entry["name"] for entry in listing.json()["value"]}
    assert {"startup/stdout.txt", "startup/stderr.txt", "startup/wd"} <= names


async def test_windows_nodes_use_windows_paths(client: httpx.AsyncClient) -> None:
    """On a Windows node names carry ``\\`` separators (``taskRootDirectory``
    ``workitems\\<job>\\job-1\\<task>``), and file properties a creation time and no file mode
    (REST reference, ``FileProperties``: "The creation time is not returned for files on Linux Compute
    Nodes"; "The file mode is returned only for files on Linux Compute Nodes")."""
    [node] = await _pool(client, nodes=1, virtualMachineConfiguration=WINDOWS_IMAGE)
    assert node["endpointConfiguration"]["inboundEndpoints"][0]["name"] == "RDPRule.0"
    assert (await client.post("/jobs", json={"id": "job", "poolInfo": {"poolId": "pool"}})).status_code == 201
    await add_tasks(client, [{"id": "t", "commandLine": "cmd /c echo hi"}])
    task = await wait_for(client, "/jobs/job/tasks/t", lambda body: body["state"] == "completed")
    assert task["nodeInfo"]["taskRootDirectory"] == "workitems\\job\\job-1\\t"
    listing = (await client.get("/jobs/job/tasks/t/files")).json()["value"]
    stdout = next(entry for entry in listing if entry["name"] == "stdout.txt")
    assert "creationTime" in stdout["properties"] and "fileMode" not in stdout["properties"]
    assert "certs" not in {entry["name"] for entry in listing}
    head = await client.head("/jobs/job/tasks/t/files/stdout.txt")
    assert "ocp-creation-time" in head.headers and "ocp-batch-file-mode" not in head.headers
    node_listing = await client.get(f"/pools/pool/nodes/{node['id']}/files", params={"recursive": "true"})
    names = {entry["name"] for entry in node_listing.json()["value"]}
    assert "workitems\\job\\job-1\\t\\stdout.txt" in names
    by_backslash = await client.get(
        f"/pools/pool/nodes/{node['id']}/files/workitems%5Cjob%5Cjob-1%5Ct%5Cstdout.txt"
    )
    assert by_backslash.status_code == 200


async def test_running_task_counts_go_beyond_one() -> None:
    """ComputeNode (REST reference): ``runningTasksCount`` is "the total number of currently running Job
    Tasks on the Compute Node", ``runningTaskSlotsCount`` "the total number of scheduling slots used by
    currently running Job Tasks"; with ``taskSlotsPerNode`` 4 one node runs several tasks at once."""
    emu = Emulator(task_duration=(5, 5), seed=1)
    async with make_client(emu) as client:
        body = {"id": "pool", "vmSize": "standard_d4_v3", "targetDedicatedNodes": 1, "taskSlotsPerNode": 4}
        assert (await client.post("/pools", json=body)).status_code == 201
        assert (
            await client.post("/jobs", json={"id": "job", "poolInfo": {"poolId": "pool"}})
        ).status_code == 201
        tasks = [
            {"id": "a", "commandLine": "x"},
            {"id": "b", "commandLine": "x"},
            {"id": "c", "commandLine": "x", "requiredSlots": 2},
        ]
        await add_tasks(client, tasks)
        [node] = (await client.get("/pools/pool/nodes")).json()["value"]
        assert (node["state"], node["runningTasksCount"], node["runningTaskSlotsCount"]) == ("running", 3, 4)
        got = (await client.get(f"/pools/pool/nodes/{node['id']}")).json()
        assert (got["runningTasksCount"], got["runningTaskSlotsCount"]) == (3, 4)
    emu.close()


async def test_running_task_counts_of_executed_tasks(tmp_path: Path) -> None:
    """The same counts when command lines run for real (``execute=True``)."""
    emu = Emulator(execute=True, work_dir=tmp_path)
    async with emu.running(), make_client(emu) as client:
        body = {"id": "pool", "vmSize": "standard_d4_v3", "targetDedicatedNodes": 1, "taskSlotsPerNode": 4}
        assert (await client.post("/pools", json=body)).status_code == 201
        assert (
            await client.post("/jobs", json={"id": "job", "poolInfo": {"poolId": "pool"}})
        ).status_code == 201
        await add_tasks(client, [{"id": f"t{i}", "commandLine": "sleep 5"} for i in range(2)])
        node = await wait_for(
            client, "/pools/pool/nodes", lambda page: page["value"][0]["runningTasksCount"] == 2
        )
        assert node["value"][0]["runningTaskSlotsCount"] == 2
        for task_id in ("t0", "t1"):
            assert (await client.post(f"/jobs/job/tasks/{task_id}/terminate")).status_code == 204
    emu.close()
