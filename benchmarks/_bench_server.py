"""A minimal, fast stand-in for ``addtaskcollection``, served by uvicorn on 127.0.0.1.

It accepts any credentials, parses the body and answers ``success`` for every task, the way the service does
(``Success``, an ETag, a last-modified time and a location per task). It keeps no state, so it can absorb a
million tasks in constant memory. Run: ``python benchmarks/_bench_server.py PORT``.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

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


async def _answer(send: Send, status: int, body: bytes) -> None:
    headers = [*_HEADERS, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
