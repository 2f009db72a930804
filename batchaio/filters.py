"""Build OData ``$filter`` expressions for the Batch list operations without hand-quoting values.

Each builder returns a :class:`Filter`, which every ``filter=`` argument accepts (plain strings still work)::

    from batchaio import filters as f

    f.and_(f.eq("state", "active"), f.gt("creationTime", datetime(2024, 1, 1, tzinfo=timezone.utc)))
    # Filter("(state eq 'active') and (creationTime gt datetime'2024-01-01T00:00:00Z')")

Property names are the service's camelCase JSON names, with ``/`` for nested ones
(``executionInfo/exitCode``). Values are rendered by type: ``str`` quoted with ``'`` doubled, enum members by
value, ``bool`` as ``true``/``false``, numbers as written, timezone-aware ``datetime`` as
``datetime'YYYY-MM-DDTHH:MM:SS[.ffffff]Z'``.
Which properties and operators a list operation accepts is decided by the service; see "OData filters in
Batch" in the service documentation. The builders also combine with ``&``, ``|`` and ``~``.
"""

from __future__ import annotations

import enum
import re
from datetime import datetime

import attrs

from batchaio._serde import format_datetime
from batchaio.errors import ValidationError

__all__ = [
    "Filter",
    "FilterValue",
    "and_",
    "eq",
    "ge",
    "gt",
    "le",
    "literal",
    "lt",
    "ne",
    "not_",
    "or_",
    "startswith",
]

FilterValue = str | bool | int | float | datetime | enum.Enum
"""The Python types a filter value may have."""

_PROPERTY = re.compile(r"[A-Za-z][A-Za-z0-9_]*(/[A-Za-z][A-Za-z0-9_]*)*")


@attrs.frozen
class Filter:
    """An OData filter expression; ``str(flt)`` is what is sent as ``$filter``."""

    expression: str

    def __str__(self) -> str:
        return self.expression

    def __and__(self, other: Filter) -> Filter:
        return and_(self, other)

    def __or__(self, other: Filter) -> Filter:
        return or_(self, other)

    def __invert__(self) -> Filter:
        return not_(self)


def eq(prop: str, value: FilterValue) -> Filter:
    """``prop eq value``."""
    return _compare(prop, "eq", value)


def ne(prop: str, value: FilterValue) -> Filter:
    """``prop ne value``."""
    return _compare(prop, "ne", value)


def gt(prop: str, value: FilterValue) -> Filter:
    """``prop gt value``."""
    return _compare(prop, "gt", value)


def ge(prop: str, value: FilterValue) -> Filter:
    """``prop ge value``."""
    return _compare(prop, "ge", value)


def lt(prop: str, value: FilterValue) -> Filter:
    """``prop lt value``."""
    return _compare(prop, "lt", value)


def le(prop: str, value: FilterValue) -> Filter:
    """``prop le value``."""
    return _compare(prop, "le", value)


def startswith(prop: str, prefix: str) -> Filter:
    """``startswith(prop, 'prefix')``: used by file listings (``name``) and ID filters."""
    return Filter(f"startswith({_property(prop)}, {literal(prefix)})")


def and_(*clauses: Filter) -> Filter:
    """All clauses hold; each clause is parenthesised."""
    return _join("and", clauses)


def or_(*clauses: Filter) -> Filter:
    """At least one clause holds; each clause is parenthesised."""
    return _join("or", clauses)


def not_(clause: Filter) -> Filter:
    """The clause does not hold."""
    return Filter(f"not ({_clause(clause)})")


def literal(value: FilterValue) -> str:
    """Render one value as an OData literal."""
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValidationError(f"filter value {value!r} is not a finite number", field="value")
        return repr(value)
    if isinstance(value, datetime):
        return f"datetime'{format_datetime(value, 'value')}'"
    raise ValidationError(f"cannot use a {type(value).__name__} as a filter value", field="value")


def _compare(prop: str, op: str, value: FilterValue) -> Filter:
    return Filter(f"{_property(prop)} {op} {literal(value)}")


def _property(prop: str) -> str:
    if not isinstance(prop, str) or not _PROPERTY.fullmatch(prop):
        raise ValidationError(
            f"filter property {prop!r} is not a property path (camelCase names joined by '/')", field="prop"
        )
    return prop


def _clause(clause: Filter) -> str:
    if not isinstance(clause, Filter):
        raise ValidationError(
            f"filter clauses must be Filter objects, not {type(clause).__name__}", field="clauses"
        )
    return clause.expression


def _join(op: str, clauses: tuple[Filter, ...]) -> Filter:
    if not clauses:
        raise ValidationError(f"{op}_() needs at least one clause", field="clauses")
    if len(clauses) == 1:
        return Filter(_clause(clauses[0]))
    return Filter(f" {op} ".join(f"({_clause(c)})" for c in clauses))
