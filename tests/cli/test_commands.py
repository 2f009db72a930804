"""The commands' logic through click's CliRunner, against an emulator over real HTTP."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner, Result

from batchaio.cli import cli
from batchaio.emulator import Emulator
from tests.cli.conftest import task_ids, wait_until_completed

MakeJob = Callable[[], str]


def run(env: dict[str, str], *args: str, input: bytes | str | None = None) -> Result:
    return CliRunner(env=env).invoke(cli, list(args), input=input, catch_exceptions=False)


def jsonl(*tasks: dict[str, object]) -> str:
    return "".join(orjson.dumps(task).decode() + "\n" for task in tasks)


def write_tasks(path: Path, count: int, prefix: str = "t") -> Path:
    path.write_text(jsonl(*({"id": f"{prefix}{n}", "commandLine": f"echo {n}"} for n in range(count))))
    return path


def test_add_from_a_file_then_again(
    env: dict[str, str], make_job: MakeJob, emulator: Emulator, tmp_path: Path
) -> None:
    job = make_job()
    tasks = write_tasks(tmp_path / "tasks.jsonl", 450)
    first = run(env, "tasks", "add", job, str(tasks))
    assert first.exit_code == 0, first.output
    assert "450 tasks, 450 created, 0 already existed, 0 failed" in first.stdout
    assert len(task_ids(emulator, job)) == 450

    again = run(env, "tasks", "add", job, str(tasks))
    assert again.exit_code == 0
    assert "450 tasks, 0 created, 450 already existed, 0 failed" in again.stdout
    assert len(task_ids(emulator, job)) == 450


def test_a_bad_task_among_good_ones(
    env: dict[str, str], make_job: MakeJob, emulator: Emulator, tmp_path: Path
) -> None:
    job = make_job()
    lines = [
        jsonl({"id": "good-1", "commandLine": "echo 1"}),
        jsonl({"id": "bad id", "commandLine": "echo 2"}),
        "{not json\n",
        jsonl({"id": "good-2", "commandLine": "echo 3"}),
        jsonl({"id": "snake", "command_line": "echo 4"}),
        jsonl({"id": "no-command"}),
        jsonl({"id": "good-3", "commandLine": "echo 5"}),
    ]
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text("".join(lines))
    failures = tmp_path / "failures.jsonl"
    result = run(env, "tasks", "add", job, str(tasks), "--failures", str(failures))
    assert result.exit_code == 1
    assert "7 tasks, 3 created, 0 already existed, 4 failed" in result.stdout
    assert sorted(task_ids(emulator, job)) == ["good-1", "good-2", "good-3"]
    records = sorted(
        (orjson.loads(line) for line in failures.read_text().splitlines()), key=lambda r: r["line"]
    )
    assert [(r["line"], r["taskId"], r["code"], r["status"]) for r in records] == [
        (2, "bad id", "ValidationError", "failed"),
        (3, None, "InvalidJson", "failed"),
        (5, "snake", "InvalidTask", "failed"),
        (6, "no-command", "ValidationError", "failed"),
    ]
    assert "command_line is required" in records[3]["message"]
    assert "command_line" in records[2]["message"] and "camelCase" in records[2]["message"]


def test_standard_input(env: dict[str, str], make_job: MakeJob, emulator: Emulator) -> None:
    job = make_job()
    result = run(
        env, "tasks", "add", job, "-", input=jsonl(*({"id": f"s{n}", "commandLine": "x"} for n in range(120)))
    )
    assert result.exit_code == 0, result.output
    assert "120 tasks, 120 created" in result.stdout
    assert "adding tasks from standard input" in result.stderr
    assert len(task_ids(emulator, job)) == 120


def test_plain_progress_lines_when_not_a_terminal(
    env: dict[str, str], make_job: MakeJob, emulator: Emulator, tmp_path: Path
) -> None:
    job = make_job()
    tasks = write_tasks(tmp_path / "tasks.jsonl", 400)
    emulator.faults.configure(latency=0.02, path_pattern="addtaskcollection")
    try:
        result = run(env, "--progress-interval", "0.01", "tasks", "add", job, str(tasks))
    finally:
        emulator.faults.configure()
    assert result.exit_code == 0
    assert "\x1b" not in result.output and "\r" not in result.output
    progress = [line for line in result.stderr.splitlines() if " tasks  created " in line]
    assert len(progress) >= 2
    assert re.fullmatch(r"400/400 tasks  created 400  existing 0  failed 0  [\d,]+/s  0:00:0\d", progress[-1])


def test_progress_off(env: dict[str, str], make_job: MakeJob, tmp_path: Path) -> None:
    result = run(
        env, "--progress", "off", "tasks", "add", make_job(), str(write_tasks(tmp_path / "t.jsonl", 5))
    )
    assert result.exit_code == 0
    assert " tasks  created " not in result.stderr


def test_missing_job_is_one_line_with_code_and_request_id(env: dict[str, str], tmp_path: Path) -> None:
    result = run(env, "tasks", "add", "no-such-job", str(write_tasks(tmp_path / "t.jsonl", 10)))
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert re.fullmatch(r"error: JobNotFound: .+ \(HTTP 404, request id [0-9a-f-]{36}\)", errors[0])
    assert "Traceback" not in result.output


def test_debug_shows_the_traceback(env: dict[str, str], tmp_path: Path) -> None:
    result = run(env, "--debug", "tasks", "add", "no-such-job", str(write_tasks(tmp_path / "t.jsonl", 1)))
    assert result.exit_code == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "error: JobNotFound" in result.stderr


def test_missing_configuration_is_one_line(tmp_path: Path) -> None:
    result = run(
        {"BATCH_ENDPOINT": "", "BATCH_ACCOUNT_NAME": "", "BATCH_ACCOUNT_KEY": ""}, "tasks", "list", "j"
    )
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "error: no endpoint: give --endpoint or set BATCH_ENDPOINT (python -m batchaio.emulator prints the "
        "variables of a local emulator)"
    ]


def test_plain_http_to_a_remote_host_is_refused() -> None:
    result = run(
        {}, "--endpoint", "http://batch.example.com", "--account", "a", "--key", "a2V5", "tasks", "list", "j"
    )
    assert result.exit_code == 2
    assert "only allowed for loopback hosts" in result.stderr


def test_a_wrong_key_is_one_line(env: dict[str, str], make_job: MakeJob) -> None:
    job = make_job()
    result = run({**env, "BATCH_ACCOUNT_KEY": "d3Jvbmcta2V5"}, "tasks", "list", job)
    assert result.exit_code == 1
    assert re.match(r"error: AuthenticationFailed: .* \(HTTP 403, request id ", result.stderr)
    assert "d3Jvbmcta2V5" not in result.output


def test_sweep(env: dict[str, str], make_job: MakeJob, emulator: Emulator) -> None:
    job = make_job()
    result = run(
        env,
        "tasks",
        "sweep",
        job,
        "--param",
        "i=0:50",
        "--param",
        "m=a,b,c",
        "--id",
        "fit-{m}-{i:03d}",
        "--command",
        "fit --model {m} --seed {i}",
        "--env",
        "SEED={i}",
    )
    assert result.exit_code == 0, result.output
    assert "adding 150 tasks" in result.stderr
    assert "150 tasks, 150 created" in result.stdout
    ids = task_ids(emulator, job)
    assert len(ids) == 150 and "fit-c-049" in ids
    again = run(
        env,
        "tasks",
        "sweep",
        job,
        "--param",
        "i=0:50",
        "--param",
        "m=a,b,c",
        "--id",
        "fit-{m}-{i:03d}",
        "--command",
        "fit --model {m} --seed {i}",
        "--env",
        "SEED={i}",
    )
    assert "150 tasks, 0 created, 150 already existed" in again.stdout


def test_sweep_dry_run_prints_tasks_in_the_rest_api_names() -> None:
    result = run(
        {},
        "tasks",
        "sweep",
        "job",
        "--param",
        "i=0:2",
        "--id",
        "t-{i}",
        "--command",
        "run {i}",
        "--resource-file",
        "in/{i}.csv=https://store/{i}.csv",
        "--dry-run",
    )
    assert result.exit_code == 0
    assert [orjson.loads(line) for line in result.stdout.splitlines()] == [
        {
            "id": "t-0",
            "commandLine": "run 0",
            "resourceFiles": [{"httpUrl": "https://store/0.csv", "filePath": "in/0.csv"}],
        },
        {
            "id": "t-1",
            "commandLine": "run 1",
            "resourceFiles": [{"httpUrl": "https://store/1.csv", "filePath": "in/1.csv"}],
        },
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--param", "i=0:3", "--id", "t", "--command", "x"], "gives 't' twice: for i=0 and for i=1"),
        (["--param", "m=a,b c", "--id", "t-{m}", "--command", "x"], "gives 't-b c' for m='b c'"),
        (["--param", "i=0:3", "--id", "t-{i}", "--command", "echo ${HOME}"], "unknown placeholder {HOME}"),
        (["--param", "i=3:3", "--id", "t-{i}", "--command", "x"], "is empty"),
    ],
)
def test_sweep_ids_and_templates_are_checked_before_anything_is_sent(
    env: dict[str, str], make_job: MakeJob, emulator: Emulator, args: list[str], message: str
) -> None:
    job = make_job()
    before = emulator.faults.counts["requests"]
    result = run(env, "tasks", "sweep", job, *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert emulator.faults.counts["requests"] == before


def test_per_file(env: dict[str, str], make_job: MakeJob, emulator: Emulator, tmp_path: Path) -> None:
    job = make_job()
    listing = tmp_path / "more.txt"
    listing.write_text("/data/c.csv\n\n/data/d.csv\n")
    result = run(
        env,
        "tasks",
        "per-file",
        job,
        "/data/a.csv",
        "/data/b.csv",
        "--files-from",
        str(listing),
        "--command",
        "wc -l {file}",
    )
    assert result.exit_code == 0, result.output
    assert sorted(task_ids(emulator, job)) == ["a_csv", "b_csv", "c_csv", "d_csv"]


def test_per_file_collisions_are_refused_before_sending(env: dict[str, str], make_job: MakeJob) -> None:
    result = run(env, "tasks", "per-file", make_job(), "x/a.csv", "y/a.csv", "--command", "wc -l {file}")
    assert result.exit_code == 2
    assert "gives 'a_csv' twice: for file='x/a.csv'" in result.stderr


def test_per_file_needs_files(env: dict[str, str]) -> None:
    result = run(env, "tasks", "per-file", "job", "--command", "x")
    assert result.exit_code == 2
    assert "no files" in result.stderr


def _listed_job(env: dict[str, str], make_job: MakeJob, emulator: Emulator) -> str:
    job = make_job()
    tasks = [{"id": f"l{n:02d}", "commandLine": f"exit {n % 2}"} for n in range(30)]
    assert run(env, "tasks", "add", job, "-", input=jsonl(*tasks)).exit_code == 0
    wait_until_completed(emulator, job, 30)
    return job


def test_list_formats(env: dict[str, str], make_job: MakeJob, emulator: Emulator) -> None:
    job = _listed_job(env, make_job, emulator)
    table = run(env, "tasks", "list", job)
    assert table.exit_code == 0
    header, *rows = table.stdout.splitlines()
    assert header.split() == ["id", "state", "exitCode", "nodeId", "stateTransitionTime"]
    assert len(rows) == 30 and rows[1].split()[:3] == ["l01", "completed", "1"]

    lines = run(env, "tasks", "list", job, "--format", "jsonl").stdout.splitlines()
    assert len(lines) == 30 and orjson.loads(lines[0])["commandLine"] == "exit 0"

    chosen = run(env, "tasks", "list", job, "--format", "csv", "--select", "id,exitCode,commandLine")
    assert list(csv.reader(io.StringIO(chosen.stdout)))[:2] == [
        ["id", "exitCode", "commandLine"],
        ["l00", "0", "exit 0"],
    ]


def test_list_filter(env: dict[str, str], make_job: MakeJob, emulator: Emulator) -> None:
    job = _listed_job(env, make_job, emulator)
    result = run(
        env,
        "tasks",
        "list",
        job,
        "--filter",
        "executionInfo/exitCode eq 1",
        "--format",
        "jsonl",
        "--select",
        "id",
    )
    assert result.exit_code == 0, result.output
    assert [orjson.loads(line)["id"] for line in result.stdout.splitlines()] == [
        f"l{n:02d}" for n in range(1, 30, 2)
    ]


def test_list_of_a_missing_job(env: dict[str, str]) -> None:
    result = run(env, "tasks", "list", "no-such-job")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: JobNotFound")


def test_files_download(env: dict[str, str], make_job: MakeJob, emulator: Emulator, tmp_path: Path) -> None:
    job = make_job()
    assert (
        run(
            env, "tasks", "add", job, "-", input=jsonl({"id": "say", "commandLine": "echo hello there"})
        ).exit_code
        == 0
    )
    wait_until_completed(emulator, job, 1)
    target = tmp_path / "out.txt"
    saved = run(env, "files", "download", "--job", job, "--task", "say", "stdout.txt", "-o", str(target))
    assert saved.exit_code == 0, saved.output
    assert target.read_text() == "hello there\n"
    part = run(
        env,
        "files",
        "download",
        "--job",
        job,
        "--task",
        "say",
        "stdout.txt",
        "-o",
        "-",
        "--offset",
        "6",
        "--length",
        "5",
    )
    assert part.stdout == "there"
    missing = run(
        env, "files", "download", "--job", job, "--task", "say", "nope.txt", "-o", str(tmp_path / "x")
    )
    assert missing.exit_code == 1 and "error: " in missing.stderr
    assert not (tmp_path / "x").exists()


def test_files_download_needs_an_owner(env: dict[str, str]) -> None:
    result = run(env, "files", "download", "--job", "j", "stdout.txt")
    assert result.exit_code == 2
    assert "--job and --task, or --pool and --node" in result.stderr


def test_emulator_passes_its_arguments_through() -> None:
    result = run({}, "emulator", "--help")
    assert result.exit_code == 0
    assert "--discard-tasks" in result.stdout
