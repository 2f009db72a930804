"""The OData $filter builder."""

from __future__ import annotations

import enum
from datetime import datetime, timedelta, timezone

import pytest

from batchaio import filters as f
from batchaio.errors import ValidationError
from batchaio.filters import Filter


class _State(str, enum.Enum):
    ACTIVE = "active"


UTC = timezone.utc


@pytest.mark.parametrize(
    ("built", "expected"),
    [
        (f.eq("state", "active"), "state eq 'active'"),
        (f.ne("state", _State.ACTIVE), "state ne 'active'"),
        (f.eq("id", "it's"), "id eq 'it''s'"),
        (f.eq("id", "''"), "id eq ''''''"),
        (f.gt("executionInfo/exitCode", 0), "executionInfo/exitCode gt 0"),
        (f.le("executionInfo/exitCode", -1), "executionInfo/exitCode le -1"),
        (f.eq("enableAutoScale", True), "enableAutoScale eq true"),
        (f.ne("enableAutoScale", False), "enableAutoScale ne false"),
        (f.lt("ratio", 0.5), "ratio lt 0.5"),
        (
            f.ge("creationTime", datetime(2024, 1, 1, tzinfo=UTC)),
            "creationTime ge datetime'2024-01-01T00:00:00Z'",
        ),
        (
            f.lt(
                "stateTransitionTime",
                datetime(2024, 7, 1, 12, 30, 5, 123456, tzinfo=timezone(timedelta(hours=2))),
            ),
            "stateTransitionTime lt datetime'2024-07-01T10:30:05.123456Z'",
        ),
        (f.startswith("name", "wd/"), "startswith(name, 'wd/')"),
        (
            f.and_(f.eq("state", "active"), f.gt("creationTime", datetime(2024, 1, 1, tzinfo=UTC))),
            "(state eq 'active') and (creationTime gt datetime'2024-01-01T00:00:00Z')",
        ),
        (
            f.or_(f.eq("state", "a"), f.eq("state", "b"), f.eq("state", "c")),
            "(state eq 'a') or (state eq 'b') or (state eq 'c')",
        ),
        (f.and_(f.eq("id", "x")), "id eq 'x'"),
        (f.not_(f.eq("state", "completed")), "not (state eq 'completed')"),
        (f.eq("a", 1) & f.eq("b", 2), "(a eq 1) and (b eq 2)"),
        (f.eq("a", 1) | ~f.eq("b", 2), "(a eq 1) or (not (b eq 2))"),
    ],
)
def test_builder_table(built: Filter, expected: str) -> None:
    assert str(built) == expected
    assert built.expression == expected


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: f.eq("state eq 'x' or 1", "a"), "prop"),
        (lambda: f.eq("", "a"), "prop"),
        (lambda: f.eq("creationTime", datetime(2024, 1, 1)), "value"),
        (lambda: f.eq("x", float("nan")), "value"),
        (lambda: f.eq("x", None), "value"),  # type: ignore[arg-type]
        (lambda: f.eq("x", [1]), "value"),  # type: ignore[arg-type]
        (lambda: f.and_(), "clauses"),
        (lambda: f.and_("state eq 'a'"), "clauses"),  # type: ignore[arg-type]
    ],
)
def test_bad_input_is_rejected(call: object, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        call()  # type: ignore[operator]
    assert info.value.field == field


def test_datetime_literals_use_the_wire_format_and_refuse_naive_values() -> None:
    from datetime import datetime, timedelta, timezone

    from batchaio import filters as flt
    from batchaio._serde import format_datetime
    from batchaio.errors import ValidationError

    value = datetime(2024, 7, 1, 12, 0, 0, 5, tzinfo=timezone(timedelta(hours=2)))
    assert (
        flt.literal(value) == f"datetime'{format_datetime(value)}'" == "datetime'2024-07-01T10:00:00.000005Z'"
    )
    try:
        flt.literal(datetime(2024, 7, 1))
    except ValidationError as err:
        assert err.field == "value" and "timezone-aware" in str(err)
    else:
        raise AssertionError("a naive datetime was accepted")
