"""``examples/bulk_pipeline.py`` run as its users run it: a script, against an emulator in its own process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

from tests.examples.conftest import EXAMPLES


def test_the_pipeline_reports_the_failed_shards(tmp_path: Path) -> None:
    report = tmp_path / "failures.json"
    result = subprocess.run(
        [
            sys.executable,
            str(EXAMPLES / "bulk_pipeline.py"),
            "--emulator",
            "--tasks",
            "300",
            "--report",
            str(report),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "submitted: 300 created, 0 existing, 0 refused" in result.stdout
    assert "completed 300/300 (294 succeeded)" in result.stdout
    written = orjson.loads(report.read_bytes())
    assert written["failed"] == 6
    [group] = written["groups"]
    assert (group["failure_code"], group["exit_code"], group["count"]) == ("FailureExitCode", 3, 6)
    assert [example["task_id"] for example in group["examples"]] == [
        "shard-000049",
        "shard-000099",
        "shard-000149",
    ]
    assert group["examples"][0]["stderr_tail"] == "shard 49 has a bad input\n"
