"""``tasks watch``, ``jobs wait``, ``jobs failures`` and ``pools ensure`` through click's CliRunner, against
the emulator over real HTTP."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from pathlib import Path

import anyio
import orjson
from click.testing import CliRunner, Result

from batchaio import models
from batchaio.cli import cli
from batchaio.emulator import Emulator
from tests.cli.conftest import client_of, wait_until_completed

MakeJob = Callable[[], str]
FAST = ["--poll-interval", "0.05"]


def run(env: dict[str, str], *args: str, input: str | None = None) -> Result:
    return CliRunner(env=env).invoke(cli, list(args), input=input, catch_exceptions=False)


def add(env: dict[str, str], job: str, commands: list[str]) -> None:
    tasks = "".join(
        orjson.dumps({"id": f"w{n:02d}", "commandLine": command}).decode() + "\n"
        for n, command in enumerate(commands)
    )
    assert run(env, "tasks", "add", job, "-", input=tasks).exit_code == 0


def test_watch_prints_every_completion(env: dict[str, str], make_job: MakeJob, emulator: Emulator) -> None:
    job = make_job()
    add(env, job, ["exit 0"] * 8 + ["exit 3", "exit 0"])
    result = run(env, "tasks", "watch", job, *FAST)
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert sorted(line.split()[0] for line in lines) == [f"w{n:02d}" for n in range(10)]
    assert any(re.fullmatch(r"w08  exit 3  failed: \w+.*", line) for line in lines), lines
    assert "10 completions: 9 succeeded, 1 failed" in result.stderr

    records = [
        orjson.loads(line) for line in run(env, "tasks", "watch", job, "--jsonl", *FAST).stdout.splitlines()
    ]
    assert {record["id"]: record["exitCode"] for record in records}["w08"] == 3


def test_jobs_wait(env: dict[str, str], make_job: MakeJob) -> None:
    good, bad = make_job(), make_job()
    add(env, good, ["exit 0"] * 20)
    add(env, bad, ["exit 0"] * 19 + ["exit 1"])
    ok = run(env, "--progress-interval", "0.02", "jobs", "wait", good, *FAST)
    assert ok.exit_code == 0, ok.output
    assert "20 tasks completed: 20 succeeded, 0 failed" in ok.stdout
    assert "\x1b" not in ok.output
    assert re.search(r"20/20 completed \(20 succeeded, 0 failed\)  running 0  active 0  0:00:0\d", ok.stderr)
    failed = run(env, "jobs", "wait", bad, *FAST)
    assert failed.exit_code == 1
    assert "20 tasks completed: 19 succeeded, 1 failed" in failed.stdout


def test_jobs_wait_times_out_with_exit_2(env: dict[str, str], make_job: MakeJob) -> None:
    job = make_job()
    add(env, job, ["sleep 30"])
    result = run(env, "jobs", "wait", job, "--timeout", "0.3", *FAST)
    assert result.exit_code == 2, result.output
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert "0/1 completed (0 succeeded, 0 failed)  running 1  active 0" in result.stderr
    assert "timeout" in error.lower() or "0.3" in error, error


def test_jobs_wait_on_a_job_without_a_pool_gives_up(env: dict[str, str], emulator: Emulator) -> None:
    job = f"nopool-{uuid.uuid4().hex[:6]}"

    async def create() -> None:
        async with client_of(emulator) as client:
            await client.jobs.create(
                models.BatchJobCreateContent(id=job, pool_info=models.BatchPoolInfo(pool_id="no-such-pool"))
            )

    anyio.run(create)
    add(env, job, ["exit 0"])
    result = run(env, "jobs", "wait", job, "--stall-timeout", "5", *FAST)
    assert result.exit_code == 1, result.output
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert "no-such-pool" in error and "PoolNotFound" in error, error


def test_jobs_failures(env: dict[str, str], make_job: MakeJob, emulator: Emulator) -> None:
    job = make_job()
    add(
        env,
        job,
        ["exit 0", "/bin/sh -c 'echo disk full >&2; exit 3'", "/bin/sh -c 'echo disk full >&2; exit 3'"],
    )
    wait_until_completed(emulator, job, 3)
    text = run(env, "jobs", "failures", job)
    assert text.exit_code == 1, text.output
    assert text.stdout.splitlines()[0] == "2 task(s) failed, 1 kind(s) of failure:"
    assert "exit code 3" in text.stdout
    assert "      | disk full" in text.stdout
    (record,) = [
        orjson.loads(line) for line in run(env, "jobs", "failures", job, "--jsonl").stdout.splitlines()
    ]
    assert record["exitCode"] == 3 and record["count"] == 2

    clean = make_job()
    add(env, clean, ["exit 0"])
    wait_until_completed(emulator, clean, 1)
    none = run(env, "jobs", "failures", clean)
    assert none.exit_code == 0 and none.stdout == "no task failed\n"


def test_pools_ensure(env: dict[str, str], tmp_path: Path) -> None:
    pool_id = f"ensure-{uuid.uuid4().hex[:6]}"
    body = tmp_path / "pool.json"
    body.write_text(
        orjson.dumps({"id": pool_id, "vmSize": "standard_d2s_v3", "targetDedicatedNodes": 2}).decode()
    )
    first = run(env, "pools", "ensure", str(body), "--timeout", "20")
    assert first.exit_code == 0, first.output
    assert f"created pool {pool_id}" in first.stderr
    assert first.stdout.startswith(f"{pool_id} is ready: 2 dedicated and 0 low-priority nodes")
    again = run(env, "pools", "ensure", "-", input=body.read_text())
    assert again.exit_code == 0
    assert f"pool {pool_id} exists" in again.stderr


def test_pools_ensure_refuses_a_bad_body(env: dict[str, str], tmp_path: Path) -> None:
    body = tmp_path / "pool.json"
    body.write_text('{"id": "p", "vm_size": "x"}')
    result = run(env, "pools", "ensure", str(body))
    assert result.exit_code == 2
    assert "unknown properties for BatchPoolCreateContent: vm_size" in result.stderr


def test_pools_ensure_stops_when_the_start_task_fails(env: dict[str, str], tmp_path: Path) -> None:
    pool_id = f"broken-{uuid.uuid4().hex[:6]}"
    body = tmp_path / "pool.json"
    body.write_text(
        orjson.dumps(
            {
                "id": pool_id,
                "vmSize": "standard_d2s_v3",
                "targetDedicatedNodes": 1,
                "startTask": {
                    "commandLine": "/bin/sh -c 'echo no driver >&2; exit 1'",
                    "waitForSuccess": True,
                },
            }
        ).decode()
    )
    result = run(env, "pools", "ensure", str(body), "--timeout", "20")
    assert result.exit_code == 1, result.output
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert "start task failed" in error, error
    assert "      | no driver" in result.stderr
