"""``batchaio tasks``: add from JSON Lines, parametric sweep, one task per file, list."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import TextIO

import click
import orjson

from batchaio import _constants as C
from batchaio._client import BatchClient
from batchaio._serde import converter, to_wire
from batchaio.cli import _factories as F
from batchaio.cli._app import App, cli, pass_app
from batchaio.cli._jsonl import TaskFile
from batchaio.cli._listing import ListWriter, plan_columns
from batchaio.cli._running import Interrupts
from batchaio.cli._submit import FailureLog, submit
from batchaio.cli._waiting import task_failed, watch_line, watch_record
from batchaio.errors import ValidationError
from batchaio.models import BatchTaskCreateContent

__all__ = ["tasks"]

WATCH_SELECT = ["id", "executionInfo", "nodeInfo"]


@cli.group()
def tasks() -> None:
    """Add, generate and list a job's tasks."""


def _submit_options(command: Callable[..., None]) -> Callable[..., None]:
    command = click.option(
        "--failures",
        "failures_path",
        type=click.Path(dir_okay=False, writable=True),
        help="Write each failed or in-doubt task as a JSON line: taskId, line/index, status, code, message.",
    )(command)
    return click.option(
        "--concurrency",
        type=click.IntRange(1, 64),
        default=C.BULK_DEFAULT_CONCURRENCY,
        show_default=True,
        help="Requests in flight.",
    )(command)


@contextlib.contextmanager
def _failure_log(path: str | None) -> Iterator[FailureLog]:
    if path is None:
        yield FailureLog()
        return
    with open(path, "w", encoding="utf-8") as out:
        yield FailureLog(out)


@tasks.command("add")
@click.argument("job_id")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@_submit_options
@pass_app
def add(app: App, job_id: str, file: str, concurrency: int, failures_path: str | None) -> None:
    """Add the tasks in FILE (JSON Lines, or - for standard input) to JOB_ID.

    Each line is a task body in the REST API's names, as for `az batch task create --json-file`:
    {"id": "t1", "commandLine": "echo hi", "constraints": {"maxTaskRetryCount": 2}}. The file is read as it
    goes, so its size does not matter. Running the same file again adds only what is missing and says how many
    tasks already existed. Exit code 0 when every task was created or already existed, 1 otherwise.
    """

    async def body(client: BatchClient, interrupts: Interrupts) -> int:
        with _failure_log(failures_path) as failures:
            source = TaskFile(file, failures.bad_line)
            try:
                app.say(f"adding tasks from {'standard input' if file == '-' else file} to job {job_id}")
                result = await submit(
                    client,
                    job_id,
                    source.tasks(),
                    interrupts=interrupts,
                    display=app.display(),
                    failures=failures,
                    source=source,
                    concurrency=concurrency,
                    out=app.out,
                )
            finally:
                source.close()
        return result.exit_code

    app.run_with_client(body)


def _factory_options(command: Callable[..., None]) -> Callable[..., None]:
    decorators: list[Callable[[Callable[..., None]], Callable[..., None]]] = [
        click.option("--command", "command_line", required=True, metavar="TEMPLATE", help="Command line."),
        click.option(
            "--resource-file",
            "resource_files",
            multiple=True,
            metavar="FILE_PATH=URL",
            help="A file each task downloads before it runs (repeatable).",
        ),
        click.option(
            "--env",
            "environment",
            multiple=True,
            metavar="NAME=VALUE",
            help="An environment setting (repeatable).",
        ),
        click.option("--dry-run", is_flag=True, help="Print the tasks as JSON Lines instead of adding them."),
        _submit_options,
    ]
    for decorator in reversed(decorators):
        command = decorator(command)
    return command


def _run_factory(
    app: App,
    job_id: str,
    template: F.TaskTemplate,
    values: Callable[[], Iterator[F.Values]],
    *,
    dry_run: bool,
    concurrency: int,
    failures_path: str | None,
) -> None:
    """Check every ID, then print the tasks (``--dry-run``) or add them."""
    with app.checking():
        count = F.check_ids(template, values)
    tasks = (template.task(value) for value in values())
    if dry_run:
        _print_tasks(tasks, app.out)
        return

    async def body(client: BatchClient, interrupts: Interrupts) -> int:
        with _failure_log(failures_path) as failures:
            app.say(f"adding {count:,} tasks to job {job_id}")
            result = await submit(
                client,
                job_id,
                tasks,
                interrupts=interrupts,
                display=app.display(),
                failures=failures,
                expected=count,
                concurrency=concurrency,
                out=app.out,
            )
        return result.exit_code

    app.run_with_client(body)


def _print_tasks(tasks: Iterator[BatchTaskCreateContent], out: TextIO) -> None:
    for task in tasks:
        out.write(orjson.dumps(to_wire(task)).decode() + "\n")


@tasks.command("sweep")
@click.argument("job_id")
@click.option(
    "--param",
    "params",
    multiple=True,
    required=True,
    metavar="NAME=SPEC",
    help="A parameter: START:STOP, START:STOP:STEP (integers, STOP excluded) or a,b,c (repeatable).",
)
@click.option(
    "--id", "id_template", required=True, metavar="TEMPLATE", help="Task ID, e.g. 'run-{i:04d}-{name}'."
)
@_factory_options
@pass_app
def sweep(
    app: App,
    job_id: str,
    params: Sequence[str],
    id_template: str,
    command_line: str,
    resource_files: Sequence[str],
    environment: Sequence[str],
    dry_run: bool,
    concurrency: int,
    failures_path: str | None,
) -> None:
    """Add one task to JOB_ID for each combination of the --param values (their cartesian product).

    {name} in --id, --command, --resource-file and --env is replaced by the parameter's value, with Python's
    format syntax ({i:05d}); write {{ and }} for literal braces. Every ID is checked (valid, no two alike)
    before anything is sent.

    \b
        batchaio tasks sweep job-1 --param i=0:250 --param model=a,b --id 'fit-{model}-{i}' \\
            --command 'python fit.py --model {model} --seed {i}'
    """
    with app.checking():
        parameters = [F.parse_parameter(text) for text in params]
        F.check_parameters(parameters)
        names = [parameter.name for parameter in parameters]
        template = F.TaskTemplate.build(
            id=id_template,
            command_line=command_line,
            allowed=names,
            resource_files=resource_files,
            environment=environment,
        )
    _run_factory(
        app,
        job_id,
        template,
        lambda: F.sweep_values(parameters),
        dry_run=dry_run,
        concurrency=concurrency,
        failures_path=failures_path,
    )


@tasks.command("per-file")
@click.argument("job_id")
@click.argument("files", nargs=-1)
@click.option(
    "--files-from",
    type=click.File("r", encoding="utf-8"),
    help="Read the files' names from this file, one a line (- for standard input).",
)
@click.option(
    "--id",
    "id_template",
    default="{safe_name}",
    show_default=True,
    metavar="TEMPLATE",
    help="Task ID.",
)
@_factory_options
@pass_app
def per_file(
    app: App,
    job_id: str,
    files: Sequence[str],
    files_from: TextIO | None,
    id_template: str,
    command_line: str,
    resource_files: Sequence[str],
    environment: Sequence[str],
    dry_run: bool,
    concurrency: int,
    failures_path: str | None,
) -> None:
    """Add one task to JOB_ID for each of FILES (paths or URLs, as the tasks will see them).

    Placeholders: {file} as given, {name} its last path segment, {stem} that without its extension,
    {safe_name} the name with every character not allowed in a task ID replaced by _, {index} its position.

    \b
        batchaio tasks per-file job-1 --command 'gzip -9 {file}' /mnt/share/logs/*.log
        batchaio tasks per-file job-1 --files-from urls.txt --resource-file '{name}={file}' \\
            --command 'wc -l {name}'
    """
    names = list(files)
    if files_from is not None:
        names += [line.strip() for line in files_from if line.strip()]
    with app.checking():
        if not names:
            raise ValidationError("no files: give FILES or --files-from", field="FILES")
        template = F.TaskTemplate.build(
            id=id_template,
            command_line=command_line,
            allowed=F.FILE_PLACEHOLDERS,
            resource_files=resource_files,
            environment=environment,
        )
    _run_factory(
        app,
        job_id,
        template,
        lambda: F.file_values(names),
        dry_run=dry_run,
        concurrency=concurrency,
        failures_path=failures_path,
    )


@tasks.command("list")
@click.argument("job_id")
@click.option("--filter", "filter_", metavar="ODATA", help="An OData $filter, e.g. \"state eq 'completed'\".")
@click.option("--select", metavar="A,B", help="Properties to show (REST API names), comma-separated.")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "jsonl", "csv"]), default="table", show_default=True
)
@pass_app
def list_tasks(app: App, job_id: str, filter_: str | None, select: str | None, fmt: str) -> None:
    """List JOB_ID's tasks as they arrive, a page at a time (jsonl without --select: every property)."""
    chosen = [name.strip() for name in select.split(",") if name.strip()] if select else None
    wanted, columns = plan_columns(chosen)
    if fmt == "jsonl" and chosen is None:
        wanted = []

    async def body(client: BatchClient, interrupts: Interrupts) -> int:
        writer = ListWriter(app.out, fmt, columns)
        pager = client.tasks.list(
            job_id, filter=filter_, select=wanted or None, max_results=C.CLI_LIST_PAGE_SIZE
        )
        async for page in pager.pages():
            writer.write_page([converter.unstructure(task) for task in page.items])
        writer.finish()
        return 0

    app.run_with_client(body)


@tasks.command("watch")
@click.argument("job_id")
@click.option(
    "--jsonl", is_flag=True, help="One JSON line per completion: id, exitCode, failureCode, nodeId, seconds."
)
@click.option(
    "--poll-interval",
    type=click.FloatRange(min=0, min_open=True),
    default=C.WATCH_POLL_INTERVAL,
    show_default=True,
    help="Seconds between task-count polls.",
)
@pass_app
def watch(app: App, job_id: str, jsonl: bool, poll_interval: float) -> None:
    """Print each task of JOB_ID as it completes (those already completed first), until none is left to run.

    Cheap on the service: it polls the job's task counts and lists only tasks that completed since the last
    listing. Exit code 0 when every task printed succeeded, 1 when one failed.
    """

    async def body(client: BatchClient, interrupts: Interrupts) -> int:
        completed = failed = 0
        async for task in client.tasks.watch(job_id, poll_interval=poll_interval, select=WATCH_SELECT):
            completed += 1
            failed += task_failed(task)
            line = orjson.dumps(watch_record(task)).decode() if jsonl else watch_line(task)
            print(line, file=app.out, flush=True)
        app.say(f"{completed:,} completions: {completed - failed:,} succeeded, {failed:,} failed")
        return 1 if failed else 0

    app.run_with_client(body)
