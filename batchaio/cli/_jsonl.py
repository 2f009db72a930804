"""JSON Lines of task bodies, in the REST API's own (camelCase) names, read lazily from a file or a pipe.

:func:`parse_task` turns one line into a :class:`~batchaio.models.BatchTaskCreateContent` through the
library's converter, refusing names the API does not have (a snake_case ``command_line`` would otherwise be
dropped without a word). :class:`TaskFile` reads blocks of lines: from a regular file in the event loop (a
read never waits long), from a pipe or terminal in a daemon thread, so a slow producer never blocks the loop
and Ctrl-C stops at once.
"""

from __future__ import annotations

import bisect
import itertools
import os
import stat
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

import anyio
import anyio.from_thread
import anyio.lowlevel
import orjson
from cattrs.errors import ForbiddenExtraKeysError

from batchaio import _constants as C
from batchaio._redact import redact_text
from batchaio._serde import strict_converter
from batchaio.models import BatchTaskCreateContent

__all__ = ["BadLine", "LineFailure", "TaskFile", "line_number", "parse_task"]

_BOM = b"\xef\xbb\xbf"
INVALID_JSON = "InvalidJson"
NOT_AN_OBJECT = "NotAnObject"
INVALID_TASK = "InvalidTask"


class BadLine(Exception):
    """A line that is not a task body: ``code`` (``InvalidJson``, ``NotAnObject``, ``InvalidTask``)."""

    def __init__(self, code: str, message: str, task_id: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.task_id = task_id


@dataclass(frozen=True)
class LineFailure:
    """An input line that could not be made a task, reported like a task that failed."""

    line: int
    task_id: str | None
    code: str
    message: str


def parse_task(raw: bytes) -> BatchTaskCreateContent:
    """One JSON object in the REST API's names -> a task; :class:`BadLine` when it is not one."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadLine(INVALID_JSON, f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BadLine(NOT_AN_OBJECT, f"a task is a JSON object, not {type(data).__name__}")
    task_id = data.get("id") if isinstance(data.get("id"), str) else None
    try:
        return strict_converter.structure(data, BatchTaskCreateContent)
    except ForbiddenExtraKeysError as exc:
        names = ", ".join(sorted(exc.extra_fields))
        raise BadLine(
            INVALID_TASK,
            f"unknown properties for {exc.cl.__name__}: {names} (use the REST API's camelCase names)",
            task_id,
        ) from None
    except (TypeError, ValueError, AttributeError, KeyError) as exc:
        raise BadLine(INVALID_TASK, redact_text(f"invalid task: {exc}"), task_id) from None


def line_number(index: int, skips: Sequence[int]) -> int:
    """The line (1-based) of the ``index``-th task, given ``skips``: for each line that was not a task (blank
    or unreadable), in order, how many tasks had been read before it."""
    return index + 1 + bisect.bisect_right(skips, index)


class TaskFile:
    """The tasks of one JSON Lines input (a path, or ``-`` for standard input), read as they are needed.

    Blank lines are skipped; a line that is not a task is passed to ``on_bad_line`` and skipped, so the rest
    go on. ``tasks_read``, ``bytes_read``, ``size`` (``None`` for a pipe) and ``done`` tell the progress
    display how far the reading is; ``line_of(index)`` gives the line of the ``index``-th task read.
    :meth:`stop` ends the input early. A regular file is read in the event loop (as a plain iterator, the
    cheapest input for the bulk engine); a pipe or terminal by a thread.
    """

    def __init__(
        self, name: str, on_bad_line: Callable[[LineFailure], None], stdin: BinaryIO | None = None
    ) -> None:
        self.name = name
        self._on_bad_line = on_bad_line
        self._stream: BinaryIO = (stdin or sys.stdin.buffer) if name == "-" else open(name, "rb")  # noqa: SIM115
        mode = os.fstat(self._stream.fileno()).st_mode if _has_fileno(self._stream) else 0
        self._regular = stat.S_ISREG(mode)
        self.size: int | None = os.fstat(self._stream.fileno()).st_size if self._regular else None
        self.tasks_read = 0
        self.bytes_read = 0
        self.done = False
        self._line = 0
        self._skips: list[int] = []
        self._stopped = False
        self._waiting: anyio.CancelScope | None = None

    def close(self) -> None:
        if self.name != "-":
            self._stream.close()

    def line_of(self, index: int) -> int:
        return line_number(index, self._skips)

    def stop(self) -> None:
        """Read no more (Ctrl-C): the tasks already read are still submitted."""
        self._stopped = True
        if self._waiting is not None:
            self._waiting.cancel()

    def tasks(self) -> Iterator[BatchTaskCreateContent] | AsyncIterator[BatchTaskCreateContent]:
        """The tasks, read lazily."""
        return self._from_file() if self._regular else self._from_pipe()

    def _from_file(self) -> Iterator[BatchTaskCreateContent]:
        while True:
            block = list(itertools.islice(self._stream, C.CLI_READ_BLOCK_LINES))
            if not block:
                self.done = True
                return
            for raw in block:
                if self._stopped:  # set by stop() between two tasks
                    return
                task = self._take(raw)
                if task is not None:
                    yield task

    async def _from_pipe(self) -> AsyncIterator[BatchTaskCreateContent]:
        async for block in self._blocks_from_thread():
            for raw in block:
                task = self._take(raw)
                if task is not None:
                    yield task
            if self._stopped:
                return
        self.done = True

    def _take(self, raw: bytes) -> BatchTaskCreateContent | None:
        self._line += 1
        self.bytes_read += len(raw)
        if self._line == 1 and raw.startswith(_BOM):
            raw = raw[len(_BOM) :]
        if not raw.strip():
            self._skips.append(self.tasks_read)
            return None
        try:
            task = parse_task(raw)
        except BadLine as bad:
            self._skips.append(self.tasks_read)
            self._on_bad_line(LineFailure(self._line, bad.task_id, bad.code, bad.message))
            return None
        self.tasks_read += 1
        return task

    async def _blocks_from_thread(self) -> AsyncIterator[list[bytes]]:
        send, receive = anyio.create_memory_object_stream[Any](C.CLI_READ_AHEAD_BLOCKS)
        token = anyio.lowlevel.current_token()
        stream = self._stream

        def read() -> None:
            try:
                for block in _available_lines(stream):
                    anyio.from_thread.run(send.send, block, token=token)
            except BaseException:  # the loop is gone or stopped listening: nothing left to read for
                return

        # A daemon thread: one blocked reading a pipe must not keep the process alive after Ctrl-C.
        threading.Thread(target=read, name="batchaio-cli-reader", daemon=True).start()
        with receive:
            while not self._stopped:
                with anyio.CancelScope() as self._waiting:
                    block = await receive.receive()
                scope, self._waiting = self._waiting, None
                if scope.cancel_called:  # stop() while waiting for the next block
                    return
                if isinstance(block, OSError):
                    raise block
                if not block:
                    return
                yield block


def _available_lines(stream: BinaryIO) -> Iterator[list[bytes] | OSError]:
    """Blocks of whole lines as they arrive from a pipe (a slow producer's lines are not held back until a
    block fills); an ``OSError`` while reading, then an empty block at the end."""
    read = getattr(stream, "read1", stream.read)
    partial = b""
    while True:
        try:
            data = read(C.CLI_READ_BYTES)
        except OSError as exc:
            yield exc
            return
        if not data:
            yield [partial] if partial else []
            if partial:
                yield []
            return
        lines = (partial + data).split(b"\n")
        partial = lines.pop()
        if lines:
            yield [line + b"\n" for line in lines]


def _has_fileno(stream: BinaryIO) -> bool:
    try:
        stream.fileno()
    except (OSError, ValueError, AttributeError):
        return False
    return True
