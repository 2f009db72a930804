"""Watching a job's completions: ``client.tasks.watch`` against a naive list-every-poll loop, in one run.

::

    .venv/bin/python benchmarks/bench_watch.py                 # 20,000 tasks, poll every 5 s (about 70 s)
    .venv/bin/python benchmarks/bench_watch.py --tasks 2000 --poll-interval 0.25      # a quick look

The emulator runs in its own process (``python -m batchaio.emulator`` on a free loopback port). One job of
``--tasks`` tasks with mixed durations (1, 2, 4, 8 or 12 poll intervals: 5 to 60 s at the default) and exit
codes is submitted with ``add_many`` to a pool of 20,000 slots; then both watchers start at the same moment,
on the same job, with the same poll interval, each with its own client:

- **watch**: ``client.tasks.watch(job_id, poll_interval=P, overlap=P, select=FIELDS)``;
- **naive**: every ``P`` seconds, list every task of the job (``select=FIELDS``, 1,000 per page) and yield
  those newly completed, until all are; what a hand-written loop (or Airflow's trigger) does.

Each client counts, at its transport, the requests it sent and the task bodies it read (items of every
listing response). Both must yield every task exactly once. The watch runs with the default overlap of 5 s
at the default poll interval of 5 s; with another ``--poll-interval`` the overlap follows it.
"""

from __future__ import annotations

import argparse
import base64
import collections
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import orjson

from batchaio import BatchClient, SharedKeyCredential, models

ACCOUNT = "bench"
KEY = base64.b64encode(b"bench-watch-key-" * 2).decode()
FIELDS = ["id", "state", "stateTransitionTime", "executionInfo"]
POOL = "bench-pool"


class CountingTransport(httpx.AsyncBaseTransport):
    """Counts requests and the items of listing responses (task bodies read)."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.requests: collections.Counter[str] = collections.Counter()
        self.bodies = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        kind = request.url.path.rsplit("/", 1)[-1]
        self.requests[kind] += 1
        response = await self._inner.handle_async_request(request)
        content = await response.aread()
        if kind == "tasks" and request.method == "GET" and response.status_code == 200:
            self.bodies += len(orjson.loads(content).get("value", ()))
        return httpx.Response(
            response.status_code, headers=response.headers, content=content, request=request
        )

    async def aclose(self) -> None:
        await self._inner.aclose()


def client(endpoint: str, transport: httpx.AsyncBaseTransport | None = None) -> BatchClient:
    return BatchClient(
        endpoint, SharedKeyCredential(ACCOUNT, KEY), allow_insecure_http=True, transport=transport
    )


async def naive(batch: BatchClient, job_id: str, poll_interval: float, total: int) -> AsyncIterator[str]:
    """List every task every poll; yield each new completion."""
    seen: set[tuple[str, Any]] = set()
    while True:
        completed = 0
        async for task in batch.tasks.list(job_id, select=FIELDS, max_results=1000):
            if task.state == models.BatchTaskState.COMPLETED and task.id is not None:
                completed += 1
                key = (task.id, task.state_transition_time)
                if key not in seen:
                    seen.add(key)
                    yield task.id
        if completed == total:
            return
        await anyio.sleep(poll_interval)


def mixed(n: int, poll_interval: float) -> models.BatchTaskCreateContent:
    seconds = round(poll_interval * (1, 2, 4, 8, 12)[(n * 7) % 5], 3)
    return models.BatchTaskCreateContent(
        id=f"t-{n:06d}", command_line=f"/bin/sh -c 'sleep {seconds}; exit {n % 3}'"
    )


async def run(endpoint: str, tasks: int, poll_interval: float) -> dict[str, Any]:
    async with client(endpoint) as setup:
        await setup.pools.create(
            models.BatchPoolCreateContent(
                id=POOL, vm_size="standard_d2s_v3", target_dedicated_nodes=8, task_slots_per_node=2500
            )
        )
        await setup.jobs.create(
            models.BatchJobCreateContent(id="job", pool_info=models.BatchPoolInfo(pool_id=POOL))
        )
        report = await setup.tasks.add_many(
            "job", (mixed(n, poll_interval) for n in range(tasks)), concurrency=8
        )
        assert report.created == tasks, report

    results: dict[str, Any] = {}

    async def measure(name: str) -> None:
        transport = CountingTransport()
        yielded: collections.Counter[str] = collections.Counter()
        started = time.perf_counter()
        async with client(endpoint, transport) as batch:
            if name == "watch":
                source = batch.tasks.watch(
                    "job", poll_interval=poll_interval, overlap=poll_interval, select=FIELDS
                )
                async for task in source:
                    yielded[task.id or ""] += 1
            else:
                async for task_id in naive(batch, "job", poll_interval, tasks):
                    yielded[task_id] += 1
        assert len(yielded) == tasks and set(yielded.values()) == {1}, (name, len(yielded))
        results[name] = {
            "requests": sum(transport.requests.values()),
            "by_kind": dict(transport.requests),
            "bodies": transport.bodies,
            "wall": time.perf_counter() - started,
        }

    async with anyio.create_task_group() as group:
        group.start_soon(measure, "watch")
        group.start_soon(measure, "naive")
    return results


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_emulator() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "batchaio.emulator",
            "--port",
            str(port),
            "--account",
            ACCOUNT,
            "--key",
            KEY,
            "--log-level",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            httpx.get(endpoint + "/", timeout=0.2)
            return process, endpoint
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("the emulator did not start")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--poll-interval", type=float, default=5.0)
    args = parser.parse_args()
    process, endpoint = start_emulator()
    try:
        results = anyio.run(run, endpoint, args.tasks, args.poll_interval)
    finally:
        process.terminate()
        process.wait(timeout=10)
    watch, loop = results["watch"], results["naive"]
    print(f"{args.tasks:,} tasks, poll interval and overlap {args.poll_interval} s (one run, same job)")
    print(f"{'':8} {'requests':>9} {'task bodies read':>17} {'bodies/task':>12} {'wall s':>7}")
    for name, row in (("watch", watch), ("naive", loop)):
        print(
            f"{name:8} {row['requests']:>9,} {row['bodies']:>17,} {row['bodies'] / args.tasks:>12.2f}"
            f" {row['wall']:>7.1f}   {row['by_kind']}"
        )
    print(
        f"ratios naive/watch: requests {loop['requests'] / watch['requests']:.1f}x, "
        f"task bodies read {loop['bodies'] / watch['bodies']:.1f}x"
    )


if __name__ == "__main__":
    main()
