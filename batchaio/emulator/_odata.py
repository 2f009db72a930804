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

from batchaio.emulator._wire import parse_time

__all__ = ["FilterError", "Predicate", "parse_filter", "parse_select", "project"]

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


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self._tokens = tokens
        self._index = 0

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

    def parse(self) -> Predicate:
        predicate = self._or()
        if self._peek() is not None:
            raise FilterError(f"unexpected token {self._peek()[1]!r}")  # type: ignore[index]
        return predicate

    def _or(self) -> Predicate:
        terms = [self._and()]
        while self._keyword("or"):
            terms.append(self._and())
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
            inner = self._unary()
            return lambda item: not inner(item)
        token = self._peek()
        if token == ("punct", "("):
            self._next()
            inner = self._or()
            self._expect(")")
            return inner
        left = self._operand()
        operator = self._keyword(*_COMPARISONS)
        if operator is None:
            return lambda item: left(item) is True
        right = self._operand()
        return _comparison(operator, left, right)

    def _operand(self) -> Operand:
        kind, value = self._next()
        if kind == "string":
            text = value[1:-1].replace("''", "'")
            return lambda item: text
        if kind in ("datetime", "guid"):
            literal = value[value.index("'") + 1 : -1]
            if kind == "datetime":
                moment = parse_time(literal)
                if moment is None:
                    raise FilterError(f"invalid datetime literal {literal!r}")
                return lambda item: moment
            return lambda item: literal
        if kind == "number":
            number: float | int = float(value) if "." in value else int(value)
            return lambda item: number
        if kind == "word":
            lowered = value.lower()
            if lowered in ("true", "false"):
                flag = lowered == "true"
                return lambda item: flag
            if lowered == "null":
                return lambda item: None
            if lowered in _FUNCTIONS and self._peek() == ("punct", "("):
                return self._function(lowered)
            path = value.split("/")
            return lambda item: _lookup(item, path)
        raise FilterError(f"unexpected token {value!r}")

    def _function(self, name: str) -> Operand:
        self._expect("(")
        first = self._operand()
        self._expect(",")
        second = self._operand()
        self._expect(")")
        if name == "substringof":
            first, second = second, first

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


def parse_filter(text: str) -> Predicate:
    """Compile an OData ``$filter`` expression into a predicate over JSON objects; raise ``FilterError``."""
    tokens = _tokenize(text)
    if not tokens:
        raise FilterError("empty expression")
    return _Parser(tokens).parse()


def parse_select(text: str) -> list[str]:
    """The property names of a ``$select`` list."""
    return [name.strip() for name in text.split(",") if name.strip()]


def project(item: Mapping[str, Any], names: list[str]) -> dict[str, Any]:
    """Keep the top-level properties named in ``names`` (names match without regard to case)."""
    wanted = {name.lower() for name in names}
    return {key: value for key, value in item.items() if key.lower() in wanted}
