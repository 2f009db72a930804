"""What tracing costs per call: batchaio's pipeline with OpenTelemetry absent, present but off, and recording.

Run from the repository root (needs ``opentelemetry-sdk``, part of the ``test`` extra):
``.venv/bin/python -m benchmarks.bench_tracing [--calls 2000] [--rounds 5]``

The local uvicorn server of ``bench_transport`` (a subprocess: its CPU is not counted) answers the same
sequential ``tasks.get`` calls for every variant; the figure is the client process CPU per call, best of the
rounds, the variants taking turns within each round:

- ``absent``: batchaio behaves as if ``opentelemetry`` were not installed (the check it makes at import);
- ``off``: ``opentelemetry-api`` installed, no tracer provider set (the usual case without tracing);
- ``on``: an SDK tracer provider with a simple processor into an in-memory exporter: two spans per call.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from batchaio import BatchClient, SharedKeyCredential, _tracing
from benchmarks.bench_transport import ACCOUNT, KEY, start_server

EXPORTER = InMemorySpanExporter()
PROVIDER = TracerProvider()
PROVIDER.add_span_processor(SimpleSpanProcessor(EXPORTER))


def absent() -> None:
    _tracing._OTEL_INSTALLED = False  # type: ignore[misc]
    trace._TRACER_PROVIDER = None  # type: ignore[attr-defined]


def off() -> None:
    _tracing._OTEL_INSTALLED = True  # type: ignore[misc]
    trace._TRACER_PROVIDER = None  # type: ignore[attr-defined]


def on() -> None:
    _tracing._OTEL_INSTALLED = True  # type: ignore[misc]
    trace._TRACER_PROVIDER = PROVIDER  # type: ignore[attr-defined]


VARIANTS: dict[str, Callable[[], None]] = {"absent": absent, "off": off, "on": on}


async def per_call(client: BatchClient, calls: int) -> float:
    """Client CPU seconds per ``tasks.get``."""
    EXPORTER.clear()
    started = time.process_time()
    for _ in range(calls):
        await client.tasks.get("j1", "task-1")
    return (time.process_time() - started) / calls


async def run(base: str, calls: int, rounds: int) -> dict[str, float]:
    best = {name: float("inf") for name in VARIANTS}
    credential = SharedKeyCredential(ACCOUNT, KEY)
    async with BatchClient(base, credential, allow_insecure_http=True) as client:
        await per_call(client, 50)  # warm the connection and the caches
        for _ in range(rounds):
            for name, select in VARIANTS.items():
                select()
                best[name] = min(best[name], await per_call(client, calls))
    off()
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args()
    server, base = start_server()
    try:
        best = asyncio.run(run(base, options.calls, options.rounds))
    finally:
        server.terminate()
        server.wait()
    reference = best["absent"]
    print(f"{'variant':<8} {'us/call':>9} {'vs absent':>10}")
    for name, seconds in best.items():
        print(f"{name:<8} {seconds * 1e6:9.1f} {seconds / reference:9.2f}x")


if __name__ == "__main__":
    main()
