"""Progress of a submission: what to show (pure functions) and where (a live line on a terminal through rich,
plain lines in a log, or nothing).

The submission driver calls :meth:`Display.update` every :attr:`Display.refresh_seconds` with the line
:func:`progress_text` makes, so a stalled run still shows that time passes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TextIO

from batchaio import _constants as C
from batchaio._bulk_report import BulkAddReport

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

__all__ = [
    "Display",
    "LiveDisplay",
    "NullDisplay",
    "PlainDisplay",
    "Tally",
    "choose_mode",
    "estimate_total",
    "format_elapsed",
    "make_display",
    "progress_text",
    "summary_lines",
]

Mode = Literal["live", "plain", "off"]


@dataclass(frozen=True)
class Tally:
    """The counts of a submission at one moment; ``failed`` includes input lines that could not be read."""

    created: int = 0
    existing: int = 0
    failed: int = 0
    in_doubt: int = 0
    pending: int = 0

    @classmethod
    def of(cls, report: BulkAddReport, unreadable: int = 0) -> Tally:
        return cls(
            created=report.created,
            existing=report.existing,
            failed=report.failed + unreadable,
            in_doubt=len(report.in_doubt),
            pending=len(report.pending),
        )

    @property
    def total(self) -> int:
        return self.created + self.existing + self.failed + self.in_doubt + self.pending


def choose_mode(requested: str, *, is_terminal: bool, term: str | None) -> Mode:
    """``auto`` is a live line on a terminal that can redraw one, plain lines otherwise."""
    if requested == "auto":
        return "live" if is_terminal and term != "dumb" else "plain"
    if requested in ("live", "plain", "off"):
        return requested  # type: ignore[return-value]
    raise ValueError(f"unknown progress mode {requested!r}")


def format_elapsed(seconds: float) -> str:
    """``0:00:05``, ``1:02:03``: hours, minutes and whole seconds."""
    whole = max(int(seconds), 0)
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


def estimate_total(tasks_read: int, bytes_read: int, size: int | None, *, done: bool = False) -> int | None:
    """How many tasks the input holds: exact once it is read to the end, else extrapolated from the bytes
    read so far and the file's size; ``None`` when the size is unknown (a pipe) or nothing is read yet."""
    if done:
        return tasks_read
    if size is None or bytes_read <= 0 or tasks_read <= 0:
        return None
    if bytes_read >= size:
        return tasks_read
    return max(round(tasks_read * size / bytes_read), tasks_read)


def progress_text(tally: Tally, elapsed: float, expected: int | None = None, *, exact: bool = True) -> str:
    """One progress line: ``12,347/~20,000 tasks  created 12,345  existing 0  failed 2  8,123/s  0:00:05``."""
    settled = tally.created + tally.existing + tally.failed
    of = "" if expected is None else f"/{'' if exact else '~'}{expected:,}"
    rate = settled / elapsed if elapsed > 0 else 0.0
    parts = [
        f"{settled:,}{of} tasks",
        f"created {tally.created:,}",
        f"existing {tally.existing:,}",
        f"failed {tally.failed:,}",
    ]
    if tally.in_doubt:
        parts.append(f"in doubt {tally.in_doubt:,}")
    parts += [f"{rate:,.0f}/s", format_elapsed(elapsed)]
    return "  ".join(parts)


def summary_lines(tally: Tally, elapsed: float, *, interrupted: bool = False) -> list[str]:
    """The final summary: the counts, then what is left to do, if anything."""
    rate = tally.total / elapsed if elapsed > 0 else 0.0
    head = "interrupted after" if interrupted else "done in"
    lines = [
        f"{head} {elapsed:.1f} s: {tally.total:,} tasks, {tally.created:,} created, "
        f"{tally.existing:,} already existed, {tally.failed:,} failed ({rate:,.0f} tasks/s)"
    ]
    if tally.in_doubt:
        lines.append(
            f"{tally.in_doubt:,} in doubt (a request carrying them may have been applied): "
            "run the same command again to settle them"
        )
    if tally.pending:
        lines.append(f"{tally.pending:,} not created: run the same command again to add them")
    elif interrupted and not tally.in_doubt:
        lines.append("the rest of the input was not read: run the same command again to add it")
    return lines


class Display:
    """Where progress goes; this base shows nothing."""

    refresh_seconds: float = C.CLI_PLAIN_PROGRESS_SECONDS

    def start(self) -> None:
        """Called once before the first update."""

    def update(self, text: str, completed: int, total: int | None) -> None:
        """Show ``text`` (and, where a bar is drawn, ``completed`` of ``total``)."""

    def stop(self) -> None:
        """Called once at the end, after a last update."""


class NullDisplay(Display):
    """``--progress off``."""


class PlainDisplay(Display):
    """A line every ``interval`` seconds, without escape codes: for logs, pipes and CI."""

    def __init__(self, out: TextIO, interval: float = C.CLI_PLAIN_PROGRESS_SECONDS) -> None:
        self.out = out
        self.refresh_seconds = interval
        self._last = ""

    def update(self, text: str, completed: int, total: int | None) -> None:
        print(text, file=self.out, flush=True)
        self._last = text


class LiveDisplay(Display):
    """One line redrawn in place on a terminal: a bar (pulsing while the total is unknown) and the counts."""

    refresh_seconds = C.CLI_LIVE_REFRESH_SECONDS

    def __init__(self, out: TextIO) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn

        self._progress: Progress = Progress(
            BarColumn(bar_width=30),
            TextColumn("{task.description}"),
            console=Console(file=out, highlight=False),
            auto_refresh=False,
        )
        self._task: TaskID | None = None

    def start(self) -> None:
        self._progress.start()
        self._task = self._progress.add_task("starting", total=None)

    def update(self, text: str, completed: int, total: int | None) -> None:
        assert self._task is not None
        self._progress.update(self._task, description=text, completed=completed, total=total)
        self._progress.refresh()

    def stop(self) -> None:
        self._progress.stop()


def make_display(mode: Mode, out: TextIO, interval: float) -> Display:
    if mode == "live":
        return LiveDisplay(out)
    if mode == "plain":
        return PlainDisplay(out, interval)
    return NullDisplay()
