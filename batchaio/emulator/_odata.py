"""The OData subset that Batch list operations accept: ``$filter`` predicates and ``$select`` projections.

Supported in ``$filter``: ``eq ne gt ge lt le``, ``and or not``, parentheses, property paths with ``/``
(``executionInfo/exitCode``), string literals in single quotes (``''`` escapes a quote), numbers, ``true``,
``false``, ``null``, ``datetime'2024-07-01T00:00:00Z'`` (a plain quoted RFC 3339 string compared with a
timestamp property works too), and ``startswith(prop,'x')`` / ``endswith(prop,'x')`` /
``substringof('x',prop)``. String comparisons ignore case, as the service's enum and id comparisons do.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from batchaio.emulator import _constants as C
from batchaio.emulator._wire import parse_time

__all__ = ["Allowed", "FilterError", "Predicate", "parse_filter", "parse_select", "project"]

Predicate = Callable[[Mapping[str, Any]], bool]


class FilterError(ValueError):
    """The ``$filter`` text is not a supported OData expression."""


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<datetime>datetime'[^']*')
      | (?P<guid>guid'[^']*')
      | (?P<string>'(?:[^']|'')*')
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<punct>[(),])
      | (?P<word>[A-Za-z_$][A-Za-z0-9_./$]*)
    )""",
    re.VERBOSE,
)
_COMPARISONS = {"eq", "ne", "gt", "ge", "lt", "le"}
_FUNCTIONS = {"startswith", "endswith", "substringof"}
_MISSING = object()
# Names the filter reference uses for a property the JSON calls otherwise.
_ALIASES = {"lastmodifiedtime": "lastModified"}


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise FilterError(f"unexpected text at position {position}")
        kind = match.lastgroup
        assert kind is not None
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


Operand = Callable[[Mapping[str, Any]], Any]
# What a list operation lets ``$filter`` use: property path (lower case) -> the operators allowed on it
# (``eq ne gt ge lt le``, and ``startswith`` for the function).
Allowed = Mapping[str, frozenset[str]]


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]], allowed: Allowed | None) -> None:
        self._tokens = tokens
        self._index = 0
        self._allowed = allowed
        self._depth = 0

    def _peek(self) -> tuple[str, str] | None:
        return self._tokens[self._index] if self._index < len(self._tokens) else None

    def _next(self) -> tuple[str, str]:
        token = self._peek()
        if token is None:
            raise FilterError("unexpected end of expression")
        self._index += 1
        return token

    def _keyword(self, *words: str) -> str | None:
        token = self._peek()
        if token is not None and token[0] == "word" and token[1].lower() in words:
            self._index += 1
            return token[1].lower()
        return None

    def _expect(self, punct: str) -> None:
        kind, value = self._next()
        if kind != "punct" or value != punct:
            raise FilterError(f"expected {punct!r}")

    def _check(self, path: str | None, operator: str) -> None:
        """Refuse ``operator`` on ``path`` (``None``: a literal) unless the operation allows it."""
        if self._allowed is None:
            return
        if path is None:
            raise FilterError(f"{operator} needs a property the operation can filter on")
        operators = self._allowed.get(path.lower())
        if operators is None:
            raise FilterError(f"filtering on {path} is not supported by this operation")
        if operator not in operators:
            raise FilterError(f"{operator} is not supported on {path}")

    def parse(self) -> Predicate:
        predicate = self._or()
        if self._peek() is not None:
            raise FilterError(f"unexpected token {self._peek()[1]!r}")  # type: ignore[index]
        return predicate

    def _or(self) -> Predicate:
        self._depth += 1
        if self._depth > C.MAX_FILTER_DEPTH:
            raise FilterError(f"the expression is nested more than {C.MAX_FILTER_DEPTH} levels deep")
        terms = [self._and()]
        while self._keyword("or"):
            terms.append(self._and())
        self._depth -= 1
        if len(terms) == 1:
            return terms[0]
        return lambda item: any(term(item) for term in terms)

    def _and(self) -> Predicate:
        terms = [self._unary()]
        while self._keyword("and"):
            terms.append(self._unary())
        if len(terms) == 1:
            return terms[0]
        return lambda item: all(term(item) for term in terms)

    def _unary(self) -> Predicate:
        if self._keyword("not"):
            self._depth += 1
            if self._depth > C.MAX_FILTER_DEPTH:
                raise FilterError(f"the expression is nested more than {C.MAX_FILTER_DEPTH} levels deep")
            inner = self._unary()
            self._depth -= 1
            return lambda item: not inner(item)
        token = self._peek()
        if token == ("punct", "("):
            self._next()
            inner = self._or()
            self._expect(")")
            return inner
        left, left_path = self._operand()
        operator = self._keyword(*_COMPARISONS)
        if operator is None:
            if self._allowed is not None and left_path is not None:
                raise FilterError(f"{left_path} needs a comparison")
            return lambda item: left(item) is True
        right, right_path = self._operand()
        self._check(left_path if left_path is not None else right_path, operator)
        return _comparison(operator, left, right)

    def _operand(self) -> tuple[Operand, str | None]:
        """An operand, and its property path when it is one."""
        kind, value = self._next()
        if kind == "string":
            text = value[1:-1].replace("''", "'")
            return (lambda item: text), None
        if kind in ("datetime", "guid"):
            literal = value[value.index("'") + 1 : -1]
            if kind == "datetime":
                moment = parse_time(literal)
                if moment is None:
                    raise FilterError(f"invalid datetime literal {literal!r}")
                return (lambda item: moment), None
            return (lambda item: literal), None
        if kind == "number":
            number = _number(value)
            return (lambda item: number), None
        if kind == "word":
            lowered = value.lower()
            if lowered in ("true", "false"):
                flag = lowered == "true"
                return (lambda item: flag), None
            if lowered == "null":
                return (lambda item: None), None
            if lowered in _FUNCTIONS and self._peek() == ("punct", "("):
                return self._function(lowered), None
            path = _ALIASES.get(lowered, value).split("/")
            return (lambda item: _lookup(item, path)), value
        raise FilterError(f"unexpected token {value!r}")

    def _function(self, name: str) -> Operand:
        self._expect("(")
        first, first_path = self._operand()
        self._expect(",")
        second, second_path = self._operand()
        self._expect(")")
        if name == "substringof":
            first, second = second, first
            first_path, second_path = second_path, first_path
        self._check(first_path, name)
        if self._allowed is not None and second_path is not None:
            raise FilterError(f"the second argument of {name} must be a literal")

        def call(item: Mapping[str, Any]) -> bool:
            subject, part = first(item), second(item)
            if not isinstance(subject, str) or not isinstance(part, str):
                return False
            subject, part = subject.lower(), part.lower()
            if name == "startswith":
                return subject.startswith(part)
            if name == "endswith":
                return subject.endswith(part)
            return part in subject

        return call


def _number(text: str) -> float | int:
    """A numeric literal; ``FilterError`` past the service's 64-bit range (a 5,000-digit number included)."""
    if len(text.lstrip("-").split(".")[0]) > C.MAX_FILTER_NUMBER_DIGITS:
        raise FilterError("the number is out of range")
    number: float | int = float(text) if "." in text else int(text)
    if not -(2**63) <= number < 2**63:
        raise FilterError("the number is out of range")
    return number


def _lookup(item: Mapping[str, Any], path: list[str]) -> Any:
    current: Any = item
    for name in path:
        if not isinstance(current, Mapping):
            return None
        value = current.get(name, _MISSING)
        if value is _MISSING:
            value = next((v for k, v in current.items() if k.lower() == name.lower()), None)
        current = value
    return current


def _coerce(left: Any, right: Any) -> tuple[Any, Any]:
    if isinstance(left, float | int) and not isinstance(left, bool) and isinstance(right, str):
        right = _as_number(right)
    elif isinstance(right, float | int) and not isinstance(right, bool) and isinstance(left, str):
        left = _as_number(left)
    if isinstance(left, str) and isinstance(right, str):
        return left.lower(), right.lower()
    return left, right


def _as_number(value: str) -> float | None:
    moment = parse_time(value)
    if moment is not None:
        return moment
    try:
        return float(value)
    except ValueError:
        return None


def _comparison(operator: str, left: Operand, right: Operand) -> Predicate:
    def compare(item: Mapping[str, Any]) -> bool:
        a, b = _coerce(left(item), right(item))
        if operator == "eq":
            return bool(a == b)
        if operator == "ne":
            return bool(a != b)
        if a is None or b is None:
            return False
        try:
            if operator == "gt":
                return bool(a > b)
            if operator == "ge":
                return bool(a >= b)
            if operator == "lt":
                return bool(a < b)
            return bool(a <= b)
        except TypeError:
            return False

    return compare


def parse_filter(text: str, allowed: Allowed | None = None) -> Predicate:
    """Compile an OData ``$filter`` expression into a predicate over JSON objects; raise ``FilterError``.

    With ``allowed``, only those properties and operators may appear (``and``/``or``/parentheses always may);
    without it, any property path and every operator of the module's subset."""
    tokens = _tokenize(text)
    if not tokens:
        raise FilterError("empty expression")
    return _Parser(tokens, allowed).parse()


def parse_select(text: str) -> list[str]:
    """The property names of a ``$select`` list."""
    return [name.strip() for name in text.split(",") if name.strip()]


def project(item: Mapping[str, Any], names: list[str]) -> dict[str, Any]:
    """Keep the top-level properties named in ``names`` (names match without regard to case)."""
    wanted = {name.lower() for name in names}
    return {key: value for key, value in item.items() if key.lower() in wanted}


_ORDERED = frozenset({"eq", "ne", "gt", "ge", "lt", "le"})
_EQUALITY = frozenset({"eq", "ne"})
_ID = _ORDERED | {"startswith"}


def _table(**columns: frozenset[str]) -> dict[str, frozenset[str]]:
    """A filter table from keyword arguments (``__`` stands for ``/`` in a property path)."""
    return {name.replace("__", "/").lower(): operators for name, operators in columns.items()}


_JOB_COLUMNS = {
    "state": _EQUALITY,
    "stateTransitionTime": _ORDERED,
    "creationTime": _ORDERED,
    "lastModified": _ORDERED,
    "executionInfo__startTime": _ORDERED,
    "executionInfo__endTime": _ORDERED,
    "executionInfo__poolId": _ID,
}
_PREPARATION = {
    f"{task}__{name}": operators
    for task in ("jobPreparationTaskExecutionInfo", "jobReleaseTaskExecutionInfo")
    for name, operators in (
        ("state", _EQUALITY),
        ("startTime", _ORDERED),
        ("endTime", _ORDERED),
        ("exitCode", _ORDERED),
        ("result", _EQUALITY),
    )
}
_FILES = _table(name=frozenset({"startswith"}))

# The properties and operators each list operation accepts in $filter (REST reference, "OData filters in
# Batch"), by route with its parameters emptied. ``lastModifiedTime`` is the name that page gives tasks'
# ``lastModified``; both are accepted.
FILTERABLE: dict[str, dict[str, frozenset[str]]] = {
    "/supportedimages": _table(osType=_EQUALITY, verificationType=_EQUALITY, nodeAgentSKUId=_EQUALITY),
    "/certificates": _table(state=_EQUALITY, stateTransitionTime=_ORDERED),
    "/pools/{}/nodes": _table(
        state=_EQUALITY,
        stateTransitionTime=_ORDERED,
        lastBootTime=_ORDERED,
        allocationTime=_ORDERED,
        startTaskInfo__state=_EQUALITY,
        startTaskInfo__result=_EQUALITY,
        startTaskInfo__exitCode=_ORDERED,
        startTaskInfo__startTime=_ORDERED,
        startTaskInfo__endTime=_ORDERED,
    ),
    "/nodecounts": _table(poolId=frozenset({"eq"})),
    "/jobs/{}/tasks/{}/files": _FILES,
    "/pools/{}/nodes/{}/files": _FILES,
    "/jobschedules/{}/jobs": _table(**_JOB_COLUMNS),
    "/jobschedules": _table(
        id=_ID,
        state=_EQUALITY,
        stateTransitionTime=_ORDERED,
        creationTime=_ORDERED,
        lastModified=_ORDERED,
        executionInfo__endTime=_ORDERED,
        schedule__doNotRunUntil=_ORDERED,
        schedule__doNotRunAfter=_ORDERED,
    ),
    "/jobs": _table(id=_ID, **_JOB_COLUMNS),
    "/pools": _table(
        id=_ID,
        state=_EQUALITY,
        stateTransitionTime=_ORDERED,
        allocationState=_EQUALITY,
        allocationStateTransitionTime=_ORDERED,
        creationTime=_ORDERED,
        enableAutoScale=_EQUALITY,
        lastModified=_ORDERED,
        vmSize=_EQUALITY,
        enableInterNodeCommunication=_EQUALITY,
    ),
    "/jobs/{}/jobpreparationandreleasetaskstatus": _table(poolId=_EQUALITY, nodeId=_EQUALITY, **_PREPARATION),
    "/jobs/{}/tasks": _table(
        id=_ID,
        state=_EQUALITY,
        stateTransitionTime=_ORDERED,
        creationTime=_ORDERED,
        lastModified=_ORDERED,
        lastModifiedTime=_ORDERED,
        executionInfo__startTime=_ORDERED,
        executionInfo__endTime=_ORDERED,
        executionInfo__exitCode=_ORDERED,
        executionInfo__result=_EQUALITY,
    ),
    "/poolusagemetrics": _table(poolId=frozenset({"eq", "ge", "gt", "le", "lt", "startswith"})),
}
