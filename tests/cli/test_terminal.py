"""The progress display in a real pseudo-terminal: one line redrawn in place while tasks go in; and no escape
codes at all when the output is piped."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from batchaio.cli import cli
from batchaio.emulator import Emulator
from tests.cli.conftest import environment_of
from tests.cli.test_subprocess import new_job

pytestmark = pytest.mark.integration

TASKS = 4000


@pytest.fixture(scope="module")
def slow_emulator() -> Iterator[Emulator]:
    """Each addtaskcollection takes 0.2 s, so the run lasts about a second and the line is redrawn often."""
    emulator = Emulator(discard_tasks=True)
    emulator.faults.configure(latency=0.2, path_pattern="addtaskcollection")
    emulator.start()
    yield emulator
    emulator.close()


@pytest.fixture
def tasks_file(tmp_path: Path) -> Path:
    path = tmp_path / "tasks.jsonl"
    path.write_bytes(
        b"".join(orjson.dumps({"id": f"t{n}", "commandLine": "x"}) + b"\n" for n in range(TASKS))
    )
    return path


def _command(job: str, tasks_file: Path) -> list[str]:
    return [sys.executable, "-m", "batchaio", "tasks", "add", job, str(tasks_file)]


def _run_in_terminal(command: list[str], env: dict[str, str]) -> tuple[int, str]:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 140, 0, 0))
    process = subprocess.Popen(command, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True)
    os.close(slave)
    chunks: list[bytes] = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child's side closed
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return process.wait(timeout=30), b"".join(chunks).decode("utf-8", "replace")


def test_a_live_line_on_a_terminal(slow_emulator: Emulator, tasks_file: Path) -> None:
    job = new_job(slow_emulator, "tty")
    env = {**os.environ, **environment_of(slow_emulator), "TERM": "xterm-256color", "COLUMNS": "140"}
    env.pop("NO_COLOR", None)
    code, screen = _run_in_terminal(_command(job, tasks_file), env)
    assert code == 0, screen
    assert "\x1b[" in screen  # drawn with escape codes ...
    assert "━" in screen  # ... as a bar
    counts = [int(n.replace(",", "")) for n in re.findall(r"created ([\d,]+)", screen)]
    assert len(set(counts)) >= 3, screen  # redrawn as tasks went in
    assert counts == sorted(counts)
    assert f"{TASKS:,}/{TASKS:,} tasks  created {TASKS:,}  existing 0  failed 0" in screen
    assert f"{TASKS:,} tasks, {TASKS:,} created, 0 already existed, 0 failed" in screen


def test_no_escape_codes_when_piped(slow_emulator: Emulator, tasks_file: Path) -> None:
    job = new_job(slow_emulator, "pipe")
    env = {**os.environ, **environment_of(slow_emulator), "TERM": "xterm-256color"}
    result = subprocess.run(
        [*_command(job, tasks_file)[:3], "--progress-interval", "0.2", *_command(job, tasks_file)[3:]],
        capture_output=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0
    output = (result.stdout + result.stderr).decode()
    assert "\x1b" not in output and "\r" not in output
    progress = [line for line in result.stderr.decode().splitlines() if " tasks  created " in line]
    assert len(progress) >= 2  # periodic whole lines
    assert progress[-1].startswith(f"{TASKS:,}/{TASKS:,} tasks  created {TASKS:,}")


def test_jobs_wait_shows_live_counts_on_a_terminal(emulator: Emulator, make_job: Callable[[], str]) -> None:
    job = make_job()
    tasks = "".join(
        orjson.dumps({"id": f"s{n}", "commandLine": "sleep 1"}).decode() + "\n" for n in range(20)
    )
    assert (
        CliRunner(env=environment_of(emulator)).invoke(cli, ["tasks", "add", job, "-"], input=tasks).exit_code
        == 0
    )
    env = {**os.environ, **environment_of(emulator), "TERM": "xterm-256color"}
    code, screen = _run_in_terminal(
        [sys.executable, "-m", "batchaio", "jobs", "wait", job, "--poll-interval", "0.1"], env
    )
    assert code == 0, screen
    assert "\x1b[" in screen and "━" in screen
    frames = set(re.findall(r"\d+/20 completed \(\d+ succeeded, 0 failed\)  running \d+  active \d+", screen))
    assert len(frames) >= 2, screen  # the counts redrawn as they changed
    assert "20 tasks completed: 20 succeeded, 0 failed" in screen
