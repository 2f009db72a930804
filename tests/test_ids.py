"""ID validation and percent-encoding of path segments."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from batchaio._ids import encode_segment, entity_id, name_segment, path_id
from batchaio.errors import ValidationError


@pytest.mark.parametrize(
    "value",
    ["a", "job-1", "TASK_2", "0", "a" * 64, "Mixed-Case_id-9"],
)
def test_entity_ids_that_pass(value: str) -> None:
    assert entity_id(value, "job_id") == value


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("", "is empty"),
        ("a" * 65, "has 65 characters"),
        ("job 1", "contains ' '"),
        ("job/1", "contains '/'"),
        ("job.1", "contains '.'"),
        ("jöb", "contains 'ö'"),
        ("job\r\n", "contains '\\r'"),
        ("job%2F", "contains '%'"),
    ],
)
def test_entity_ids_that_fail_name_the_argument_and_the_rule(value: str, rule: str) -> None:
    with pytest.raises(ValidationError) as info:
        entity_id(value, "task_id")
    assert info.value.field == "task_id"
    message = str(info.value)
    assert message.startswith("task_id ")
    assert rule in message
    assert "1-64 characters of letters, digits, '-' and '_'" in message


def test_entity_id_rejects_non_strings() -> None:
    with pytest.raises(ValidationError, match="pool_id must be a str, not int"):
        entity_id(5, "pool_id")


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        ("wd/out put.txt", "wd%2Fout%20put.txt"),
        ("startup/stdout.txt", "startup%2Fstdout.txt"),
        ("tvmps_abc123_d", "tvmps_abc123_d"),
        ("user.name", "user.name"),
        ("a?b#c&d=e", "a%3Fb%23c%26d%3De"),
        ("100%", "100%25"),
        ("ünïcødé", "%C3%BCn%C3%AFc%C3%B8d%C3%A9"),
        ("...", "..."),
        ("wd/../x", "wd%2F..%2Fx"),
        ("sha1", "sha1"),
    ],
)
def test_names_become_one_encoded_segment(value: str, encoded: str) -> None:
    assert name_segment(value, "file_path") == encoded
    assert encode_segment(value) == encoded
    assert "/" not in encoded


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("", "is empty"),
        ("a\nb", "'\\n'"),
        ("a\rb", "'\\r'"),
        ("\x00", "'\\x00'"),
        (".", "must not be '.'"),
        ("..", "must not be '..'"),
    ],
)
@pytest.mark.parametrize("check", [name_segment, path_id])
def test_names_that_fail(check: Callable[[object, str], str], value: str, fragment: str) -> None:
    with pytest.raises(ValidationError) as info:
        check(value, "node_id")
    assert info.value.field == "node_id"
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        ("job-1", "job-1"),
        ("nightly:job-1", "nightly%3Ajob-1"),
        ("a" * 64 + ":job-123", "a" * 64 + "%3Ajob-123"),
        ("job.1", "job.1"),
        ("job/1", "job%2F1"),
    ],
)
def test_path_ids_of_existing_entities_follow_the_loose_rule(value: str, encoded: str) -> None:
    assert path_id(value, "job_id") == encoded


def test_path_ids_have_a_maximum_length() -> None:
    with pytest.raises(ValidationError, match="job_id has 1025 characters") as info:
        path_id("a" * 1025, "job_id")
    assert info.value.field == "job_id"


def test_name_rejects_non_strings() -> None:
    with pytest.raises(ValidationError, match="user_name must be a str"):
        name_segment(None, "user_name")
