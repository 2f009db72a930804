"""The $filter / $select subset."""

from __future__ import annotations

import pytest

from batchaio.emulator._odata import FilterError, parse_filter, parse_select, project

TASK = {
    "id": "Task-7",
    "state": "completed",
    "creationTime": "2024-07-01T10:00:00.1234567Z",
    "executionInfo": {"exitCode": 0, "retryCount": "2"},
    "name": "it's",
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("state eq 'completed'", True),
        ("state eq 'Completed'", True),
        ("state ne 'completed'", False),
        ("id eq 'task-7' and state eq 'active'", False),
        ("id eq 'x' or (state eq 'completed' and executionInfo/exitCode eq 0)", True),
        ("not (state eq 'completed')", False),
        ("executionInfo/retryCount ge 2", True),
        ("executionInfo/retryCount gt 2", False),
        ("creationTime lt datetime'2024-07-01T10:00:01Z'", True),
        ("creationTime gt '2024-07-01T09:00:00Z'", True),
        ("startswith(id,'task')", True),
        ("endswith(id,'-8')", False),
        ("substringof('sk-',id)", True),
        ("name eq 'it''s'", True),
        ("missing eq null", True),
    ],
)
def test_filter(text: str, expected: bool) -> None:
    assert parse_filter(text)(TASK) is expected


@pytest.mark.parametrize("text", ["", "state eq", "(state eq 'a'", "state eq 'a' extra", "state @ 'a'"])
def test_invalid_filters_raise(text: str) -> None:
    with pytest.raises(FilterError):
        parse_filter(text)


def test_select_projects_top_level_properties_case_insensitively() -> None:
    assert project(TASK, parse_select("ID, state")) == {"id": "Task-7", "state": "completed"}
