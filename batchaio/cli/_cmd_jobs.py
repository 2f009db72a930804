"""``batchaio jobs``: wait for a job's tasks with a live view of the counts; the failure report."""

from __future__ import annotations

import anyio
import click
import orjson

from batchaio import _constants as C
from batchaio._client import BatchClient
from batchaio._task_progress import TaskProgress
from batchaio._workflow_errors import WaitTimeoutError
from batchaio.cli._app import App, cli, pass_app
from batchaio.cli._errors import error_line
from batchaio.cli._progress import Display
from batchaio.cli._running import Interrupts
from batchaio.cli._waiting import counts_text, failure_lines, failure_records, wait_exit_code

__all__ = ["jobs"]


@cli.group()
def jobs() -> None:
    """Wait for a job's tasks and report their failures."""


class _CountsView:
    """The latest counts the wait reported, redrawn by a ticker so the elapsed time moves between polls."""

    def __init__(self, display: Display) -> None:
        self.display = display
        self.progress = TaskProgress()
        self.started = anyio.current_time()

    def seen(self, progress: TaskProgress) -> None:
        self.progress = progress
        self.show()

    def show(self) -> None:
        p = self.progress
        text = counts_text(
            active=p.active,
            running=p.running,
            completed=p.completed,
            succeeded=p.succeeded,
            failed=p.failed,
            elapsed=anyio.current_time() - self.started,
        )
        self.display.update(text, p.completed, p.total or None)

    async def tick(self) -> None:
        while True:
            await anyio.sleep(self.display.refresh_seconds)
            self.show()


@jobs.command("wait")
@click.argument("job_id")
@click.option(
    "--timeout", type=click.FloatRange(min=0, min_open=True), help="Give up after SECONDS (exit 2)."
)
@click.option(
    "--stall-timeout", type=click.FloatRange(min=0, min_open=True), help="Give up when nothing moved."
)
@click.option(
    "--poll-interval",
    type=click.FloatRange(min=0, min_open=True),
    default=C.WATCH_POLL_INTERVAL,
    show_default=True,
    help="Seconds between task-count polls.",
)
@pass_app
def wait(
    app: App, job_id: str, timeout: float | None, stall_timeout: float | None, poll_interval: float
) -> None:
    """Wait until no task of JOB_ID is active or running, showing the counts as they change.

    Exit code 0 when every task succeeded, 1 when a task failed (or the job cannot make progress: its pool
    is missing, resizing failed, its start task failed), 2 on --timeout.
    """

    async def body(client: BatchClient, interrupts: Interrupts) -> int:
        view = _CountsView(app.display())
        view.display.start()
        try:
            async with anyio.create_task_group() as task_group:
                task_group.start_soon(view.tick)
                try:
                    final = await client.jobs.wait_for_tasks(
                        job_id,
                        timeout=timeout,
                        poll_interval=poll_interval,
                        stall_timeout=stall_timeout,
                        progress=view.seen,
                    )
                finally:
                    task_group.cancel_scope.cancel()
        except WaitTimeoutError as exc:
            view.show()
            view.display.stop()
            app.say(f"error: {error_line(exc)}")
            return wait_exit_code(failed=0, timed_out=True)
        view.seen(final)
        view.display.stop()
        print(
            f"{final.completed:,} tasks completed: {final.succeeded:,} succeeded, {final.failed:,} failed",
            file=app.out,
            flush=True,
        )
        return wait_exit_code(failed=final.failed, timed_out=False)

    app.run_with_client(body)


@jobs.command("failures")
@click.argument("job_id")
@click.option(
    "--tail-bytes",
    type=click.IntRange(min=1),
    default=C.FAILURE_TAIL_BYTES,
    show_default=True,
    help="Bytes of each example's stderr to show.",
)
@click.option(
    "--max-examples",
    type=click.IntRange(min=0),
    default=C.FAILURE_MAX_EXAMPLES,
    show_default=True,
    help="Examples per kind of failure.",
)
@click.option("--jsonl", is_flag=True, help="One JSON line per kind of failure instead of text.")
@pass_app
def failures(app: App, job_id: str, tail_bytes: int, max_examples: int, jsonl: bool) -> None:
    """The failed tasks of JOB_ID grouped by failure code and exit code, with the end of their stderr.

    Exit code 0 when no task failed, 1 when some did.
    """

    async def body(client: BatchClient, interrupts: Interrupts) -> int:
        report = await client.tasks.failure_report(job_id, tail_bytes=tail_bytes, max_examples=max_examples)
        if jsonl:
            app.out.write("".join(orjson.dumps(record).decode() + "\n" for record in failure_records(report)))
        else:
            app.out.write("".join(line + "\n" for line in failure_lines(report)))
        app.out.flush()
        return 1 if report.failed else 0

    app.run_with_client(body)
