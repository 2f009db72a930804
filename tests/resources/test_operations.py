"""One respx-driven test per operation of the API (77), built from the operations file.

Each row calls ``client.<group>.<method>`` with every argument the operation accepts and checks the method,
the encoded path, the query, the headers, the JSON body and the parsed result; non-paged operations are also
called through ``client.with_raw_response``. Expectations are spelled out here, not taken from the generator.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import attrs
import httpx
import orjson
import pytest
import respx

from batchaio import filters as f
from batchaio import models
from batchaio._client import BatchClient
from batchaio._fields import wire_info
from batchaio._files import BatchFileProperties, FileDownload
from batchaio._paging import AsyncPager
from batchaio._response import ResponseMetadata
from batchaio._serde import converter
from batchaio.resources import RawResponse

SPEC = Path(__file__).resolve().parents[2] / "tools" / "spec"
OPERATIONS = json.loads((SPEC / "batch-2024-07-01.20.0.operations.json").read_text())["operations"]
SCHEMA = json.loads((SPEC / "batch-2024-07-01.20.0.schema.json").read_text())["models"]
UTC = timezone.utc

# path parameter -> (Python value, encoded segment)
PATH_VALUES = {
    "poolId": ("pool-1", "pool-1"),
    "jobId": ("job_1", "job_1"),
    "jobScheduleId": ("sched-1", "sched-1"),
    "taskId": ("Task-7", "Task-7"),
    "nodeId": ("tvm 1/a", "tvm%201%2Fa"),
    "filePath": ("wd/out put.txt", "wd%2Fout%20put.txt"),
    "userName": ("ops.user", "ops.user"),
    "extensionName": ("Custom Script", "Custom%20Script"),
    "applicationId": ("app.v1", "app.v1"),
    "thumbprintAlgorithm": ("sha1", "sha1"),
    "thumbprint": ("ABC123", "ABC123"),
}
# query parameter -> (keyword, value, wire value)
QUERY_VALUES: dict[str, tuple[str, Any, str]] = {
    "$filter": ("filter", f.eq("state", "it's"), "state eq 'it''s'"),
    "$select": ("select", ["id", "state"], "id,state"),
    "$expand": ("expand", ["stats"], "stats"),
    "maxresults": ("max_results", 10, "10"),
    "recursive": ("recursive", True, "true"),
    "force": ("force", False, "false"),
    "startTime": ("start_time", datetime(2024, 7, 1, tzinfo=UTC), "2024-07-01T00:00:00Z"),
    "endtime": (
        "end_time",
        datetime(2024, 7, 2, 1, 30, 0, 250000, tzinfo=UTC),
        "2024-07-02T01:30:00.250000Z",
    ),
}
HEADER_VALUES: dict[str, tuple[str, Any, str]] = {
    "If-Match": ("if_match", "0x8DC1", '"0x8DC1"'),
    "If-None-Match": ("if_none_match", '"0x8DC2"', '"0x8DC2"'),
    "If-Modified-Since": (
        "if_modified_since",
        datetime(2024, 7, 1, 12, 15, 30, tzinfo=timezone.utc).astimezone(),
        "Mon, 01 Jul 2024 12:15:30 GMT",
    ),
    "If-Unmodified-Since": (
        "if_unmodified_since",
        datetime(2024, 7, 2, tzinfo=UTC),
        "Tue, 02 Jul 2024 00:00:00 GMT",
    ),
}
# request bodies on the wire, one per body type
BODIES: dict[str, dict[str, Any]] = {
    "BatchCertificate": {
        "thumbprint": "ABC123",
        "thumbprintAlgorithm": "sha1",
        "data": "MIIC",
        "password": "pw",
    },
    "BatchJobCreateContent": {"id": "job-2", "poolInfo": {"poolId": "pool-1"}, "priority": 100},
    "BatchJob": {"poolInfo": {"poolId": "pool-1"}, "maxParallelTasks": 4},
    "BatchJobUpdateContent": {"priority": 5},
    "BatchTaskGroup": {
        "value": [{"id": "t1", "commandLine": "echo 1"}, {"id": "t2", "commandLine": "echo 2"}]
    },
    "BatchJobDisableContent": {"disableTasks": "requeue"},
    "BatchJobTerminateContent": {"terminateReason": "done"},
    "BatchTaskCreateContent": {"id": "t1", "commandLine": "/bin/sh -c 'echo hi'"},
    "BatchTask": {"constraints": {"maxTaskRetryCount": 3}},
    "BatchJobScheduleCreateContent": {
        "id": "sched-2",
        "schedule": {"recurrenceInterval": "PT1H"},
        "jobSpecification": {"poolInfo": {"poolId": "pool-1"}},
    },
    "BatchJobSchedule": {"jobSpecification": {"poolInfo": {"poolId": "pool-1"}}},
    "BatchJobScheduleUpdateContent": {"metadata": [{"name": "k", "value": "v"}]},
    "BatchPoolCreateContent": {"id": "pool-2", "vmSize": "standard_d2s_v3", "targetDedicatedNodes": 2},
    "BatchPoolUpdateContent": {"metadata": [{"name": "k", "value": "v"}]},
    "BatchPoolEnableAutoScaleContent": {"autoScaleFormula": "$TargetDedicatedNodes=1;"},
    "BatchPoolEvaluateAutoScaleContent": {"autoScaleFormula": "$TargetDedicatedNodes=2;"},
    "BatchNodeDeallocateContent": {"nodeDeallocateOption": "requeue"},
    "BatchNodeDisableSchedulingContent": {"nodeDisableSchedulingOption": "taskcompletion"},
    "BatchNodeRebootContent": {"nodeRebootOption": "terminate"},
    "BatchNodeReimageContent": {"nodeReimageOption": "retaineddata"},
    "UploadBatchServiceLogsContent": {
        "containerUrl": "https://sa.blob/c?sig=x",
        "startTime": "2024-07-01T10:15:30Z",
    },
    "BatchNodeUserCreateContent": {"name": "ops.user", "isAdmin": False},
    "BatchNodeUserUpdateContent": {"sshPublicKey": "ssh-rsa AAAA"},
    "BatchNodeRemoveContent": {"nodeList": ["tvm-1", "tvm-2"]},
    "BatchPoolResizeContent": {"targetDedicatedNodes": 3},
    "BatchPoolReplaceContent": {
        "certificateReferences": [],
        "applicationPackageReferences": [{"applicationId": "app.v1"}],
        "metadata": [],
    },
}
RESPONSE_HEADERS = {
    "ETag": "0x8DCABC",
    "Last-Modified": "Mon, 01 Jul 2024 10:15:30 GMT",
    "request-id": "req-1",
    "client-request-id": "cid-1",
    "DataServiceId": "https://acct.westeurope.batch.azure.com/x",
}
FILE_HEADERS = {
    "Content-Length": "11",
    "ocp-batch-file-isdirectory": "False",
    "ocp-batch-file-url": "https://acct/jobs/j/tasks/t/files/wd%2Fout",
    "ocp-batch-file-mode": "0o100644",
    "ocp-creation-time": "Mon, 01 Jul 2024 09:00:00 GMT",
    "ETag": "0x8DCF11E",
    "Last-Modified": "Mon, 01 Jul 2024 10:15:30 GMT",
    "Content-Type": "text/plain",
}


ENUMS = json.loads((SPEC / "batch-2024-07-01.20.0.schema.json").read_text())["enums"]
SCALAR_SAMPLES: dict[str, Any] = {
    "integer": 7,
    "int64-as-string": "123",
    "number": 1.5,
    "boolean": True,
    "date-time": "2024-07-01T10:15:30Z",
    "duration": "PT1H30M",
}


def _sample_body(type_name: str, depth: int = 0) -> dict[str, Any]:
    """A wire body of ``type_name`` with every property set (nested models two levels deep)."""
    body: dict[str, Any] = {}
    for prop in SCHEMA[type_name]["properties"]:
        value = _sample_value(prop["type"], prop["name"], depth)
        if value is not None:
            body[prop["name"]] = value
    return body


def _sample_value(kind: Any, name: str, depth: int) -> Any:
    if kind == "string":
        return f"sample-{name}"
    if isinstance(kind, str):
        return SCALAR_SAMPLES[kind]
    if "enum" in kind:
        return ENUMS[kind["enum"]][-1]
    if "model" in kind:
        return _sample_body(kind["model"], depth + 1) if depth < 2 else None
    if "array" in kind:
        item = _sample_value(kind["array"], name, depth)
        return None if item is None else [item, item]
    if "map" in kind:
        item = _sample_value(kind["map"], name, depth)
        return None if item is None else {"k": item}
    raise AssertionError(f"unknown schema type {kind!r}")


def _kind(op: dict[str, Any]) -> str:
    result = op.get("resultType", "")
    if op.get("pageable"):
        return "list"
    if result.startswith("bytes"):
        return "download"
    if result.startswith("response headers"):
        return "file_properties"
    if result.startswith("bool"):
        return "exists"
    return "model" if result else "metadata"


def _build_call(op: dict[str, Any]) -> tuple[list[Any], dict[str, Any], dict[str, str], dict[str, str], Any]:
    """Arguments, expected query, expected headers and expected JSON body of one operation."""
    names = [p["name"] for p in op["parameters"]]
    args: list[Any] = [PATH_VALUES[p][0] for p in _path_params(op)]
    kwargs: dict[str, Any] = {"server_timeout": 20, "client_request_id": "cid-1"}
    query = {"timeout": "20"}
    headers = {"client-request-id": "cid-1"}
    body = None
    for name in names:
        if name in QUERY_VALUES:
            keyword, value, wire = QUERY_VALUES[name]
            if name == "maxresults" and op["operationId"].startswith("Certificates_"):
                value, wire = 100, "100"
            if name == "$select":
                value, wire = _select_values(op, value, wire)
            kwargs[keyword] = value
            query[name.lower()] = wire
        elif name in HEADER_VALUES:
            keyword, value, wire = HEADER_VALUES[name]
            kwargs[keyword] = value
            headers[name] = wire
        elif name == "ocp-range":
            kwargs.update(offset=100, length=50)
            headers["ocp-range"] = "bytes=100-149"
    if op.get("bodyType"):
        body_type = op["bodyType"].removeprefix("optional ")
        body = BODIES[body_type]
        args.append(converter.structure(body, getattr(models, body_type)))
    return args, kwargs, query, headers, body


def _select_values(op: dict[str, Any], value: list[str], wire: str) -> tuple[list[str], str]:
    """``select`` names only properties of the result: models without ``id`` get their first two fields."""
    fields = attrs.fields(getattr(models, op.get("itemType") or op["resultType"]))
    if {"id", "state"} <= {field.name for field in fields}:
        return value, wire
    return [field.name for field in fields[:2]], ",".join(wire_info(field).name for field in fields[:2])


def _path_params(op: dict[str, Any]) -> list[str]:
    import re

    return re.findall(r"\{(\w+)\}", op["path"])


def _expected_path(op: dict[str, Any]) -> str:
    path = op["path"]
    for name in _path_params(op):
        path = path.replace("{" + name + "}", PATH_VALUES[name][1])
    return path


def _response(op: dict[str, Any]) -> tuple[httpx.Response, Any]:
    """The mocked response and what the parsed result must contain."""
    status = int(next(code for code in op["responses"] if code != "default"))
    kind = _kind(op)
    if kind == "list":
        item = _sample_body(op["itemType"])
        return httpx.Response(status, json={"odata.metadata": "m", "value": [item, item]}), item
    if kind == "model":
        body = _sample_body(op["resultType"])
        return httpx.Response(status, json={"odata.metadata": "m", **body}, headers=RESPONSE_HEADERS), body
    if kind in ("file_properties", "download"):
        return httpx.Response(status, content=b"hello world", headers=FILE_HEADERS), None
    return httpx.Response(status, headers=RESPONSE_HEADERS), None


def _check_request(
    request: httpx.Request, op: dict[str, Any], query: dict[str, str], headers: dict[str, str], body: Any
) -> None:
    assert request.method == op["method"]
    raw_path, _, _ = request.url.raw_path.decode().partition("?")
    assert raw_path == _expected_path(op)
    sent_query = dict(request.url.params)
    assert sent_query.pop("api-version") == "2024-07-01.20.0"
    assert sent_query == query
    for name, value in headers.items():
        assert request.headers.get(name) == value, name
    for name in HEADER_VALUES:
        if name not in headers:
            assert name not in request.headers
    if "ocp-range" not in headers:
        assert "ocp-range" not in request.headers
    if body is None:
        assert request.content == b""
    else:
        assert request.headers["content-type"] == "application/json; odata=minimalmetadata"
        assert orjson.loads(request.content) == body


def _check_metadata(result: ResponseMetadata, status: int) -> None:
    assert isinstance(result, ResponseMetadata)
    assert result.status_code == status
    assert result.etag == "0x8DCABC"
    assert result.request_id == "req-1"
    assert result.client_request_id == "cid-1"
    assert result.last_modified == datetime(2024, 7, 1, 10, 15, 30, tzinfo=UTC)
    assert result.data_service_id == "https://acct.westeurope.batch.azure.com/x"


def _check_model(result: Any, type_name: str, expected: dict[str, Any]) -> None:
    assert type(result) is getattr(models, type_name)
    assert expected  # every result type has properties to compare
    assert converter.unstructure(result) == expected


def test_the_table_covers_every_operation_once() -> None:
    assert len(OPERATIONS) == 77
    assert len({op["client"] for op in OPERATIONS}) == 77


@pytest.mark.parametrize("op", OPERATIONS, ids=[op["client"] for op in OPERATIONS])
async def test_operation(op: dict[str, Any], client: BatchClient, mock: respx.MockRouter) -> None:
    group, name = op["client"].split(".")
    args, kwargs, query, headers, body = _build_call(op)
    response, sample = _response(op)
    route = mock.route().mock(return_value=response)
    method = getattr(getattr(client, group), name)
    kind = _kind(op)

    if kind == "list":
        pager = method(*args, **kwargs)
        assert isinstance(pager, AsyncPager)
        assert not route.called  # nothing is sent before iterating
        items = [item async for item in pager]
        assert len(items) == 2
        for item in items:
            _check_model(item, op["itemType"], sample)
    elif kind == "download":
        download = method(*args, **kwargs)
        assert isinstance(download, FileDownload)
        async with download as stream:
            assert b"".join([chunk async for chunk in stream]) == b"hello world"
        assert stream.properties.etag == "0x8DCF11E"
    else:
        result = await method(*args, **kwargs)
        status = response.status_code
        if kind == "metadata":
            _check_metadata(result, status)
        elif kind == "exists":
            assert result is True
        elif kind == "file_properties":
            assert result == BatchFileProperties(
                content_length=11,
                is_directory=False,
                url="https://acct/jobs/j/tasks/t/files/wd%2Fout",
                file_mode="0o100644",
                creation_time=datetime(2024, 7, 1, 9, 0, tzinfo=UTC),
                etag="0x8DCF11E",
                last_modified=datetime(2024, 7, 1, 10, 15, 30, tzinfo=UTC),
                content_type="text/plain",
            )
        else:
            _check_model(result, op["resultType"], sample)

        raw = await getattr(getattr(client.with_raw_response, group), name)(*args, **kwargs)
        assert isinstance(raw, RawResponse)
        assert raw.status_code == status
        assert raw.metadata.request_id == response.headers.get("request-id")
        assert raw.parse() == result
        assert route.call_count == 2

    _check_request(route.calls[0].request, op, query, headers, body)
