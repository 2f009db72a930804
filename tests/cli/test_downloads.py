"""``files download --resume``: where a download goes on from (pure), and a resumed download end to end."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from batchaio.cli import cli
from batchaio.cli._cmd_files import resume_offset
from batchaio.emulator import Emulator
from tests.cli.conftest import wait_until_completed

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
LATER = T0 + timedelta(minutes=5)


@pytest.mark.parametrize(
    ("local_size", "local_modified", "remote_size", "remote_modified", "start"),
    [
        (None, None, 100, T0, 0),  # no local copy
        (0, LATER, 100, T0, 0),  # an empty one
        (40, LATER, 100, T0, 40),  # a partial copy written after the file last changed: append
        (100, LATER, 100, T0, None),  # already whole
        (40, T0, 100, LATER, 0),  # the file changed after the copy was written: start over
        (140, LATER, 100, T0, 0),  # longer than the file: not its start
        (40, LATER, None, T0, 0),  # the service gave no size
        (40, LATER, 100, None, 0),  # ... or no date
        (40, T0, 100, T0, 40),  # same second
    ],
)
def test_resume_offset(
    local_size: int | None,
    local_modified: datetime | None,
    remote_size: int | None,
    remote_modified: datetime | None,
    start: int | None,
) -> None:
    assert resume_offset(local_size, local_modified, remote_size, remote_modified) == start


def test_resume_appends_to_a_partial_copy(
    env: dict[str, str], make_job: object, emulator: Emulator, tmp_path: Path
) -> None:
    job = make_job()  # type: ignore[operator]
    runner = CliRunner(env=env)
    task = orjson.dumps({"id": "say", "commandLine": "echo hello there"}).decode() + "\n"
    assert runner.invoke(cli, ["tasks", "add", job, "-"], input=task).exit_code == 0
    wait_until_completed(emulator, job, 1)
    target = tmp_path / "stdout.txt"
    target.write_bytes(b"hello")  # as an interrupted download would leave it
    args = ["files", "download", "--job", job, "--task", "say", "stdout.txt", "-o", str(target), "--resume"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "resumed at byte 5" in result.stderr
    assert target.read_text() == "hello there\n"
    again = runner.invoke(cli, args)
    assert again.exit_code == 0 and "already complete (12 bytes)" in again.stderr
    assert target.read_text() == "hello there\n"
    refused = runner.invoke(cli, [*args, "--offset", "3"])
    assert refused.exit_code == 2 and "--resume downloads a whole file" in refused.stderr
