"""CPU cost per call of batchaio's request pipeline against raw httpx (and aiohttp), same local server.

Run from the repository root:
``.venv/bin/python -m benchmarks.bench_transport [--calls 2000] [--rounds 3] [--profile]``

A tiny raw ASGI app runs under uvicorn in a subprocess on a free 127.0.0.1 port, so the server's CPU is not
counted. Each variant makes the same sequential GETs returning a small JSON body; the figure is client process
CPU (``time.process_time``) per call, best of the rounds. The last variant runs the pipeline over an in-memory
transport that answers after one event-loop turn: the pipeline's own cost, with no HTTP library at all.
``--profile`` prints cProfile's top entries for the batchaio pipeline.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from email.utils import formatdate
from pathlib import Path
from typing import Any

import httpx

from batchaio import BatchClient, SharedKeyCredential
from batchaio._transport import BatchRequest
from batchaio.auth import shared_key_signature

KEY = "YmF0Y2hhaW8tZml4ZWQtdGVzdC1rZXktMDEyMzQ1Njc4OQ=="
ACCOUNT = "benchaccount"
BODY = (
    b'{"odata.metadata":"x","id":"task-1","url":"http://127.0.0.1/jobs/j1/tasks/task-1","eTag":"0x8DC9B2F8F1E5A3C",'
    b'"state":"active","commandLine":"/bin/sh -c \'echo hello\'",'
    b'"creationTime":"2024-07-01T10:15:30.1234567Z"}'
)

# --- server (subprocess) ------------------------------------------------------------------------------------


async def app(scope: dict, receive: Callable, send: Callable) -> None:  # type: ignore[type-arg]
    if scope["type"] != "http":
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json; odata=minimalmetadata"),
                (b"request-id", b"00000000-1111-2222-3333-444444444444"),
                (b"etag", b"0x8DC9B2F8F1E5A3C"),
                (b"last-modified", b"Mon, 01 Jul 2024 10:15:30 GMT"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": BODY})


def serve(port: int) -> None:
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, http="h11")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    root = Path(__file__).resolve().parent.parent
    process = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.bench_transport", "--serve", str(port)], cwd=root
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("the benchmark server did not start")


# --- client variants ----------------------------------------------------------------------------------------


def standard_headers() -> dict[str, str]:
    return {
        "accept": "application/json",
        "client-request-id": str(uuid.uuid4()),
        "return-client-request-id": "true",
        "ocp-date": formatdate(usegmt=True),
    }


async def httpx_raw(base: str, calls: int) -> float:
    async with httpx.AsyncClient() as client:
        url = f"{base}/jobs/j1/tasks/task-1?api-version=2024-07-01.20.0"

        async def one() -> None:
            response = await client.get(url, headers=standard_headers())
            response.json()

        return await measure(one, calls)


async def httpx_signed(base: str, calls: int) -> float:
    async with httpx.AsyncClient() as client:
        url = f"{base}/jobs/j1/tasks/task-1?api-version=2024-07-01.20.0"

        async def one() -> None:
            request = client.build_request("GET", url, headers=standard_headers())
            request.headers["authorization"] = shared_key_signature(
                "GET", str(request.url), request.headers, ACCOUNT, KEY
            )
            response = await client.send(request)
            response.json()

        return await measure(one, calls)


async def aiohttp_raw(base: str, calls: int) -> float:
    import aiohttp
    import orjson

    async with aiohttp.ClientSession() as session:
        url = f"{base}/jobs/j1/tasks/task-1?api-version=2024-07-01.20.0"

        async def one() -> None:
            async with session.get(url, headers=standard_headers()) as response:
                orjson.loads(await response.read())

        return await measure(one, calls)


async def aiohttp_signed(base: str, calls: int) -> float:
    import aiohttp
    import orjson

    async with aiohttp.ClientSession() as session:
        url = f"{base}/jobs/j1/tasks/task-1?api-version=2024-07-01.20.0"

        async def one() -> None:
            headers = standard_headers()
            headers["authorization"] = shared_key_signature("GET", url, headers, ACCOUNT, KEY)
            async with session.get(url, headers=headers) as response:
                orjson.loads(await response.read())

        return await measure(one, calls)


class _Answer:
    """What :class:`InMemoryTransport` returns: the server's answer, without a socket."""

    status_code = 200
    content = BODY

    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = headers

    async def aclose(self) -> None:
        return None


class InMemoryTransport:
    """A transport answering every request with the bench server's body after one event-loop turn (as a
    real send suspends at least once), so the pipeline's own CPU per call is measured apart from HTTP."""

    is_closed = False

    def __init__(self) -> None:
        self._headers = {
            "content-type": "application/json; odata=minimalmetadata",
            "request-id": "00000000-1111-2222-3333-444444444444",
            "etag": "0x8DC9B2F8F1E5A3C",
            "last-modified": "Mon, 01 Jul 2024 10:15:30 GMT",
        }

    async def send(self, request: Any, *, stream: bool, deadline: float | None) -> _Answer:
        await asyncio.sleep(0)
        return _Answer(self._headers)

    async def aclose(self) -> None:
        return None


def batchaio_variant(
    transport_factory: Callable[[], Any],
) -> Callable[..., Awaitable[float]]:
    async def run(base: str, calls: int, profile: bool = False) -> float:
        async with BatchClient(
            base,
            SharedKeyCredential(ACCOUNT, KEY),
            allow_insecure_http=True,
            transport=transport_factory(),
        ) as client:
            request = BatchRequest("Tasks_GetTask", "GET", "/jobs/j1/tasks/task-1")

            async def one() -> None:
                response = await client._pipeline.send(request)
                response.json()

            return await measure(one, calls, profile=profile)

    return run


async def measure(one: Callable[[], Awaitable[None]], calls: int, *, profile: bool = False) -> float:
    for _ in range(min(200, calls)):
        await one()
    profiler = cProfile.Profile() if profile else None
    if profiler is not None:
        profiler.enable()
    started = time.process_time()
    for _ in range(calls):
        await one()
    elapsed = time.process_time() - started
    if profiler is not None:
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(18)
        print(out.getvalue())
    return elapsed / calls * 1e6


RATIOS = [
    ("batchaio(httpx) / httpx raw", "batchaio pipeline (httpx)", "httpx raw (no signing)"),
    ("batchaio(httpx) / httpx raw + Shared Key", "batchaio pipeline (httpx)", "httpx raw + Shared Key"),
    (
        "batchaio(aiohttp) / aiohttp raw + orjson",
        "batchaio pipeline (AiohttpTransport)",
        "aiohttp raw + orjson (no signing)",
    ),
    (
        "batchaio(aiohttp) / aiohttp raw + Shared Key",
        "batchaio pipeline (AiohttpTransport)",
        "aiohttp raw + orjson + Shared Key",
    ),
    (
        "batchaio(aiohttp) / batchaio(httpx)",
        "batchaio pipeline (AiohttpTransport)",
        "batchaio pipeline (httpx)",
    ),
]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return

    from batchaio.transports import AiohttpTransport

    variants: dict[str, Callable[..., Awaitable[float]]] = {
        "httpx raw (no signing)": httpx_raw,
        "httpx raw + Shared Key": httpx_signed,
        "batchaio pipeline (httpx)": batchaio_variant(lambda: None),
        "aiohttp raw + orjson (no signing)": aiohttp_raw,
        "aiohttp raw + orjson + Shared Key": aiohttp_signed,
        "batchaio pipeline (AiohttpTransport)": batchaio_variant(AiohttpTransport),
        "batchaio pipeline alone (in-memory transport)": batchaio_variant(InMemoryTransport),
    }
    process, base = start_server()
    try:
        runs: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(args.rounds):
            for name, variant in variants.items():
                runs[name].append(asyncio.run(variant(base, args.calls)))
        print(f"{args.calls} sequential GETs per variant, client CPU per call (best of {args.rounds} rounds)")
        for name, values in runs.items():
            print(f"  {name:44s} {min(values):8.1f} us")
        print("Ratios, the median over rounds of the ratio within each round (the machine's speed drifts):")
        for label, ours, reference in RATIOS:
            ratio = statistics.median(a / b for a, b in zip(runs[ours], runs[reference], strict=True))
            print(f"  {label:46s} {ratio:8.3f}")
        if args.profile:
            print("cProfile of the batchaio pipeline (httpx), sorted by own time:")
            asyncio.run(batchaio_variant(lambda: None)(base, args.calls, profile=True))
            print("cProfile of the batchaio pipeline (AiohttpTransport), sorted by own time:")
            asyncio.run(batchaio_variant(AiohttpTransport)(base, args.calls, profile=True))
    finally:
        process.terminate()
        process.wait(timeout=10)


if __name__ == "__main__":
    main()
