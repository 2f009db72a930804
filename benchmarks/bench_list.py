"""Task listing, side by side: batchaio, Microsoft's azure-batch 15.0.0b2 (async), and a raw floor.

One command runs everything against one local server (``_bench_server.py``, uvicorn on 127.0.0.1, in its own
process) and prints a table::

    .venv/bin/python benchmarks/bench_list.py                      # 20,000 tasks, median of 3 runs
    .venv/bin/python benchmarks/bench_list.py --repeat 7 --clients floor,batchaio

Each measurement runs in a fresh subprocess (``--worker``), so imports and caches are never shared. It lists
a job of ``--tasks`` completed tasks, ``--page-size`` per page, following ``odata.nextLink`` to the end, and
reads a nested field of every task (``execution_info.exit_code``; the floor reads ``executionInfo.exitCode``
from the decoded dicts). The figure is ``time.process_time()`` of the client process around the listing,
after a warm-up listing of another job (``WARM_UP_TASKS``, two pages). Every run checks the task count and the
sum of exit codes.

Needs the ``benchmark`` extra: ``pip install -e '.[benchmark]'`` (azure-batch is a pre-release: ``--pre``).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench_bulk import KEY, start_server

HERE = Path(__file__).resolve().parent
WARM_UP_TASKS = 2_000
CLIENTS = ("floor", "batchaio", "batchaio-aiohttp", "azure-batch")
API_VERSION = "2024-07-01.20.0"

# A listing's result: (tasks seen, sum of their exit codes).
Listed = tuple[int, int]


def job_id(kind: str, count: int) -> str:
    """The server lists ``count`` tasks for a job whose id ends in ``-{count}``."""
    return f"{kind}-list-{count}"


def expected(count: int) -> Listed:
    return count, sum(number % 3 for number in range(count))


# --- workers: one measurement per process ------------------------------------------------------------------


async def floor_run(url: str, job: str, page_size: int) -> Listed:
    """Raw httpx + orjson: no models, no signing; next links followed as given."""
    import httpx
    import orjson

    seen = exit_codes = 0
    async with httpx.AsyncClient(base_url=url) as http:
        response = await http.get(
            f"/jobs/{job}/tasks", params={"api-version": API_VERSION, "maxresults": page_size}
        )
        while True:
            response.raise_for_status()
            page = orjson.loads(response.content)
            for task in page["value"]:
                exit_codes += task["executionInfo"]["exitCode"]
                seen += 1
            link = page.get("odata.nextLink")
            if not link:
                return seen, exit_codes
            response = await http.get(link)


async def batchaio_run(url: str, job: str, page_size: int, *, aiohttp: bool = False) -> Listed:
    """batchaio: ``async for task in client.tasks.list(...)`` (httpx, or its aiohttp transport)."""
    from batchaio import BatchClient, SharedKeyCredential
    from batchaio.transports import AiohttpTransport

    seen = exit_codes = 0
    transport = AiohttpTransport() if aiohttp else None
    credential = SharedKeyCredential("bench", KEY)
    async with BatchClient(url, credential, allow_insecure_http=True, transport=transport) as client:
        async for task in client.tasks.list(job, max_results=page_size):
            assert task.execution_info is not None and task.execution_info.exit_code is not None
            exit_codes += task.execution_info.exit_code
            seen += 1
    return seen, exit_codes


async def azure_run(url: str, job: str, page_size: int) -> Listed:
    """azure-batch 15.0.0b2: ``async for task in client.list_tasks(job_id, max_results=...)``."""
    from azure.batch.aio import BatchClient
    from azure.core.credentials import AzureNamedKeyCredential

    seen = exit_codes = 0
    async with BatchClient(endpoint=url, credential=AzureNamedKeyCredential("bench", KEY)) as client:
        async for task in client.list_tasks(job, max_results=page_size):
            assert task.execution_info is not None and task.execution_info.exit_code is not None
            exit_codes += task.execution_info.exit_code
            seen += 1
    return seen, exit_codes


def prepare(client: str, url: str, job: str, page_size: int) -> Callable[[], Awaitable[Listed]]:
    if client == "floor":
        return lambda: floor_run(url, job, page_size)
    if client == "batchaio-aiohttp":
        return lambda: batchaio_run(url, job, page_size, aiohttp=True)
    runner = batchaio_run if client == "batchaio" else azure_run
    return lambda: runner(url, job, page_size)


IMPORTS = {
    "floor": ("httpx", "orjson"),
    "batchaio": ("batchaio", "batchaio.models"),
    "batchaio-aiohttp": ("batchaio", "batchaio.models", "batchaio.transports", "aiohttp"),
    "azure-batch": ("azure.batch.aio", "azure.batch.models", "aiohttp"),
}


def worker_main(args: argparse.Namespace) -> None:
    for module in IMPORTS[args.worker]:
        importlib.import_module(module)
    warm_up = min(WARM_UP_TASKS, args.tasks)
    if asyncio.run(prepare(args.worker, args.url, job_id("warm", warm_up), args.page_size)()) != expected(
        warm_up
    ):
        raise SystemExit(f"{args.worker}: the warm-up listing came back wrong")
    run = prepare(args.worker, args.url, job_id("bench", args.tasks), args.page_size)
    cpu_start, wall_start = time.process_time(), time.perf_counter()
    seen, exit_codes = asyncio.run(run())
    cpu, wall = time.process_time() - cpu_start, time.perf_counter() - wall_start
    print(
        json.dumps({"client": args.worker, "seen": seen, "exit_codes": exit_codes, "cpu": cpu, "wall": wall})
    )


# --- orchestration ----------------------------------------------------------------------------------------


def measure(client: str, url: str, tasks: int, page_size: int) -> dict[str, Any]:
    command = [sys.executable, __file__, "--worker", client, "--url", url]
    command += ["--tasks", str(tasks), "--page-size", str(page_size)]
    path = os.pathsep.join(filter(None, [str(HERE.parent), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONPATH": path}
    out = subprocess.run(command, check=True, capture_output=True, text=True, env=env).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    if (result["seen"], result["exit_codes"]) != expected(tasks):
        raise SystemExit(
            f"{client}: listed {result['seen']} of {tasks} tasks, exit codes {result['exit_codes']}"
        )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--page-size", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--clients", default=",".join(CLIENTS))
    parser.add_argument("--worker", choices=CLIENTS, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker_main(args)
        return
    clients = [name for name in args.clients.split(",") if name]

    server, url = start_server()
    try:
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in clients}
        for _ in range(args.repeat):
            for name in clients:
                runs[name].append(measure(name, url, args.tasks, args.page_size))
    finally:
        server.terminate()
        server.wait()

    per_task = {
        name: statistics.median(r["cpu"] for r in results) / args.tasks * 1e6
        for name, results in runs.items()
    }
    print(
        f"\nList {args.tasks:,} tasks, {args.page_size:,} per page, reading execution_info.exit_code "
        f"(median of {args.repeat} runs)"
    )
    header = f"{'client':<17} {'CPU us/task':>12} {'min-max':>13} {'vs floor':>9} {'vs azure':>9}"
    print(f"{header} {'wall s':>8}")
    for name, value in per_task.items():
        each = [r["cpu"] / args.tasks * 1e6 for r in runs[name]]
        spread = f"{min(each):.1f}-{max(each):.1f}"
        wall = statistics.median(r["wall"] for r in runs[name])
        vs_floor = f"{value / per_task['floor']:.2f}x" if "floor" in per_task else "-"
        vs_azure = f"{value / per_task['azure-batch']:.2f}x" if "azure-batch" in per_task else "-"
        print(f"{name:<17} {value:>12.1f} {spread:>13} {vs_floor:>9} {vs_azure:>9} {wall:>8.2f}")


if __name__ == "__main__":
    main()
