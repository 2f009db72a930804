"""The demo (``python -m batchaio.demo``) end to end against the emulator, with a few hundred tasks."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest

from batchaio import SharedKeyCredential
from batchaio.demo import (
    Console,
    DemoError,
    DemoOptions,
    Target,
    local_emulator,
    main,
    parse_args,
    print_summary,
    run_demo,
)
from batchaio.emulator import Emulator

pytestmark = pytest.mark.integration

TASKS = 300


@pytest.fixture
def batch_emulator() -> Iterator[Emulator]:
    """A second emulator, served on its own port, that the demo reaches as it would a real account."""
    emulator = Emulator()
    emulator.start()
    yield emulator
    emulator.close()


async def test_run_demo_creates_runs_lists_and_downloads_every_task() -> None:
    out = io.StringIO()
    with local_emulator() as target:
        summary = await run_demo(DemoOptions(tasks=TASKS, concurrency=4), target, Console(out))
        assert target.emulator is not None
        store = target.emulator.store
        assert [job.state for job in store.jobs.items.values()] == ["deleting"]
        assert [pool.state for pool in store.pools.items.values()] == ["deleting"]

    assert summary.ok
    report = summary.submitted
    assert report is not None
    assert (report.created, report.existing, report.failed, report.total) == (TASKS, 0, 0, TASKS)
    assert report.requests == TASKS // 100
    assert (summary.completed, summary.succeeded, summary.failed, summary.listed) == (TASKS, TASKS, 0, TASKS)
    assert summary.states == {"completed": TASKS}
    assert summary.exit_codes == {0: TASKS}
    assert summary.stdout_task == "task-00000"
    assert summary.stdout == "Hello from task-00000\n"
    assert list(summary.phases) == ["pool", "job", "submit", "wait", "list", "stdout", "cleanup"]
    assert summary.polls >= 1
    assert summary.emulator_requests is not None
    assert summary.emulator_requests > report.requests + summary.polls
    text = out.getvalue()
    assert f"[submit]  {TASKS}/{TASKS}  created {TASKS}  existing 0  failed 0" in text
    assert "          | Hello from task-00000" in text
    assert "[cleanup] deleted job batchaio-demo-job-" in text


async def test_the_wait_shows_tasks_queued_within_the_pool_slots() -> None:
    out = io.StringIO()
    with local_emulator() as target:
        options = DemoOptions(tasks=TASKS, nodes=1, task_slots_per_node=8, poll_interval=0.01)
        summary = await run_demo(options, target, Console(out))
    assert summary.ok
    # One node of 8 slots: never more than 8 tasks at once, so the counts move over several polls.
    assert 1 <= summary.peak_running <= 8
    assert summary.polls >= 2
    assert "8 task slots each" in out.getvalue()
    print_summary(summary, Console(out))
    assert f"  running    at most {summary.peak_running} tasks seen running at once" in out.getvalue()


def test_parse_args_reads_task_slots() -> None:
    assert parse_args(["--task-slots", "16"]).task_slots_per_node == 16
    assert parse_args([]).task_slots_per_node is None


def test_main_prints_summary_and_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--tasks", str(TASKS), "--concurrency", "3"]) == 0
    text = capsys.readouterr().out
    assert "tasks on a local emulator at http://127.0.0.1:" in text
    assert f"  tasks      {TASKS} requested, {TASKS} created, 0 existing, 0 failed to create" in text
    assert f"  completed  {TASKS} ({TASKS} succeeded, 0 failed); {TASKS} listed" in text
    assert "  result     OK" in text
    # Not a terminal: periodic plain lines, no carriage returns or escape codes.
    assert "\r" not in text
    assert "\x1b" not in text


def test_main_against_an_account_endpoint_uses_it_and_keeps_resources_when_asked(
    batch_emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    assert batch_emulator.endpoint is not None
    argv = ["--tasks", "150", "--endpoint", batch_emulator.endpoint, "--account", batch_emulator.account]
    argv += ["--key", batch_emulator.key, "--poll-interval", "0.05", "--keep", "--nodes", "1"]

    assert main(argv) == 0

    text = capsys.readouterr().out
    assert f"tasks on the account at {batch_emulator.endpoint}" in text
    assert batch_emulator.key not in text
    assert "[cleanup]" not in text
    (pool,) = batch_emulator.store.pools.items.values()
    assert pool.doc["vmSize"] == "Standard_D2s_v3"
    assert pool.doc["targetDedicatedNodes"] == 1
    assert pool.doc["taskSlotsPerNode"] == 4
    configuration = pool.doc["virtualMachineConfiguration"]
    assert configuration["nodeAgentSKUId"] == "batch.node.ubuntu 22.04"
    assert configuration["imageReference"]["offer"] == "0001-com-ubuntu-server-jammy"
    assert [job.state for job in batch_emulator.store.jobs.items.values()] == ["active"]


def test_main_on_an_existing_pool_does_not_create_or_delete_it(
    batch_emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    assert batch_emulator.endpoint is not None
    argv = ["--tasks", "120", "--endpoint", batch_emulator.endpoint, "--account", batch_emulator.account]
    argv += ["--key", batch_emulator.key, "--poll-interval", "0.05", "--pool-id", "mine"]
    batch_emulator.store.create_pool({"id": "mine", "targetDedicatedNodes": 1, "taskSlotsPerNode": 8}, 0.0)

    assert main(argv) == 0

    text = capsys.readouterr().out
    assert "[pool]" not in text
    assert "on pool mine" in text
    assert "[cleanup] deleted job batchaio-demo-job-" in text
    assert " and pool" not in text
    assert [pool.id for pool in batch_emulator.store.pools.items.values()] == ["mine"]


def test_main_fails_with_exit_code_1_and_never_prints_the_key(
    batch_emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    assert batch_emulator.endpoint is not None
    wrong_key = "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXk="
    argv = ["--tasks", "10", "--endpoint", batch_emulator.endpoint, "--account", batch_emulator.account]

    assert main([*argv, "--key", wrong_key]) == 1

    text = capsys.readouterr().out
    assert "demo failed: AuthenticationError" in text
    assert wrong_key not in text
    assert len(batch_emulator.store.pools) == 0


def test_parse_args_reads_the_environment_and_wants_all_three_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BATCH_ENDPOINT", "https://acct.westeurope.batch.azure.com")
    monkeypatch.setenv("BATCH_ACCOUNT_NAME", "acct")
    monkeypatch.setenv("BATCH_ACCOUNT_KEY", "a2V5")
    options = parse_args(["--tasks", "7", "--pool-id", "p1"])
    assert (options.endpoint, options.account, options.key) == (
        "https://acct.westeurope.batch.azure.com",
        "acct",
        "a2V5",
    )
    assert (options.tasks, options.pool_id, options.cleanup) == (7, "p1", True)

    monkeypatch.delenv("BATCH_ACCOUNT_KEY")
    with pytest.raises(SystemExit):
        parse_args([])
    with pytest.raises(SystemExit):
        parse_args(["--tasks", "0"])


def test_parse_args_defaults_to_the_emulator_and_10000_tasks(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BATCH_ENDPOINT", "BATCH_ACCOUNT_NAME", "BATCH_ACCOUNT_KEY"):
        monkeypatch.delenv(name, raising=False)
    options = parse_args([])
    assert options == DemoOptions()
    assert options.tasks == 10_000


def test_console_rewrites_one_line_on_a_terminal() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Terminal()
    console = Console(out)
    console.status("one")
    console.status("two")  # within the refresh interval: skipped
    console.status("three", final=True)
    assert out.getvalue() == "\r\x1b[2Kone\r\x1b[2Kthree\n"


def test_console_ends_an_open_status_line_before_saying_anything() -> None:
    """Issue 9 item 24: after Ctrl-C mid-phase the cleanup lines landed on the live progress line."""

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Terminal()
    console = Console(out)
    console.status("submitted 10 tasks")
    console.say("[cleanup] deleted job j")
    console.say("[cleanup] deleted pool p")
    assert (
        out.getvalue() == "\r\x1b[2Ksubmitted 10 tasks\n[cleanup] deleted job j\n[cleanup] deleted pool p\n"
    )


def test_console_log_shows_each_phase_first_status_at_once() -> None:
    out = io.StringIO()
    console = Console(out)
    console.status("submit 1")
    console.status("submit 2")  # within the log interval: skipped
    console.status("submit done", final=True)
    console.status("wait 1")
    assert out.getvalue().splitlines() == ["submit 1", "submit done", "wait 1"]


async def test_wait_gives_up_after_the_timeout_and_still_cleans_up() -> None:
    emulator = Emulator(task_duration=(60, 60))
    endpoint = emulator.start()
    out = io.StringIO()
    try:
        target = Target(endpoint, SharedKeyCredential(emulator.account, emulator.key), emulator)
        options = DemoOptions(tasks=5, timeout=0.3, poll_interval=0.05)
        with pytest.raises(DemoError, match=r"5 tasks still not completed after 0\.3 s"):
            await run_demo(options, target, Console(out))
        assert [job.state for job in emulator.store.jobs.items.values()] == ["deleting"]
    finally:
        emulator.close()
    assert "[cleanup] deleted pool batchaio-demo-pool-" in out.getvalue()


async def test_wait_stops_at_pool_resize_errors_and_cleanup_failures_are_reported() -> None:
    emulator = Emulator(task_duration=(60, 60))
    endpoint = emulator.start()
    out = io.StringIO()
    try:
        target = Target(endpoint, SharedKeyCredential(emulator.account, emulator.key), emulator)
        original = emulator.store.resize_pool

        def failing_resize(pool: Any, dedicated: int, low: int, now: float) -> None:
            original(pool, dedicated, low, now)
            pool.resize_errors = [{"code": "AccountCoreQuotaReached", "message": "no cores"}]

        emulator.store.resize_pool = failing_resize  # type: ignore[method-assign]
        emulator.faults.fail_next("server_error", 50, path_pattern="^/jobs/batchaio-demo-job-[^/]*$")
        with pytest.raises(DemoError, match="AccountCoreQuotaReached: no cores"):
            await run_demo(DemoOptions(tasks=5, poll_interval=0.05), target, Console(out))
    finally:
        emulator.close()
    text = out.getvalue()
    assert "[cleanup] could not delete job batchaio-demo-job-" in text
    assert "[cleanup] deleted pool batchaio-demo-pool-" in text
