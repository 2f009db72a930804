"""The batchaio demo: 10,000 tasks through a Batch account, from pool to summary.

Against a local emulator started in this process (needs the ``emulator`` extra), nothing to set up::

    python -m batchaio.demo

Against a real account (Shared Key; the key is never printed)::

    export BATCH_ENDPOINT=https://myaccount.westeurope.batch.azure.com
    export BATCH_ACCOUNT_NAME=myaccount BATCH_ACCOUNT_KEY=...
    python -m batchaio.demo --tasks 100 --pool-id my-existing-pool

Phases, one function each: create a pool (unless ``--pool-id`` names one) and a job; submit the tasks with
``client.tasks.add_many``; wait by polling the job's task counts; stream the task list one page at a time;
download one task's ``stdout.txt``; delete the job and the pool the demo created; print a summary.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import math
import os
import secrets
import sys
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO

from batchaio import BatchaioError, BatchClient, BulkAddReport, SharedKeyCredential, models
from batchaio.errors import NotFoundError

if TYPE_CHECKING:
    from batchaio.emulator import Emulator

__all__ = ["DemoError", "DemoOptions", "DemoSummary", "main", "run_demo"]

# --- What the demo creates: a small Ubuntu 22.04 pool, one job, tasks that echo a line ----------------------
VM_SIZE = "Standard_D2s_v3"
IMAGE = models.ImageReference(
    publisher="canonical", offer="0001-com-ubuntu-server-jammy", sku="22_04-lts", version="latest"
)
NODE_AGENT_SKU = "batch.node.ubuntu 22.04"
TASK_SLOTS_PER_NODE = 4
# The emulator runs tasks within a pool's slots, as the service does; a local pool gets many slots per node
# and short simulated runs so that 10,000 tasks finish in seconds.
EMULATOR_TASK_SLOTS_PER_NODE = 256
EMULATOR_TASK_SECONDS = (0.02, 0.1)
LISTED_PROPERTIES = ["id", "state", "executionInfo"]

# --- Pacing -------------------------------------------------------------------------------------------------
EMULATOR_POLL_SECONDS = 0.2
SERVICE_POLL_SECONDS = 5.0
TTY_REFRESH_SECONDS = 0.1
LOG_LINE_SECONDS = 2.0
EMULATOR_TIMEOUT_SECONDS = 60.0
SERVICE_TIMEOUT_SECONDS = 30 * 60.0


class DemoError(Exception):
    """The demo cannot go on: the tasks did not finish in time, or the pool cannot get its nodes."""


@dataclass
class DemoOptions:
    """The demo's settings; ``endpoint``, ``account`` and ``key`` all ``None`` means the local emulator."""

    tasks: int = 10_000
    concurrency: int = 8
    endpoint: str | None = None
    account: str | None = None
    key: str | None = None
    pool_id: str | None = None
    vm_size: str = VM_SIZE
    nodes: int = 2
    task_slots_per_node: int | None = None
    cleanup: bool = True
    poll_interval: float | None = None
    timeout: float | None = None


@dataclass
class DemoSummary:
    """What a run did: the submission report, task counts, states and exit codes listed, the stdout read,
    seconds per phase, task-count polls, the most tasks seen running at once and (local emulator) requests
    served."""

    tasks: int
    submitted: BulkAddReport | None = None
    completed: int = 0
    succeeded: int = 0
    failed: int = 0
    listed: int = 0
    states: Counter[str] = field(default_factory=Counter)
    exit_codes: Counter[int | None] = field(default_factory=Counter)
    stdout_task: str | None = None
    stdout: str | None = None
    phases: dict[str, float] = field(default_factory=dict)
    polls: int = 0
    peak_running: int = 0
    emulator_requests: int | None = None
    total_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Every task created, completed successfully and listed, and one task's output downloaded."""
        report = self.submitted
        return (
            report is not None
            and report.created + report.existing == self.tasks
            and self.succeeded == self.tasks
            and self.listed == self.tasks
            and self.stdout is not None
        )


@dataclass(frozen=True)
class Target:
    """Where the demo runs: the account endpoint, its credential, and the emulator when it is local."""

    endpoint: str
    credential: SharedKeyCredential
    emulator: Emulator | None = None


class Console:
    """Plain lines, plus one status line: rewritten in place on a terminal, printed every few seconds in
    a log."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.tty = out.isatty()
        self._last_status = -math.inf
        # Whether the terminal's last line is a status line still open (no newline after it).
        self._open = False

    def say(self, text: str) -> None:
        if self._open:  # a line said mid-phase (cleanup after Ctrl-C) goes below the status line
            self.out.write("\n")
            self._open = False
        print(text, file=self.out, flush=True)

    def status(self, text: str, *, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self._last_status < (TTY_REFRESH_SECONDS if self.tty else LOG_LINE_SECONDS):
            return
        # After a phase's final line, the next phase's first status shows at once.
        self._last_status = -math.inf if final else now
        if self.tty:
            self.out.write(f"\r\x1b[2K{text}" + ("\n" if final else ""))
            self.out.flush()
            self._open = not final
        else:
            self.say(text)


# --- The phases ---------------------------------------------------------------------------------------------


async def create_pool(client: BatchClient, options: DemoOptions, slots: int, console: Console) -> str:
    pool_id = f"batchaio-demo-pool-{_stamp()}"
    await client.pools.create(
        models.BatchPoolCreateContent(
            id=pool_id,
            vm_size=options.vm_size,
            virtual_machine_configuration=models.VirtualMachineConfiguration(
                image_reference=IMAGE, node_agent_sku_id=NODE_AGENT_SKU
            ),
            target_dedicated_nodes=options.nodes,
            task_slots_per_node=slots,
        )
    )
    console.say(
        f"[pool]    created pool {pool_id} ({options.vm_size}, {options.nodes} dedicated nodes, "
        f"{slots} task slots each)"
    )
    return pool_id


async def create_job(client: BatchClient, pool_id: str, console: Console) -> str:
    job_id = f"batchaio-demo-job-{_stamp()}"
    await client.jobs.create(
        models.BatchJobCreateContent(id=job_id, pool_info=models.BatchPoolInfo(pool_id=pool_id))
    )
    console.say(f"[job]     created job {job_id} on pool {pool_id}")
    return job_id


def task_id(number: int) -> str:
    return f"task-{number:05d}"


def make_tasks(count: int) -> Iterator[models.BatchTaskCreateContent]:
    """The tasks, made lazily: ``add_many`` reads them as it goes."""
    for number in range(count):
        yield models.BatchTaskCreateContent(
            id=task_id(number), command_line=f"/bin/sh -c 'echo Hello from {task_id(number)}'"
        )


async def submit_tasks(
    client: BatchClient, job_id: str, options: DemoOptions, console: Console
) -> BulkAddReport:
    started = time.perf_counter()

    def show(report: BulkAddReport, *, final: bool = False) -> None:
        rate = report.total / max(time.perf_counter() - started, 1e-9)
        console.status(
            f"[submit]  {report.total:,}/{options.tasks:,}  created {report.created:,}  "
            f"existing {report.existing:,}  failed {report.failed:,}  {rate:,.0f} tasks/s",
            final=final,
        )

    report = await client.tasks.add_many(
        job_id, make_tasks(options.tasks), concurrency=options.concurrency, progress=show
    )
    show(report, final=True)
    for failure in report.failures[:5]:
        console.say(f"          {failure.task_id}: {failure.code} {failure.message}")
    return report


async def wait_for_tasks(
    client: BatchClient,
    job_id: str,
    pool_id: str,
    expected: int,
    interval: float,
    timeout: float,
    summary: DemoSummary,
    console: Console,
) -> None:
    """Poll the job's task counts (one small request) until every task has completed.

    Raises ``DemoError`` after ``timeout`` seconds, or as soon as the pool reports resize errors before any
    task has completed (a real pool that cannot get nodes would otherwise keep the demo waiting until then).
    """
    deadline = time.monotonic() + timeout
    while True:
        counts = (await client.jobs.get_task_counts(job_id)).task_counts or models.BatchTaskCounts()
        summary.polls += 1
        summary.completed = counts.completed or 0
        summary.succeeded = counts.succeeded or 0
        summary.failed = counts.failed or 0
        summary.peak_running = max(summary.peak_running, counts.running or 0)
        done = summary.completed >= expected
        console.status(
            f"[wait]    active {counts.active or 0:,}  running {counts.running or 0:,}  "
            f"completed {summary.completed:,} (succeeded {summary.succeeded:,}, failed {summary.failed:,})",
            final=done,
        )
        if done:
            return
        if not summary.completed:
            pool = await _pool_or_none(client, pool_id)
            if pool is not None and pool.resize_errors:
                errors = "; ".join(f"{error.code}: {error.message}" for error in pool.resize_errors)
                raise DemoError(f"pool {pool_id} cannot get its nodes ({errors})")
        if time.monotonic() >= deadline:
            raise DemoError(
                f"{expected - summary.completed:,} tasks still not completed after {timeout:g} s "
                "(raise --timeout, or check the pool's nodes)"
            )
        await asyncio.sleep(interval)


async def tally_tasks(client: BatchClient, job_id: str, summary: DemoSummary, console: Console) -> None:
    """Stream the task list, one page in memory at a time, counting states and exit codes."""
    async for task in client.tasks.list(job_id, select=LISTED_PROPERTIES):
        summary.listed += 1
        summary.states[task.state.value if task.state is not None else "unknown"] += 1
        exit_code = task.execution_info.exit_code if task.execution_info is not None else None
        summary.exit_codes[exit_code] += 1
        if summary.stdout_task is None and exit_code == 0:
            summary.stdout_task = task.id
    states = ", ".join(f"{state} {count:,}" for state, count in summary.states.most_common())
    codes = ", ".join(f"{code}: {count:,}" for code, count in summary.exit_codes.most_common())
    console.say(f"[list]    {summary.listed:,} tasks: {states}; exit codes {codes}")


async def show_stdout(
    client: BatchClient, job_id: str, task: str, summary: DemoSummary, console: Console
) -> None:
    async with client.tasks.download_file(job_id, task, "stdout.txt") as stream:
        content = await stream.read()
    summary.stdout = content.decode("utf-8", errors="replace")
    console.say(f"[stdout]  {task}/stdout.txt ({len(content)} bytes):")
    for line in summary.stdout.splitlines():
        console.say(f"          | {line}")


async def clean_up(client: BatchClient, job_id: str | None, pool_id: str | None, console: Console) -> None:
    """Delete what the demo created; a failure is reported, never raised (it must not hide the run's own)."""
    for kind, name, delete in (("job", job_id, client.jobs.delete), ("pool", pool_id, client.pools.delete)):
        if name is None:
            continue
        try:
            await delete(name)
        except (BatchaioError, OSError) as err:
            console.say(f"[cleanup] could not delete {kind} {name}: {type(err).__name__}: {err}")
        else:
            console.say(f"[cleanup] deleted {kind} {name}")


# --- Running the phases -------------------------------------------------------------------------------------


async def run_demo(options: DemoOptions, target: Target, console: Console) -> DemoSummary:
    """Run every phase against ``target``; timings and counts go into the returned summary."""
    summary = DemoSummary(tasks=options.tasks)
    local = target.emulator is not None
    interval = options.poll_interval or (EMULATOR_POLL_SECONDS if local else SERVICE_POLL_SECONDS)
    timeout = options.timeout or (EMULATOR_TIMEOUT_SECONDS if local else SERVICE_TIMEOUT_SECONDS)
    slots = options.task_slots_per_node or (EMULATOR_TASK_SLOTS_PER_NODE if local else TASK_SLOTS_PER_NODE)
    started = time.perf_counter()
    created_pool = job_id = None
    async with BatchClient(
        target.endpoint, target.credential, allow_insecure_http=_is_loopback(target.endpoint)
    ) as client:
        try:
            with _phase(summary, "pool"):
                pool_id = options.pool_id or await create_pool(client, options, slots, console)
                created_pool = None if options.pool_id else pool_id
            with _phase(summary, "job"):
                job_id = await create_job(client, pool_id, console)
            with _phase(summary, "submit"):
                summary.submitted = await submit_tasks(client, job_id, options, console)
            expected = summary.submitted.created + summary.submitted.existing
            with _phase(summary, "wait"):
                await wait_for_tasks(client, job_id, pool_id, expected, interval, timeout, summary, console)
            with _phase(summary, "list"):
                await tally_tasks(client, job_id, summary, console)
            if summary.stdout_task is not None:
                with _phase(summary, "stdout"):
                    await show_stdout(client, job_id, summary.stdout_task, summary, console)
        finally:
            if options.cleanup:
                with _phase(summary, "cleanup"):
                    await clean_up(client, job_id, created_pool, console)
    summary.total_seconds = time.perf_counter() - started
    if target.emulator is not None:
        summary.emulator_requests = target.emulator.faults.counts["requests"]
    return summary


def print_summary(summary: DemoSummary, console: Console) -> None:
    report = summary.submitted
    console.say("")
    console.say("Summary")
    if report is not None:
        rate = report.total / report.elapsed if report.elapsed > 0 else 0.0
        console.say(
            f"  tasks      {summary.tasks:,} requested, {report.created:,} created, {report.existing:,} "
            f"existing, {report.failed:,} failed to create ({rate:,.0f} tasks/s)"
        )
    console.say(
        f"  completed  {summary.completed:,} ({summary.succeeded:,} succeeded, {summary.failed:,} failed); "
        f"{summary.listed:,} listed"
    )
    console.say(
        "  phases     " + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in summary.phases.items())
    )
    console.say(f"  total      {summary.total_seconds:.2f} s")
    if report is not None:
        served = (
            f"; the emulator served {summary.emulator_requests:,} in all" if summary.emulator_requests else ""
        )
        console.say(
            f"  requests   submit {report.requests:,} ({report.retries:,} retries), "
            f"task-count polls {summary.polls:,}{served}"
        )
    console.say(f"  running    at most {summary.peak_running:,} tasks seen running at once")
    console.say("  result     " + ("OK" if summary.ok else "FAILED"))


# --- Command line -------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> DemoOptions:
    parser = argparse.ArgumentParser(
        prog="python -m batchaio.demo",
        description="Submit, run, list and clean up thousands of Azure Batch tasks with batchaio. Without an "
        "endpoint it runs against a local emulator started in this process.",
    )
    parser.add_argument("--tasks", type=_positive, default=DemoOptions.tasks, help="tasks to submit (10000)")
    parser.add_argument(
        "--concurrency", type=_positive, default=DemoOptions.concurrency, help="requests in flight (8)"
    )
    parser.add_argument(
        "--endpoint", default=os.environ.get("BATCH_ENDPOINT"), help="account URL [BATCH_ENDPOINT]"
    )
    parser.add_argument(
        "--account", default=os.environ.get("BATCH_ACCOUNT_NAME"), help="account name [BATCH_ACCOUNT_NAME]"
    )
    parser.add_argument(
        "--key",
        default=os.environ.get("BATCH_ACCOUNT_KEY"),
        help="account key; prefer the environment variable [BATCH_ACCOUNT_KEY]",
    )
    parser.add_argument("--pool-id", help="run on this existing pool instead of creating one (never deleted)")
    parser.add_argument("--vm-size", default=VM_SIZE, help=f"VM size of the created pool ({VM_SIZE})")
    parser.add_argument("--nodes", type=_positive, default=DemoOptions.nodes, help="dedicated nodes (2)")
    parser.add_argument(
        "--task-slots",
        type=_positive,
        help=f"task slots per node of the created pool ({EMULATOR_TASK_SLOTS_PER_NODE} local, "
        f"{TASK_SLOTS_PER_NODE} on an account)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the job and pool instead of deleting them")
    parser.add_argument("--poll-interval", type=float, help="seconds between task-count polls")
    parser.add_argument(
        "--timeout",
        type=float,
        help=f"seconds to wait for the tasks ({EMULATOR_TIMEOUT_SECONDS:g} local, "
        f"{SERVICE_TIMEOUT_SECONDS:g} on an account)",
    )
    arguments = parser.parse_args(argv)
    given = [arguments.endpoint, arguments.account, arguments.key]
    if any(given) and not all(given):
        parser.error("a real account needs an endpoint, an account name and a key (options or environment)")
    return DemoOptions(
        tasks=arguments.tasks,
        concurrency=arguments.concurrency,
        endpoint=arguments.endpoint,
        account=arguments.account,
        key=arguments.key,
        pool_id=arguments.pool_id,
        vm_size=arguments.vm_size,
        nodes=arguments.nodes,
        task_slots_per_node=arguments.task_slots,
        cleanup=not arguments.keep,
        poll_interval=arguments.poll_interval,
        timeout=arguments.timeout,
    )


@contextlib.contextmanager
def local_emulator() -> Iterator[Target]:
    """A local emulator served over HTTP on a free loopback port, in a background thread."""
    try:
        from batchaio.emulator import Emulator
    except ImportError as err:
        raise SystemExit(
            f"the local emulator needs the 'emulator' extra: pip install 'batchaio[emulator]' ({err})"
        ) from None
    emulator = Emulator(task_duration=EMULATOR_TASK_SECONDS)
    endpoint = emulator.start()
    try:
        yield Target(endpoint, SharedKeyCredential(emulator.account, emulator.key), emulator)
    finally:
        emulator.close()


@contextlib.contextmanager
def choose_target(options: DemoOptions) -> Iterator[Target]:
    if options.endpoint is None or options.account is None or options.key is None:
        with local_emulator() as target:
            yield target
    else:
        yield Target(options.endpoint, SharedKeyCredential(options.account, options.key))


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the demo from the command line; 0 when every task ran, 1 otherwise."""
    options = parse_args(argv)
    console = Console(out or sys.stdout)
    try:
        with choose_target(options) as target:
            where = "a local emulator" if target.emulator is not None else "the account"
            console.say(
                f"batchaio demo: {options.tasks:,} tasks on {where} at {target.endpoint} "
                f"(account {target.credential.account_name})"
            )
            summary = asyncio.run(run_demo(options, target, console))
    except (BatchaioError, DemoError) as err:
        console.say(f"demo failed: {type(err).__name__}: {err}")
        return 1
    except KeyboardInterrupt:
        console.say("demo interrupted")
        return 130
    print_summary(summary, console)
    return 0 if summary.ok else 1


# --- Helpers ------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _phase(summary: DemoSummary, name: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        summary.phases[name] = time.perf_counter() - started


def _is_loopback(endpoint: str) -> bool:
    """Plain http is only for an emulator on this machine."""
    host = urllib.parse.urlsplit(endpoint).hostname or ""
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def _pool_or_none(client: BatchClient, pool_id: str) -> models.BatchPool | None:
    try:
        return await client.pools.get(pool_id, select=["id", "allocationState", "resizeErrors"])
    except NotFoundError:
        return None


def _stamp() -> str:
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


if __name__ == "__main__":
    sys.exit(main())
