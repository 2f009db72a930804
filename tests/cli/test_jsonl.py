"""JSON Lines of task bodies: each line in the REST API's names is a task, or a failure naming the rule."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import pytest

from batchaio.cli._jsonl import BadLine, LineFailure, TaskFile, _available_lines, line_number, parse_task


def test_a_task_in_the_rest_api_names() -> None:
    task = parse_task(
        b'{"id": "t1", "commandLine": "echo hi", "constraints": {"maxTaskRetryCount": 2, '
        b'"maxWallClockTime": "PT1H"}, "environmentSettings": [{"name": "A", "value": "1"}], '
        b'"resourceFiles": [{"httpUrl": "https://x/y", "filePath": "y"}], "requiredSlots": 2}'
    )
    assert task.id == "t1"
    assert task.command_line == "echo hi"
    assert task.constraints is not None and task.constraints.max_task_retry_count == 2
    assert task.constraints.max_wall_clock_time is not None
    assert task.constraints.max_wall_clock_time.total_seconds() == 3600
    assert task.required_slots == 2


@pytest.mark.parametrize(
    ("line", "code", "message", "task_id"),
    [
        (b"not json", "InvalidJson", "not JSON", None),
        (b'{"id": "t1", ', "InvalidJson", "not JSON", None),
        (b"[1, 2]", "NotAnObject", "not list", None),
        (b'"t1"', "NotAnObject", "not str", None),
        (
            b'{"id": "t1", "command_line": "x"}',
            "InvalidTask",
            "unknown properties for BatchTaskCreateContent: command_line",
            "t1",
        ),
        (
            b'{"id": "t2", "constraints": {"retries": 1}}',
            "InvalidTask",
            "BatchTaskConstraints: retries",
            "t2",
        ),
        (b'{"id": "t3", "commandLine": 5}', "InvalidTask", "expected a string", "t3"),
        (b'{"id": 7, "commandLine": "x"}', "InvalidTask", "invalid task", None),
    ],
)
def test_lines_that_are_not_tasks(line: bytes, code: str, message: str, task_id: str | None) -> None:
    with pytest.raises(BadLine) as caught:
        parse_task(line)
    assert caught.value.code == code
    assert message in caught.value.message
    assert caught.value.task_id == task_id


@pytest.mark.parametrize(
    ("chunks", "blocks"),
    [
        ([b'{"a":1}\n{"b":2}\n', b""], [[b'{"a":1}\n', b'{"b":2}\n'], []]),
        ([b'{"a":', b'1}\n{"b"', b":2}", b""], [[b'{"a":1}\n'], [b'{"b":2}'], []]),
        ([b"", b""], [[]]),
        ([b"\n\n", b""], [[b"\n", b"\n"], []]),
    ],
)
def test_pipe_blocks_hold_whole_lines_as_they_arrive(chunks: list[bytes], blocks: list[list[bytes]]) -> None:
    class Pipe:
        def __init__(self) -> None:
            self.chunks = list(chunks)

        def read1(self, size: int) -> bytes:
            return self.chunks.pop(0)

        read = read1

    assert list(_available_lines(Pipe())) == blocks  # type: ignore[arg-type]


async def _read_all(source: TaskFile) -> list[str | None]:
    tasks = source.tasks()
    if isinstance(tasks, AsyncIterator):
        return [task.id async for task in tasks]
    return [task.id for task in tasks]


@pytest.mark.parametrize(
    ("index", "skips", "line"),
    [
        (0, [], 1),
        (5, [], 6),
        (0, [0], 2),  # a blank first line
        (0, [0, 0, 0], 4),
        (3, [1, 1], 6),  # two bad lines after the first task
        (0, [1, 1], 1),
        (1, [1, 1], 4),
        (2, [5], 3),  # a blank line further on does not move earlier tasks
    ],
)
def test_line_numbers(index: int, skips: list[int], line: int) -> None:
    assert line_number(index, skips) == line


@pytest.mark.parametrize("piped", [False, True])
def test_a_file_is_read_with_line_numbers_and_bad_lines_reported(tmp_path: Path, piped: bool) -> None:
    content = (
        b'\xef\xbb\xbf{"id": "a", "commandLine": "x"}\n'
        b"\n"
        b"oops\n"
        b'{"id": "b", "commandLine": "x"}\r\n'
        b'{"id": "c", "commandLine": "x"}'
    )
    bad: list[LineFailure] = []
    if piped:
        source = TaskFile("-", bad.append, stdin=io.BytesIO(content))
    else:
        path = tmp_path / "tasks.jsonl"
        path.write_bytes(content)
        source = TaskFile(str(path), bad.append)
    ids = anyio.run(_read_all, source)
    source.close()
    assert ids == ["a", "b", "c"]
    assert bad == [LineFailure(3, None, "InvalidJson", bad[0].message)]
    assert [source.line_of(index) for index in range(3)] == [1, 4, 5]
    assert source.tasks_read == 3 and source.done
    assert source.bytes_read == len(content)
    assert source.size == (None if piped else len(content))


def test_stop_ends_the_input_after_the_block_being_read(tmp_path: Path) -> None:
    path = tmp_path / "tasks.jsonl"
    path.write_bytes(b"".join(b'{"id": "t%d", "commandLine": "x"}\n' % n for n in range(5000)))
    source = TaskFile(str(path), lambda failure: None)

    count = 0
    tasks = source.tasks()
    assert isinstance(tasks, Iterator)  # a regular file: a plain iterator
    for _ in tasks:
        count += 1
        if count == 10:
            source.stop()
    source.close()
    assert count == 10
