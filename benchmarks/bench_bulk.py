"""Bulk task submission, side by side: batchaio, Microsoft's azure-batch 15.0.0b2 (async), and two raw floors.

One command runs everything against one local server (``_bench_server.py``, uvicorn on 127.0.0.1, in its own
process) and prints a table::

    .venv/bin/python benchmarks/bench_bulk.py            # 20,000 tasks x 3 runs, then the memory runs
    .venv/bin/python benchmarks/bench_bulk.py --quick    # smaller memory runs
    .venv/bin/python benchmarks/bench_bulk.py --skip-memory --repeat 9 --clients floor,batchaio   # quick CPU

Each measurement runs in a fresh subprocess (``--worker``), so imports, caches and memory are never shared:

- CPU: ``time.process_time()`` of the client process around the submission of ``--tasks`` tasks at
  ``--concurrency``, after a warm-up of one request per connection. Task objects are built from a generator
  inside the measured region (users pay for that too); the floors (raw httpx + orjson, raw aiohttp + orjson)
  post JSON bodies prebuilt before it.
- Memory: peak RSS (``getrusage`` ``ru_maxrss``) of a fresh process submitting ``--rss-tasks`` tasks from a
  generator; azure-batch's ``create_tasks`` takes a list, built from the same generator
  (``--azure-rss-tasks``).

Needs the ``benchmark`` extra: ``pip install -e '.[benchmark]'`` (azure-batch is a pre-release: ``--pre``).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import importlib
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
JOB = "job-bench"
KEY = base64.b64encode(b"benchmark-key-not-a-secret-0123").decode()
WARM_UP_TASKS = 800
MEMORY_CLIENTS = ("batchaio", "azure-batch")  # the others' memory is not measured
CLIENTS = (
    "floor",
    "floor-aiohttp",
    "batchaio",
    "batchaio-aiohttp",
    "batchaio-aiohttp-prebuilt",
    "azure-batch",
    "engine",
)


def task_fields(count: int, prefix: str = "task") -> Iterator[tuple[str, str]]:
    for number in range(count):
        yield f"{prefix}-{number}", f"/bin/bash -c 'echo task {number}; sleep 1'"


# --- workers: one measurement per process ------------------------------------------------------------------


def floor_bodies(count: int, prefix: str) -> list[bytes]:
    """The floor's request bodies, built before its measurement starts."""
    import orjson

    fields = list(task_fields(count, prefix))
    return [
        orjson.dumps({"value": [{"id": i, "commandLine": c} for i, c in fields[start : start + 100]]})
        for start in range(0, len(fields), 100)
    ]


async def floor_run(url: str, bodies: list[bytes], concurrency: int) -> int:
    """Raw httpx + orjson: prebuilt bodies posted by ``concurrency`` coroutines; results checked."""
    import httpx
    import orjson

    created = 0
    params = {"api-version": "2024-07-01.20.0"}
    headers = {"content-type": "application/json; odata=minimalmetadata"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits) as http:
        source = iter(bodies)

        async def worker() -> None:
            nonlocal created
            for body in source:
                response = await http.post(
                    f"/jobs/{JOB}/addtaskcollection", content=body, params=params, headers=headers
                )
                response.raise_for_status()
                created += sum(1 for r in orjson.loads(response.content)["value"] if r["status"] == "Success")

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return created


async def floor_aiohttp_run(url: str, bodies: list[bytes], concurrency: int) -> int:
    """Raw aiohttp + orjson: prebuilt bodies posted by ``concurrency`` coroutines; results checked."""
    import aiohttp
    import orjson

    created = 0
    params = {"api-version": "2024-07-01.20.0"}
    headers = {"content-type": "application/json; odata=minimalmetadata"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(base_url=url, connector=connector) as http:
        source = iter(bodies)

        async def worker() -> None:
            nonlocal created
            for body in source:
                async with http.post(
                    f"/jobs/{JOB}/addtaskcollection", data=body, params=params, headers=headers
                ) as response:
                    response.raise_for_status()
                    content = await response.read()
                created += sum(1 for r in orjson.loads(content)["value"] if r["status"] == "Success")

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return created


def batchaio_models(count: int, prefix: str) -> list[Any]:
    """The task models of ``batchaio-aiohttp-prebuilt``, built before its measurement starts."""
    from batchaio.models import BatchTaskCreateContent

    return [BatchTaskCreateContent(id=i, command_line=c) for i, c in task_fields(count, prefix)]


async def batchaio_run(
    url: str,
    count: int,
    concurrency: int,
    prefix: str,
    *,
    aiohttp: bool = False,
    prebuilt: list[Any] | None = None,
) -> int:
    """batchaio: ``client.tasks.add_many`` over a generator of models (httpx, or its aiohttp transport), or
    over models built before the measurement (``prebuilt``, like the floors' prebuilt JSON)."""
    from batchaio import BatchClient, SharedKeyCredential
    from batchaio.models import BatchTaskCreateContent
    from batchaio.transports import AiohttpTransport

    tasks = (
        iter(prebuilt)
        if prebuilt is not None
        else (BatchTaskCreateContent(id=i, command_line=c) for i, c in task_fields(count, prefix))
    )
    transport = AiohttpTransport() if aiohttp else None
    credential = SharedKeyCredential("bench", KEY)
    async with BatchClient(url, credential, allow_insecure_http=True, transport=transport) as client:
        report = await client.tasks.add_many(JOB, tasks, concurrency=concurrency)
    return report.created


async def azure_run(url: str, count: int, concurrency: int, prefix: str) -> int:
    """azure-batch 15.0.0b2: ``create_tasks`` over a list of models (it takes a list)."""
    from azure.batch import models
    from azure.batch.aio import BatchClient
    from azure.core.credentials import AzureNamedKeyCredential

    tasks = [models.BatchTaskCreateContent(id=i, command_line=c) for i, c in task_fields(count, prefix)]
    async with BatchClient(endpoint=url, credential=AzureNamedKeyCredential("bench", KEY)) as client:
        result = await client.create_tasks(JOB, tasks, concurrency)
    return sum(1 for r in result.value if str(r.status).lower() == "success")


def engine_answers(count: int, prefix: str) -> dict[bytes, bytes]:
    """The bench server's answers, by the first task ID of each request body, built before the measurement."""
    import orjson

    answers = {}
    for start in range(0, count, 100):
        ids = [f"{prefix}-{n}" for n in range(start, min(start + 100, count))]
        results = [{"status": "Success", "taskId": i, "eTag": "0x1", "location": f"/tasks/{i}"} for i in ids]
        answers[ids[0].encode()] = orjson.dumps({"value": results})
    return answers


async def engine_run(answers: dict[bytes, bytes], count: int, concurrency: int, prefix: str) -> int:
    """The bulk engine alone: ``add_many`` over a generator of models, each chunk answered from memory (no
    HTTP, no signing), so its CPU is the engine's own (reading, checking, encoding, bookkeeping)."""
    from batchaio import _bulk
    from batchaio._bulk_options import BulkOptions
    from batchaio.models import BatchTaskCreateContent

    async def send(body: bytes) -> bytes:
        first = body[17 : body.index(b'"', 17)]  # {"value":[{"id":"<first id>"
        await asyncio.sleep(0)
        return answers[first]

    tasks = (BatchTaskCreateContent(id=i, command_line=c) for i, c in task_fields(count, prefix))
    report = await _bulk.add_many(send, tasks, BulkOptions(concurrency=concurrency))
    return report.created


def prepare(client: str, url: str, count: int, concurrency: int, prefix: str) -> Callable[[], Awaitable[int]]:
    """What one measured run does; the floor's bodies are built here, outside the measurement."""
    if client == "floor":
        bodies = floor_bodies(count, prefix)
        return lambda: floor_run(url, bodies, concurrency)
    if client == "floor-aiohttp":
        aiohttp_bodies = floor_bodies(count, prefix)
        return lambda: floor_aiohttp_run(url, aiohttp_bodies, concurrency)
    if client == "engine":
        answers = engine_answers(count, prefix)
        return lambda: engine_run(answers, count, concurrency, prefix)
    if client == "batchaio-aiohttp":
        return lambda: batchaio_run(url, count, concurrency, prefix, aiohttp=True)
    if client == "batchaio-aiohttp-prebuilt":
        models = batchaio_models(count, prefix)
        return lambda: batchaio_run(url, count, concurrency, prefix, aiohttp=True, prebuilt=models)
    runner = batchaio_run if client == "batchaio" else azure_run
    return lambda: runner(url, count, concurrency, prefix)


IMPORTS = {
    "floor": ("httpx", "orjson"),
    "floor-aiohttp": ("aiohttp", "orjson"),
    "batchaio": ("batchaio", "batchaio.models"),
    "batchaio-aiohttp": ("batchaio", "batchaio.models", "batchaio.transports", "aiohttp"),
    "batchaio-aiohttp-prebuilt": ("batchaio", "batchaio.models", "batchaio.transports", "aiohttp"),
    "azure-batch": ("azure.batch.aio", "azure.batch.models", "aiohttp"),
    "engine": ("batchaio", "batchaio.models"),
}


def worker_main(args: argparse.Namespace) -> None:
    for module in IMPORTS[args.worker]:
        importlib.import_module(module)
    baseline_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if args.mode == "cpu":
        asyncio.run(
            prepare(args.worker, args.url, min(WARM_UP_TASKS, args.tasks), args.concurrency, "warm")()
        )
    run = prepare(args.worker, args.url, args.tasks, args.concurrency, "task")
    cpu_start, wall_start = time.process_time(), time.perf_counter()
    created = asyncio.run(run())
    cpu, wall = time.process_time() - cpu_start, time.perf_counter() - wall_start
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "client": args.worker,
                "tasks": args.tasks,
                "created": created,
                "cpu": cpu,
                "wall": wall,
                "baseline_mb": baseline_kb / 1024,
                "peak_mb": peak_kb / 1024,
            }
        )
    )


# --- orchestration ----------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    server = subprocess.Popen([sys.executable, str(HERE / "_bench_server.py"), str(port)])
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return server, url
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit("the benchmark server did not start")


def measure(client: str, url: str, tasks: int, concurrency: int, mode: str) -> dict[str, Any]:
    command = [
        sys.executable,
        __file__,
        "--worker",
        client,
        "--url",
        url,
        "--tasks",
        str(tasks),
        "--concurrency",
        str(concurrency),
        "--mode",
        mode,
    ]
    path = os.pathsep.join(filter(None, [str(HERE.parent), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONPATH": path}
    out = subprocess.run(command, check=True, capture_output=True, text=True, env=env).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    if result["created"] != tasks:
        raise SystemExit(f"{client}: created {result['created']} of {tasks} tasks")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rss-tasks", type=int, default=1_000_000)
    parser.add_argument("--azure-rss-tasks", type=int, default=200_000)
    parser.add_argument("--quick", action="store_true", help="memory runs with 100,000 / 50,000 tasks")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-cpu", action="store_true")
    parser.add_argument("--clients", default=",".join(CLIENTS))
    parser.add_argument("--worker", choices=CLIENTS, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=("cpu", "rss"), default="cpu", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker_main(args)
        return
    if args.quick:
        args.rss_tasks, args.azure_rss_tasks = 100_000, 50_000
    clients = [name for name in args.clients.split(",") if name]

    server, url = start_server()
    try:
        cpu: dict[str, list[dict[str, Any]]] = {name: [] for name in clients}
        for _ in range(0 if args.skip_cpu else args.repeat):
            for name in clients:
                cpu[name].append(measure(name, url, args.tasks, args.concurrency, "cpu"))
        memory: dict[str, dict[str, Any]] = {}
        if not args.skip_memory:
            for name in clients:
                if name not in MEMORY_CLIENTS:
                    continue
                count = args.azure_rss_tasks if name == "azure-batch" else args.rss_tasks
                memory[name] = measure(name, url, count, args.concurrency, "rss")
    finally:
        server.terminate()
        server.wait()

    print_cpu(cpu, args.tasks, args.concurrency, args.repeat)
    print_memory(memory)


def print_cpu(cpu: dict[str, list[dict[str, Any]]], tasks: int, concurrency: int, repeat: int) -> None:
    """The CPU table: per client the median us/task, its spread, the ratios to the references, wall time."""
    per_task = {
        name: statistics.median(r["cpu"] for r in runs) / tasks * 1e6 for name, runs in cpu.items() if runs
    }
    if not per_task:
        return
    print(
        f"\nSubmit {tasks:,} tasks at concurrency {concurrency} (median of {repeat} runs; "
        "ratios: median of the ratios within each round)"
    )
    header = f"{'client':<25} {'CPU us/task':>12} {'min-max':>11} {'vs httpx':>9} {'vs aiohttp':>10}"
    print(f"{header} {'vs azure':>9} {'wall s':>8}")
    for name, value in per_task.items():
        runs = [r["cpu"] / tasks * 1e6 for r in cpu[name]]
        spread = f"{min(runs):.1f}-{max(runs):.1f}"
        wall = statistics.median(r["wall"] for r in cpu[name])
        ratios = [
            f"{round_ratio(cpu[name], cpu[reference]):.2f}x" if reference in per_task else "-"
            for reference in ("floor", "floor-aiohttp", "azure-batch")
        ]
        columns = f"{ratios[0]:>9} {ratios[1]:>10} {ratios[2]:>9}"
        print(f"{name:<25} {value:>12.1f} {spread:>11} {columns} {wall:>8.2f}")


def round_ratio(runs: list[dict[str, Any]], reference: list[dict[str, Any]]) -> float:
    """The median over rounds of the ratio to ``reference`` measured in the same round: on a machine whose
    speed drifts, each round's pair was taken moments apart."""
    return statistics.median(run["cpu"] / ref["cpu"] for run, ref in zip(runs, reference, strict=True))


def print_memory(memory: dict[str, dict[str, Any]]) -> None:
    if memory:
        print("\nPeak RSS submitting tasks from a generator (fresh process)")
        print(f"{'client':<17} {'tasks':>10} {'peak MB':>9} {'after imports MB':>17} {'wall s':>8}")
        for name, result in memory.items():
            print(
                f"{name:<17} {result['tasks']:>10,} {result['peak_mb']:>9.1f} "
                f"{result['baseline_mb']:>17.1f} {result['wall']:>8.1f}"
            )


if __name__ == "__main__":
    main()
