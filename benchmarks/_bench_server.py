"""A minimal, fast stand-in for ``addtaskcollection`` and the task listing, served by uvicorn on 127.0.0.1.

It accepts any credentials. ``POST /jobs/{job}/addtaskcollection`` parses the body and answers ``success`` for
every task, the way the service does (``Success``, an ETag, a last-modified time and a location per task); it
keeps no state, so it can absorb a million tasks in constant memory.

``GET /jobs/{job}/tasks`` lists the completed tasks of a job whose id ends in ``-{count}`` (``list-20000`` has
20,000 tasks), ``maxresults`` per page (default 1000), each page but the last carrying an ``odata.nextLink``
with a ``$skiptoken``. Page bodies are built once per (job, page size, offset) and cached, so repeated
listings cost the server only the send. Task ``n`` exits with code ``n % 3``.

Run: ``python benchmarks/_bench_server.py PORT``.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs, quote

import orjson
import uvicorn

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

_HEADERS = [(b"content-type", b"application/json;odata=minimalmetadata"), (b"request-id", b"bench")]
_LAST_MODIFIED = "2024-07-01T10:15:30.1234567Z"


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    path: str = scope["path"]
    if scope["method"] == "GET" and path == "/health":
        await _answer(send, 200, b"{}")
        return
    if scope["method"] == "GET" and path.startswith("/jobs/") and path.endswith("/tasks"):
        await _list_tasks(scope, send)
        return
    if scope["method"] != "POST" or not path.endswith("/addtaskcollection"):
        await _answer(send, 404, b'{"code":"ResourceNotFound"}')
        return
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    tasks = orjson.loads(b"".join(chunks))["value"]
    base = f"http://127.0.0.1{path.rsplit('/', 1)[0]}/tasks/"
    results = [
        {
            "status": "Success",
            "taskId": task["id"],
            "eTag": "0x8DC9B2F8F1E5A3C",
            "lastModified": _LAST_MODIFIED,
            "location": base + task["id"],
        }
        for task in tasks
    ]
    await _answer(send, 200, orjson.dumps({"odata.metadata": "bench", "value": results}))


_API_VERSION = "2024-07-01.20.0"
_PAGES: dict[tuple[str, str, int, int], bytes] = {}


async def _list_tasks(scope: Scope, send: Send) -> None:
    job = scope["path"].split("/")[2]
    query = parse_qs(scope["query_string"].decode(), keep_blank_values=True)
    try:
        count = int(job.rsplit("-", 1)[-1])
        size = int(query.get("maxresults", ["1000"])[0])
        start = int(query.get("$skiptoken", ["task-0"])[0].rsplit("-", 1)[-1])
    except ValueError:
        await _answer(send, 400, b'{"code":"InvalidQueryParameterValue"}')
        return
    host = dict(scope["headers"]).get(b"host", b"127.0.0.1").decode()
    key = (host, job, size, start)
    body = _PAGES.get(key)
    if body is None:
        body = _PAGES[key] = _task_page(f"http://{host}", job, count, size, start)
    await _answer(send, 200, body)


def _task_page(origin: str, job: str, count: int, size: int, start: int) -> bytes:
    end = min(count, start + size)
    page: dict[str, Any] = {
        "odata.metadata": f"{origin}/$metadata#tasks",
        "value": [_completed_task(origin, job, number) for number in range(start, end)],
    }
    if end < count:
        page["odata.nextLink"] = (
            f"{origin}/jobs/{quote(job)}/tasks?api-version={_API_VERSION}&maxresults={size}"
            f"&$skiptoken=task-{end}"
        )
    return orjson.dumps(page)


def _completed_task(origin: str, job: str, number: int) -> dict[str, Any]:
    """A task as the service returns it once it has completed (no statistics: those need ``$expand``)."""
    task_id = f"task-{number}"
    node = f"tvmps_{number % 16:04d}a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2_d"
    return {
        "id": task_id,
        "url": f"{origin}/jobs/{job}/tasks/{task_id}",
        "eTag": "0x8DC9B2F8F1E5A3C",
        "creationTime": "2024-07-01T10:15:30.1234567Z",
        "lastModified": "2024-07-01T10:15:30.1234567Z",
        "state": "completed",
        "stateTransitionTime": "2024-07-01T10:16:42.7654321Z",
        "previousState": "running",
        "previousStateTransitionTime": "2024-07-01T10:16:31.2345678Z",
        "commandLine": f"/bin/bash -c 'echo task {number}; sleep 10'",
        "userIdentity": {"autoUser": {"scope": "pool", "elevationLevel": "nonadmin"}},
        "constraints": {
            "maxWallClockTime": "P10675199DT2H48M5.4775807S",
            "retentionTime": "P7D",
            "maxTaskRetryCount": 0,
        },
        "requiredSlots": 1,
        "executionInfo": {
            "startTime": "2024-07-01T10:16:31.2345678Z",
            "endTime": "2024-07-01T10:16:42.7654321Z",
            "exitCode": number % 3,
            "retryCount": 0,
            "requeueCount": 0,
            "result": "success" if number % 3 == 0 else "failure",
        },
        "nodeInfo": {
            "affinityId": f"TVM:{node}",
            "nodeUrl": f"{origin}/pools/pool-bench/nodes/{node}",
            "poolId": "pool-bench",
            "nodeId": node,
            "taskRootDirectory": f"workitems/{job}/job-1/{task_id}",
            "taskRootDirectoryUrl": f"{origin}/pools/pool-bench/nodes/{node}/files/workitems/{job}/job-1/"
            + task_id,
        },
    }


async def _answer(send: Send, status: int, body: bytes) -> None:
    headers = [*_HEADERS, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
