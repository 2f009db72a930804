"""The command line as a user runs it: ``python -m batchaio`` in a real subprocess, against an emulator over
real HTTP that keeps only task IDs and counts (``discard_tasks``), so 20,000 tasks take a few seconds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import orjson
import pytest

from batchaio import BatchClient, models
from batchaio.emulator import Emulator
from tests.cli.conftest import POOL_ID, client_of, environment_of

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def fast_emulator() -> Iterator[Emulator]:
    emulator = Emulator(discard_tasks=True)
    emulator.start()
    yield emulator
    emulator.close()


def new_job(emulator: Emulator, name: str) -> str:
    job_id = f"{name}-{os.urandom(4).hex()}"

    async def create() -> None:
        async with client_of(emulator) as client:
            await client.jobs.create(
                models.BatchJobCreateContent(id=job_id, pool_info=models.BatchPoolInfo(pool_id=POOL_ID))
            )

    anyio.run(create)
    return job_id


def task_count(emulator: Emulator, job_id: str) -> int:
    async def count() -> int:
        async with client_of(emulator) as client:
            counts = (await client.jobs.get_task_counts(job_id)).task_counts
            assert counts is not None
            return (counts.active or 0) + (counts.running or 0) + (counts.completed or 0)

    return anyio.run(count)


def batchaio(emulator: Emulator, *args: str, **options: object) -> subprocess.Popen[bytes]:
    env = {**os.environ, **environment_of(emulator)}
    options.setdefault("stdin", subprocess.PIPE)
    return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
        [sys.executable, "-m", "batchaio", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **options,
    )


def finish(
    process: subprocess.Popen[bytes], stdin: bytes | None = None, timeout: float = 60
) -> tuple[int, str, str]:
    out, err = process.communicate(stdin, timeout=timeout)
    return process.returncode, out.decode(), err.decode()


def lines(*tasks: dict[str, object]) -> bytes:
    return b"".join(orjson.dumps(task) + b"\n" for task in tasks)


def test_twenty_thousand_tasks_from_a_file_then_a_re_run(fast_emulator: Emulator, tmp_path: Path) -> None:
    job = new_job(fast_emulator, "many")
    path = tmp_path / "tasks.jsonl"
    path.write_bytes(lines(*({"id": f"task-{n:05d}", "commandLine": f"process {n}"} for n in range(20_000))))

    code, out, err = finish(batchaio(fast_emulator, "tasks", "add", job, str(path)))
    assert code == 0, err
    assert "20,000 tasks, 20,000 created, 0 already existed, 0 failed" in out
    assert "20,000/20,000 tasks  created 20,000" in err  # the last plain progress line
    assert "\x1b" not in out + err
    assert task_count(fast_emulator, job) == 20_000

    code, out, err = finish(batchaio(fast_emulator, "tasks", "add", job, str(path)))
    assert code == 0, err
    assert "20,000 tasks, 0 created, 20,000 already existed, 0 failed" in out
    assert task_count(fast_emulator, job) == 20_000


def test_a_bad_task_among_good_ones(fast_emulator: Emulator, tmp_path: Path) -> None:
    job = new_job(fast_emulator, "bad")
    good = [{"id": f"g{n}", "commandLine": "x"} for n in range(300)]
    content = lines(*good[:150]) + b'{"id": "bad/one", "commandLine": "x"}\n' + lines(*good[150:])
    failures = tmp_path / "failures.jsonl"
    code, out, err = finish(
        batchaio(fast_emulator, "tasks", "add", job, "-", "--failures", str(failures)), content
    )
    assert code == 1, err
    assert "301 tasks, 300 created, 0 already existed, 1 failed" in out
    (record,) = [orjson.loads(line) for line in failures.read_bytes().splitlines()]
    assert record["taskId"] == "bad/one" and record["line"] == 151 and record["code"] == "ValidationError"
    assert task_count(fast_emulator, job) == 300


def test_standard_input_from_a_pipe(fast_emulator: Emulator) -> None:
    job = new_job(fast_emulator, "stdin")
    producer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import json\nfor n in range(2500): print(json.dumps({'id': f'p{n}', 'commandLine': 'x'}))",
        ],
        stdout=subprocess.PIPE,
    )
    code, out, err = finish(batchaio(fast_emulator, "tasks", "add", job, "-", stdin=producer.stdout))
    producer.wait(timeout=10)
    assert code == 0, err
    assert "2,500 tasks, 2,500 created" in out
    assert task_count(fast_emulator, job) == 2500


def test_a_sweep(fast_emulator: Emulator) -> None:
    job = new_job(fast_emulator, "sweep")
    args = [
        "tasks",
        "sweep",
        job,
        "--param",
        "i=0:1000:10",
        "--param",
        "model=a,b,c",
        "--id",
        "fit-{model}-{i:04d}",
        "--command",
        "python fit.py --model {model} --seed {i}",
    ]
    code, out, err = finish(batchaio(fast_emulator, *args))
    assert code == 0, err
    assert "300 tasks, 300 created" in out
    assert task_count(fast_emulator, job) == 300
    code, out, err = finish(batchaio(fast_emulator, *args))
    assert "300 tasks, 0 created, 300 already existed" in out


def test_a_missing_job(fast_emulator: Emulator) -> None:
    process = batchaio(fast_emulator, "tasks", "add", "no-such-job", "-")
    code, out, err = finish(process, lines({"id": "t", "commandLine": "x"}))
    assert code == 1
    assert "Traceback" not in out + err
    (error,) = [line for line in err.splitlines() if line.startswith("error:")]
    assert error.startswith("error: JobNotFound: ") and "(HTTP 404, request id " in error


def _wait_for(condition: object, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_ctrl_c_stops_reading_sends_what_was_read_and_exits_130(fast_emulator: Emulator) -> None:
    job = new_job(fast_emulator, "intr")
    process = batchaio(fast_emulator, "tasks", "add", job, "-", stdin=subprocess.PIPE)
    assert process.stdin is not None
    process.stdin.write(lines(*({"id": f"c{n}", "commandLine": "x"} for n in range(550))))
    process.stdin.flush()  # and keep the pipe open: only Ctrl-C ends this input
    _wait_for(lambda: task_count(fast_emulator, job) >= 500)
    sent = time.monotonic()
    process.send_signal(signal.SIGINT)
    code, out, err = finish(process, timeout=10)
    assert code == 130, err
    assert time.monotonic() - sent < 3
    assert "interrupted after" in out and "550 tasks, 550 created" in out
    assert "run the same command again" in out
    assert task_count(fast_emulator, job) == 550


@pytest.fixture
def slow_emulator_process() -> Iterator[dict[str, str]]:
    """An emulator in its own process whose addtaskcollection takes 4 s (the variables it prints).

    Its own process, not a thread of this one: a child started while this process serves the emulator from
    a thread did not get the signals sent to it on this machine, which is not what the test is about."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "batchaio.emulator",
            "--port",
            "0",
            "--discard-tasks",
            "--latency",
            "4",
            "--fault-path",
            "addtaskcollection",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert process.stdout is not None
        variables = dict(process.stdout.readline().decode().strip().split("=", 1) for _ in range(3))
        yield variables
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_second_ctrl_c_cancels_requests_in_flight_at_once(
    slow_emulator_process: dict[str, str], tmp_path: Path
) -> None:
    env = {**os.environ, **slow_emulator_process}

    async def create_job() -> None:
        async with BatchClient.from_env(environ=env, allow_insecure_http=True) as client:
            await client.jobs.create(
                models.BatchJobCreateContent(id="held", pool_info=models.BatchPoolInfo(pool_id=POOL_ID))
            )

    anyio.run(create_job)
    path = tmp_path / "tasks.jsonl"
    path.write_bytes(lines(*({"id": f"h{n}", "commandLine": "x"} for n in range(100))))
    process = subprocess.Popen(
        [sys.executable, "-m", "batchaio", "tasks", "add", "held", str(path)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stderr is not None
    assert process.stderr.readline().startswith(b"adding tasks from")  # running, its request about to go out
    time.sleep(1.0)  # the request is in flight, held 4 s by the emulator
    sent = time.monotonic()
    process.send_signal(signal.SIGINT)
    time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    code, out, err = finish(process, timeout=10)
    assert code == 130, err
    assert time.monotonic() - sent < 2
    assert "interrupted after" in out
    assert "100 in doubt (a request carrying them may have been applied)" in out


def test_the_console_script_is_installed() -> None:
    script = Path(sys.executable).with_name("batchaio")
    result = subprocess.run([str(script), "--version"], capture_output=True, timeout=30, check=False)
    assert result.returncode == 0
    assert result.stdout.decode().startswith("batchaio, version ")


def test_a_listing_piped_into_head_stops_quietly(emulator: Emulator, make_job: Callable[[], str]) -> None:
    job = make_job()
    code, _, err = finish(
        batchaio(emulator, "--progress", "off", "tasks", "add", job, "-"),
        lines(*({"id": f"l{n}", "commandLine": "x"} for n in range(3000))),
    )
    assert code == 0, err
    process = batchaio(emulator, "tasks", "list", job, "--format", "jsonl", "--select", "id")
    assert process.stdout is not None and process.stderr is not None
    assert orjson.loads(process.stdout.readline()) == {"id": "l0"}
    process.stdout.close()  # as `| head -1` does
    assert process.wait(timeout=30) == 1
    assert process.stderr.read() == b""
