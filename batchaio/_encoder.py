"""The send path specialised: per model class, one generated function that checks and builds the wire dict.

:func:`batchaio._serde.encode` checks a model (``_serde._checker``) and then unstructures it with the request
converter: two passes over the fields, each read and compared twice. The function generated here does both
in one pass for values of exactly the expected classes, with the same wire rules (the request converter's
writers for enums, date-times, durations and int64 strings). Anything else (a missing required field, a
subclass, a tuple for a list, a naive datetime, a wrong type) makes it give up, and the caller takes the
general path, which gives the error with its field path or the same dict. So the result is always what
``encode`` gives; ``tests/test_encoder.py`` compares the two on generated models, valid or not.
"""

from __future__ import annotations

import linecache
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar, get_args, get_origin

import attrs
import orjson

from batchaio._enums import OpenEnum
from batchaio._serde import (
    _checker,
    _enum_writer,
    _Invalid,
    _request_converter,
    _wire_fields,
    format_datetime,
    format_duration,
)

__all__ = ["encoder_for"]

T = TypeVar("T")


class _Unusual(Exception):
    """A value the one-pass function does not handle; the general path decides."""


def _unusual() -> Any:
    raise _Unusual


def _aware_datetime(value: Any) -> str:
    if value.__class__ is not datetime or value.tzinfo is None or value.utcoffset() is None:
        raise _Unusual
    return format_datetime(value)


_PASS_THROUGH: dict[Any, str] = {str: "str", int: "int", bool: "bool"}
_builders: dict[type, Callable[[Any], dict[str, Any]] | None] = {}


class _Source:
    """The source of one class's function, and the names it refers to."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.namespace: dict[str, Any] = {
            "_Unusual": _Unusual,
            "_unusual": _unusual,
            "_datetime": _aware_datetime,
            "_duration": format_duration,
            "_timedelta": timedelta,
        }

    def bind(self, value: Any, name: str) -> str:
        self.namespace[name] = value
        return name

    def item(self, tp: Any, name: str, x: str = "x") -> str | None:
        """An expression of the variable ``x`` giving its wire value, or calling ``_unusual()``; None if
        not handled."""
        if tp in _PASS_THROUGH:
            return f"{x} if {x}.__class__ is {_PASS_THROUGH[tp]} else _unusual()"
        if tp is float:
            return f"{x} if {x}.__class__ is float or {x}.__class__ is int else _unusual()"
        if tp is datetime:
            return f"_datetime({x})"
        if tp is timedelta:
            return f"_duration({x}) if {x}.__class__ is _timedelta else _unusual()"
        if isinstance(tp, type) and issubclass(tp, OpenEnum):
            enum = self.bind(tp, f"E_{name}")
            write = self.bind(_enum_writer(tp), f"W_{name}")
            return f"{write}({x}) if {x}.__class__ is {enum} or {x}.__class__ is str else _unusual()"
        if attrs.has(tp):
            builder = _builder(tp)
            if builder is None:
                return None
            model = self.bind(tp, f"M_{name}")
            build = self.bind(builder, f"B_{name}")
            return f"{build}({x}) if {x}.__class__ is {model} else _unusual()"
        return None

    def value(self, tp: Any, int64: bool, name: str) -> str | None:
        """An expression of ``x`` (a field's value, not None) giving its wire value; None if not handled."""
        if int64:
            return "str(x) if x.__class__ is int else _unusual()" if tp is int else None
        origin, args = get_origin(tp), get_args(tp)
        if origin is list:
            item = self.item(args[0], name, "i")
            return None if item is None else f"[{item} for i in x] if x.__class__ is list else _unusual()"
        if origin is dict:
            item = self.item(args[1], name, "i")
            if item is None:
                return None
            key = "k if k.__class__ is str else _unusual()"
            return f"{{{key}: {item} for k, i in x.items()}} if x.__class__ is dict else _unusual()"
        return self.item(tp, name)


def _builder(cls: type) -> Callable[[Any], dict[str, Any]] | None:
    """The one-pass function of ``cls`` (raising :class:`_Unusual`), or None where it would not be exact:
    a field defaulting to something other than None, or a type without a rule here."""
    if cls in _builders:
        return _builders[cls]
    source = _Source()
    # Provisional entry for self-referencing models: calls go through the namespace, filled in below.
    _builders[cls] = lambda o: source.namespace["build"](o)
    source.lines += ["def build(o):", "    d = {}"]
    for field, info, tp in _wire_fields(cls):
        if info.read_only:
            continue
        expression = source.value(tp, info.int64_as_string, field.name)
        if field.default is not None or expression is None:
            _builders[cls] = None
            return None
        missing = "raise _Unusual" if info.required else "pass"
        source.lines += [
            f"    x = o.{field.name}",
            f"    if x is None: {missing}",
            f"    else: d[{info.name!r}] = {expression}",
        ]
    source.lines.append("    return d")
    text = "\n".join(source.lines) + "\n"
    filename = f"<batchaio encode {cls.__module__}.{cls.__qualname__}>"
    linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)  # for tracebacks
    exec(compile(text, filename, "exec"), source.namespace)  # built from field names and fixed snippets only
    build: Callable[[Any], dict[str, Any]] = source.namespace["build"]
    _builders[cls] = build
    return build


def encoder_for(cls: type[T]) -> Callable[[T], bytes]:
    """:func:`~batchaio._serde.encode` specialised to instances of exactly ``cls``: the same checks, errors
    and bytes, in one pass over the fields (the bulk engine encodes each task of a million on its own)."""
    build = _builder(cls)
    check = _checker(cls)
    unstructure = _request_converter.get_unstructure_hook(cls)
    dumps = orjson.dumps

    def general(model: T) -> bytes:
        try:
            check(model)
        except _Invalid as invalid:
            raise invalid.error() from None
        return dumps(unstructure(model))

    if build is None:
        return general

    def encode_one(model: T) -> bytes:
        if model.__class__ is cls:
            try:
                return dumps(build(model))
            except _Unusual:
                pass
        return general(model)

    return encode_one
