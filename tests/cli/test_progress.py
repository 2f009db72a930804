"""What the progress display and the summary say, and the exit code of a submission: pure, with tables."""

from __future__ import annotations

import io

import pytest

from batchaio import BulkAddReport
from batchaio.cli._errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK
from batchaio.cli._progress import (
    PlainDisplay,
    Tally,
    choose_mode,
    estimate_total,
    format_elapsed,
    progress_text,
    summary_lines,
)
from batchaio.cli._submit import add_exit_code


@pytest.mark.parametrize(
    ("requested", "terminal", "term", "mode"),
    [
        ("auto", True, "xterm-256color", "live"),
        ("auto", True, None, "live"),
        ("auto", True, "dumb", "plain"),
        ("auto", False, "xterm", "plain"),
        ("live", False, None, "live"),
        ("plain", True, "xterm", "plain"),
        ("off", True, "xterm", "off"),
    ],
)
def test_mode(requested: str, terminal: bool, term: str | None, mode: str) -> None:
    assert choose_mode(requested, is_terminal=terminal, term=term) == mode


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0:00:00"), (5.9, "0:00:05"), (65, "0:01:05"), (3723, "1:02:03"), (-1, "0:00:00")],
)
def test_elapsed(seconds: float, text: str) -> None:
    assert format_elapsed(seconds) == text


@pytest.mark.parametrize(
    ("read", "bytes_read", "size", "done", "estimate"),
    [
        (100, 5_000, 50_000, False, 1_000),
        (100, 5_000, None, False, None),
        (0, 0, 50_000, False, None),
        (100, 50_000, 50_000, False, 100),
        (123, 4_000, 50_000, True, 123),
        (10, 5_000, 5_001, False, 10),
    ],
)
def test_estimate_total(
    read: int, bytes_read: int, size: int | None, done: bool, estimate: int | None
) -> None:
    assert estimate_total(read, bytes_read, size, done=done) == estimate


@pytest.mark.parametrize(
    ("tally", "elapsed", "expected", "exact", "text"),
    [
        (
            Tally(created=12_345, failed=2),
            1.5,
            20_000,
            False,
            "12,347/~20,000 tasks  created 12,345  existing 0  failed 2  8,231/s  0:00:01",
        ),
        (
            Tally(existing=600),
            2.0,
            600,
            True,
            "600/600 tasks  created 0  existing 600  failed 0  300/s  0:00:02",
        ),
        (Tally(), 0.0, None, True, "0 tasks  created 0  existing 0  failed 0  0/s  0:00:00"),
        (
            Tally(created=10, in_doubt=3, pending=4),
            10.0,
            None,
            True,
            "10 tasks  created 10  existing 0  failed 0  in doubt 3  1/s  0:00:10",
        ),
    ],
)
def test_progress_line(tally: Tally, elapsed: float, expected: int | None, exact: bool, text: str) -> None:
    assert progress_text(tally, elapsed, expected, exact=exact) == text


def test_progress_line_has_no_escape_codes() -> None:
    assert "\x1b" not in progress_text(Tally(created=1), 1.0, 2)


@pytest.mark.parametrize(
    ("tally", "interrupted", "lines"),
    [
        (
            Tally(created=20_000),
            False,
            ["done in 2.0 s: 20,000 tasks, 20,000 created, 0 already existed, 0 failed (10,000 tasks/s)"],
        ),
        (
            Tally(existing=20_000),
            False,
            ["done in 2.0 s: 20,000 tasks, 0 created, 20,000 already existed, 0 failed (10,000 tasks/s)"],
        ),
        (
            Tally(created=5, in_doubt=2, pending=3),
            True,
            [
                "interrupted after 2.0 s: 10 tasks, 5 created, 0 already existed, 0 failed (5 tasks/s)",
                "2 in doubt (a request carrying them may have been applied): run the same command again to "
                "settle them",
                "3 not created: run the same command again to add them",
            ],
        ),
        (
            Tally(created=4),
            True,
            [
                "interrupted after 2.0 s: 4 tasks, 4 created, 0 already existed, 0 failed (2 tasks/s)",
                "the rest of the input was not read: run the same command again to add it",
            ],
        ),
    ],
)
def test_summary(tally: Tally, interrupted: bool, lines: list[str]) -> None:
    assert summary_lines(tally, 2.0, interrupted=interrupted) == lines


@pytest.mark.parametrize(
    ("tally", "interrupted", "code"),
    [
        (Tally(created=3, existing=2), False, EXIT_OK),
        (Tally(), False, EXIT_OK),
        (Tally(created=3, failed=1), False, EXIT_FAILED),
        (Tally(created=3, in_doubt=1), False, EXIT_FAILED),
        (Tally(created=3, pending=1), False, EXIT_FAILED),
        (Tally(created=3), True, EXIT_INTERRUPTED),
        (Tally(failed=3), True, EXIT_INTERRUPTED),
    ],
)
def test_exit_code_of_a_submission(tally: Tally, interrupted: bool, code: int) -> None:
    assert add_exit_code(tally, interrupted=interrupted) == code


def test_tally_of_a_report_counts_unreadable_lines_as_failed() -> None:
    report = BulkAddReport(created=4, existing=1, failed=2, in_doubt=["a"], pending=["b", "c"])
    assert Tally.of(report, unreadable=3) == Tally(created=4, existing=1, failed=5, in_doubt=1, pending=2)


def test_plain_display_prints_whole_lines() -> None:
    out = io.StringIO()
    display = PlainDisplay(out, interval=0.5)
    display.start()
    display.update("one", 1, None)
    display.update("two", 2, 2)
    display.stop()
    assert out.getvalue() == "one\ntwo\n"
    assert display.refresh_seconds == 0.5
