"""Every wire rule of the Batch REST API, in one cattrs converter.

Public API (``converter`` is re-exported as ``batchaio.converter``; the others serve the transport,
operations and bulk code)::

    converter                             cattrs Converter: JSON-ready data <-> models, every rule below
    strict_converter                      same, but unknown keys (other than odata.*) raise
                                          cattrs.errors.ForbiddenExtraKeysError; for tests
    to_wire(model) -> dict[str, Any]      request body: required fields checked, read-only fields left out
    encode(model) -> bytes                orjson.dumps(to_wire(model))
    decode(cls, content) -> T             response body (bytes | str) -> cls; raises ValueError
    decode_page(cls, content) -> tuple[list[T], str | None]
                                          one page of a list operation: items and odata.nextLink

Wire rules (all driven by the :class:`~batchaio._fields.WireInfo` each generated field carries):

- names: the JSON name recorded in the field metadata, never derived at run time;
- ``None`` fields are omitted on output; unknown keys and ``odata.*`` keys are ignored on input;
- date-time: RFC 3339 with 0-7 fractional digits (the 7th is dropped) and ``Z`` or an offset;
  always parsed to an aware UTC datetime and written as ``2024-07-01T10:15:30.123456Z``
  (naive datetimes are refused: they are ambiguous);
- duration: ISO 8601 ``[-]P[nW][nD][T[nH][nM][n[.f]S]]`` to :class:`datetime.timedelta`, written
  as ``P1DT2H3M4.5S`` / ``PT0S``; the service's "unbounded" value ``P10675199DT2H48M5.4775807S``
  (.NET ``TimeSpan.MaxValue``) parses to :data:`UNBOUNDED_DURATION` and is written back exactly;
- int64-as-string: accepted as a JSON number or string, sent as a string;
- enums are open and matched without regard to case (see :mod:`batchaio._enums`); unknown values
  are kept and written back unchanged; a plain str naming a known value in another case is written
  with the value's canonical spelling;
- everything else (str, int, float, bool, lists, string maps) is plain JSON.

Required versus partial: every model field is optional, so partial responses (``$select``) and
fields the service stops sending never break parsing. What the schema marks required is enforced
only when the client sends a model: :func:`to_wire` and :func:`encode` raise
:class:`batchaio.errors.ValidationError` naming the first missing field as a dotted path from the
model passed in (message ``"value[3].command_line is required"``, ``field="value[3].command_line"``)
before any request is made. The same check refuses values of the wrong type (``"constraints.
max_task_retry_count must be an int, not str"``): str, int (not bool), float (int accepted), bool,
timezone-aware datetime, timedelta, enum member or str, the nested model class, lists (or tuples)
and str-keyed dicts of these. Read-only fields are the service's to set: they are never required and
are left out of request bodies at every depth, so a model fetched with ``get`` can be changed and
sent back as a replace (PUT) body (a :class:`~batchaio.models.BatchTask` sends only
``constraints``). ``converter.unstructure`` by contrast writes every field that is set, read-only
ones included (what the service itself sends; for the emulator and round-trip tests).

Every hook is built per class on first use from the field metadata. The unstructure functions are cattrs'
own; the structure functions (the read path, which listings run for every item) are Python source generated
here per model, one inlined check per field and the instance filled attribute by attribute; they give exactly
what cattrs' generic functions over the same rules give (``_make_converter(specialised=False)``, kept for
classes whose ``__init__`` does more than store and for the tests that compare the two). The required-field
check of each class is generated the same way.
"""

from __future__ import annotations

import gc
import linecache
import re
import sys
import types
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar, Union, get_args, get_origin

import attrs
import cattrs
import orjson
from cattrs.errors import ForbiddenExtraKeysError
from cattrs.fns import identity
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from batchaio import _constants as C
from batchaio._enums import OpenEnum
from batchaio._fields import WireInfo, wire_info
from batchaio.errors import ValidationError

__all__ = [
    "UNBOUNDED_DURATION",
    "converter",
    "decode",
    "decode_page",
    "encode",
    "format_datetime",
    "format_duration",
    "parse_datetime",
    "parse_duration",
    "strict_converter",
    "to_wire",
]

T = TypeVar("T")

_UTC = timezone.utc
_UNBOUNDED_TEXT = "P10675199DT2H48M5.4775807S"
UNBOUNDED_DURATION = timedelta(days=10675199, hours=2, minutes=48, seconds=5, microseconds=477580)
""".NET ``TimeSpan.MaxValue`` as the service sends it (no time limit), to microsecond precision."""

_DATETIME = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,7}))?(?:(Z)|([+-])(\d\d):(\d\d))\Z", re.ASCII
)
_DURATION = re.compile(
    r"(-)?P(?:(\d+)W)?(?:(\d+)D)?(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)(?:\.(\d{1,9}))?S)?)?\Z", re.ASCII
)
# Durations repeat (constraints, P7D, the unbounded value): parsed ones are kept, up to a bound.
_durations: dict[str, timedelta] = {_UNBOUNDED_TEXT: UNBOUNDED_DURATION}
_INTEGER = re.compile(r"[+-]?\d{1,19}", re.ASCII)
_FAST_ISOFORMAT = sys.version_info >= (3, 11)  # fromisoformat understands Z and 7 fractional digits
_fromisoformat = datetime.fromisoformat


# The usual spelling (upper-case T and Z, ASCII digits) is recognised by its shape: each digit written as 0
# and the result looked up among the shapes _DATETIME accepts. Same answer as the pattern, in half the time.
_ZERO_DIGITS = bytes.maketrans(b"123456789", b"000000000")
_DATETIME_SHAPES = frozenset(
    b"0000-00-00T00:00:00" + fraction + zone
    for fraction in [b""] + [b"." + b"0" * digits for digits in range(1, 8)]
    for zone in (b"Z", b"+00:00", b"-00:00")
)


def parse_datetime(value: str) -> datetime:
    """Parse a wire date-time (RFC 3339, 0-7 fractional digits, ``Z`` or offset) to aware UTC."""
    if (
        _FAST_ISOFORMAT
        and value.__class__ is str
        and value.encode("ascii", "replace").translate(_ZERO_DIGITS) in _DATETIME_SHAPES
    ):
        parsed = _fromisoformat(value)
    else:
        parsed = _parse_datetime_by_pattern(value)
    return parsed if parsed.tzinfo is _UTC else parsed.astimezone(_UTC)


def _parse_datetime_by_pattern(value: str) -> datetime:
    """:func:`parse_datetime` of any spelling (lower-case ``t`` and ``z`` too), without the UTC step."""
    match = _DATETIME.match(value)
    if match is None:
        match = _DATETIME.match(value.upper())  # RFC 3339 allows "t" and "z"
        if match is None:
            raise ValueError(f"invalid date-time: {value!r}")
        value = value.upper()
    return _fromisoformat(value) if _FAST_ISOFORMAT else _datetime_from_groups(match.groups())


def _datetime_from_groups(groups: tuple[Any, ...]) -> datetime:  # pragma: no cover - Python 3.10
    """The datetime a :data:`_DATETIME` match stands for (Python 3.10's fromisoformat reads no ``Z``)."""
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = groups
    micro = int(fraction[:6].ljust(6, "0")) if fraction else 0
    if zulu:
        tz = _UTC
    else:
        offset = timedelta(hours=int(off_h), minutes=int(off_m))
        tz = timezone(-offset if sign == "-" else offset)
    return datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micro, tzinfo=tz)


def format_datetime(value: datetime, field: str = "value") -> str:
    """Write a timezone-aware datetime as RFC 3339 UTC with ``Z`` (``2024-07-01T10:15:30.123456Z``).

    The one date-time formatter of the package (bodies, query parameters, filter literals). A naive
    datetime raises :class:`~batchaio.errors.ValidationError` naming ``field``: it is ambiguous.
    """
    if value.tzinfo is not _UTC:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValidationError(
                f"{field} must be timezone-aware (a naive datetime is ambiguous)", field=field
            )
        try:
            value = value.astimezone(_UTC)
        except OverflowError:
            raise ValidationError(f"{field} is out of range in UTC", field=field) from None
    return value.isoformat()[:-6] + "Z"


def parse_duration(value: str) -> timedelta:
    """Parse an ISO 8601 duration (days, hours, minutes, fractional seconds; weeks accepted)."""
    cached = _durations.get(value)
    if cached is not None:
        return cached
    match = _DURATION.match(value)
    if match is None or (match.lastindex or 1) == 1:
        raise ValueError(f"invalid duration: {value!r}")
    sign, weeks, days, hours, minutes, seconds, fraction = match.groups()
    result = timedelta(
        (int(days) if days else 0) + (int(weeks) * 7 if weeks else 0),
        (int(hours) * 3600 if hours else 0)
        + (int(minutes) * 60 if minutes else 0)
        + (int(seconds) if seconds else 0),
        int(fraction[:6].ljust(6, "0")) if fraction else 0,
    )
    if sign:
        result = -result
    if len(_durations) < C.MAX_CACHED_DURATIONS:
        _durations[value] = result
    return result


def format_duration(value: timedelta) -> str:
    """Write a timedelta as an ISO 8601 duration (``P1DT2H3M4.5S``, ``PT0S``)."""
    if value == UNBOUNDED_DURATION:
        return _UNBOUNDED_TEXT
    sign = ""
    if value < timedelta(0):
        sign, value = "-", -value
    hours, rest = divmod(value.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    text = f"{sign}P{value.days}D" if value.days else f"{sign}P"
    clock = ""
    if hours:
        clock += f"{hours}H"
    if minutes:
        clock += f"{minutes}M"
    if value.microseconds:
        clock += f"{seconds}.{value.microseconds:06d}".rstrip("0") + "S"
    elif seconds:
        clock += f"{seconds}S"
    if clock:
        return f"{text}T{clock}"
    return text if value.days else f"{sign}PT0S"


# Hooks per field type. A "reader" turns a JSON value (never None) into the Python value; a "writer"
# does the reverse.

_Reader = Callable[[Any], Any]
_Writer = Callable[[Any], Any]


def _wrong(value: Any, expected: str) -> Any:
    raise TypeError(f"expected {expected}, got {type(value).__name__} {_preview(value)}")


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _read_str(value: Any) -> str:
    return value if value.__class__ is str else _wrong(value, "a string")


def _read_int(value: Any) -> int:
    return value if value.__class__ is int else _wrong(value, "an integer")


def _read_int64(value: Any) -> int:
    """An int64 sent as a JSON string (``"120"``) or, as some services do, a number."""
    if value.__class__ is int:
        return value
    if value.__class__ is str and _INTEGER.fullmatch(value):
        return int(value)
    return _wrong(value, "an integer or integer string")  # type: ignore[no-any-return]


def _read_float(value: Any) -> float:
    cls = value.__class__
    if cls is float:
        return value  # type: ignore[no-any-return]
    return float(value) if cls is int else _wrong(value, "a number")


def _read_list(value: Any) -> list[Any]:
    return value if value.__class__ is list else _wrong(value, "a JSON array")


def _read_bool(value: Any) -> bool:
    if value.__class__ is bool:
        return bool(value)
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ValueError(f"invalid boolean: {value!r}")


def _enum_reader(enum_cls: type[OpenEnum]) -> _Reader:
    known = enum_cls._value2member_map_

    def read(value: Any) -> Any:
        member = known.get(value)
        return member if member is not None else enum_cls(value)

    return read


def _enum_writer(enum_cls: type[OpenEnum]) -> _Writer:
    """Members as their value; a plain str that names a known value in another case as that value's
    canonical spelling (``"TerminateJob"`` is sent as ``"terminatejob"``), any other str unchanged."""
    canonical = {member._value_.casefold(): member._value_ for member in enum_cls}

    def write(value: Any) -> Any:
        if isinstance(value, OpenEnum):
            return value._value_
        return canonical.get(value.casefold(), value) if isinstance(value, str) else value

    return write


_PRIMITIVE_READERS: dict[Any, _Reader] = {
    str: _read_str,
    int: _read_int,
    float: _read_float,
    bool: _read_bool,
    datetime: parse_datetime,
    timedelta: parse_duration,
}
_PRIMITIVE_WRITERS: dict[Any, _Writer] = {
    str: identity,
    int: identity,
    float: identity,
    bool: identity,
    datetime: format_datetime,
    timedelta: format_duration,
}


def _strip_optional(tp: Any) -> Any:
    if get_origin(tp) in (Union, types.UnionType):
        args = [arg for arg in get_args(tp) if arg is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def _reader(conv: cattrs.Converter, tp: Any) -> _Reader:
    if tp in _PRIMITIVE_READERS:
        return _PRIMITIVE_READERS[tp]
    if isinstance(tp, type) and issubclass(tp, OpenEnum):
        return _enum_reader(tp)
    if attrs.has(tp):
        hook = conv.get_structure_hook(tp)
        return lambda value: hook(value, tp) if value.__class__ is dict else _not_an_object(value, tp)
    origin, args = get_origin(tp), get_args(tp)
    if origin is list:
        item = _reader(conv, args[0])
        return lambda value: [item(x) for x in _read_list(value)]
    if origin is dict:
        item = _reader(conv, args[1])
        return lambda value: (
            {_read_str(k): item(x) for k, x in value.items()}
            if value.__class__ is dict
            else _wrong(value, "a JSON object")
        )
    raise TypeError(f"no wire rule for {tp!r}")


def _writer(conv: cattrs.Converter, tp: Any) -> _Writer:
    if tp in _PRIMITIVE_WRITERS:
        return _PRIMITIVE_WRITERS[tp]
    if isinstance(tp, type) and issubclass(tp, OpenEnum):
        return _enum_writer(tp)
    if attrs.has(tp):
        return conv.get_unstructure_hook(tp)
    origin, args = get_origin(tp), get_args(tp)
    if origin is list:
        item = _writer(conv, args[0])
        if item is identity:
            return list
        return lambda value: [item(x) for x in value]
    if origin is dict:
        item = _writer(conv, args[1])
        if item is identity:
            return dict
        return lambda value: {k: item(x) for k, x in value.items()}
    raise TypeError(f"no wire rule for {tp!r}")


_Hook = Callable[[Any, Any], Any]


def _optional_str(value: Any, _: Any) -> Any:
    return value if value.__class__ is str or value is None else _wrong(value, "a string")


def _optional_int(value: Any, _: Any) -> Any:
    return value if value.__class__ is int or value is None else _wrong(value, "an integer")


def _optional_int64(value: Any, _: Any) -> Any:
    return value if value.__class__ is int or value is None else _read_int64(value)


def _optional_float(value: Any, _: Any) -> Any:
    return value if value.__class__ is float or value is None else _read_float(value)


def _optional_datetime(value: Any, _: Any) -> Any:
    return None if value is None else parse_datetime(value)


def _optional_duration(value: Any, _: Any) -> Any:
    return None if value is None else parse_duration(value)


def _not_an_object(value: Any, model: type) -> Any:
    raise TypeError(f"expected a JSON object for {model.__name__}, got {type(value).__name__}")


_OPTIONAL_PRIMITIVES: dict[Any, _Hook] = {
    str: _optional_str,
    int: _optional_int,
    float: _optional_float,
    datetime: _optional_datetime,
    timedelta: _optional_duration,
}


def _field_hook(conv: cattrs.Converter, tp: Any) -> _Hook:
    """The structure hook of an optional field of type ``tp``: one call per field, None passed through."""
    if tp in _OPTIONAL_PRIMITIVES:
        return _OPTIONAL_PRIMITIVES[tp]
    if isinstance(tp, type) and issubclass(tp, OpenEnum):
        known, enum_cls = tp._value2member_map_, tp

        def enum_hook(value: Any, _: Any) -> Any:
            if value is None:
                return None
            member = known.get(value)
            return member if member is not None else enum_cls(value)

        return enum_hook
    if attrs.has(tp):
        nested = conv.get_structure_hook(tp)
        model = tp

        def model_hook(value: Any, _: Any) -> Any:
            if value.__class__ is dict:
                return nested(value, model)
            return None if value is None else _not_an_object(value, model)

        return model_hook
    if get_origin(tp) is list and attrs.has(get_args(tp)[0]):
        model = get_args(tp)[0]
        item = conv.get_structure_hook(model)

        def list_hook(value: Any, _: Any) -> Any:
            if value is None:
                return None
            items = _read_list(value)
            return [item(x, model) if x.__class__ is dict else _not_an_object(x, model) for x in items]

        return list_hook
    read = _reader(conv, tp)

    def hook(value: Any, _: Any) -> Any:
        return None if value is None else read(value)

    return hook


def _wire_fields(cls: type) -> list[tuple[attrs.Attribute[Any], WireInfo, Any]]:
    attrs.resolve_types(cls)
    return [(field, wire_info(field), _strip_optional(field.type)) for field in attrs.fields(cls)]


def _write_int64(value: Any) -> str:
    return str(int(value))


# The read path, specialised: one structure function per model class, generated from its fields on first use.
# Field for field it does what the generic function (cattrs' make_dict_structure_fn over _field_hook) does,
# with each field's check inlined, nested models two levels deep read in the same function, and the instance
# filled attribute by attribute instead of through a keyword call of __init__ (a seventh of the cost).
# Tests compare the two on every recorded response and on generated bodies, valid or not.

_READ_SNIPPETS: dict[Any, str] = {
    str: "if v is not None and v.__class__ is not str: _wrong(v, 'a string')",
    int: "if v is not None and v.__class__ is not int: _wrong(v, 'an integer')",
    float: "if v is not None and v.__class__ is not float: v = _read_float(v)",
    bool: "if v is not None and v.__class__ is not bool: v = _read_bool(v)",
    datetime: "if v is not None: v = parse_datetime(v)",
    timedelta: "if v is not None: v = parse_duration(v)",
}
_READ_GLOBALS: dict[str, Any] = {
    "_wrong": _wrong,
    "_read_float": _read_float,
    "_read_bool": _read_bool,
    "_read_int64": _read_int64,
    "_read_list": _read_list,
    "_not_an_object": _not_an_object,
    "parse_datetime": parse_datetime,
    "parse_duration": parse_duration,
    "_new": object.__new__,
}


def _plain_model(cls: type) -> bool:
    """True when ``__init__`` only stores its arguments (default None), so setting each attribute is the same:
    no validators, converters, init hooks, hash cache or setattr hooks (frozen classes have one)."""
    if hasattr(cls, "__attrs_pre_init__") or hasattr(cls, "__attrs_post_init__"):
        return False
    setattr_hook = getattr(cls, "__setattr__", None)
    if setattr_hook is not object.__setattr__ or "__attrs_cached_hash" in getattr(cls, "__slots__", ()):
        return False
    return all(
        field.init and field.default is None and field.validator is None and field.converter is None
        for field in attrs.fields(cls)
    )


_INLINE_DEPTH = 2  # nested models read in their parent's function, this many levels down (not when strict)


class _Source:
    """The structure function of one model class being written: its lines and the names they use."""

    def __init__(self, conv: cattrs.Converter, *, inline: bool) -> None:
        self.conv, self.inline = conv, inline
        self.namespace: dict[str, Any] = dict(_READ_GLOBALS)
        self.lines: list[str] = []

    def bind(self, value: Any, name: str) -> str:
        """The global name under which the function sees ``value``: ``name``, numbered if taken by another."""
        unique, number = name, 1
        while unique in self.namespace and self.namespace[unique] is not value:
            number += 1
            unique = f"{name}_{number}"
        self.namespace[unique] = value
        return unique

    def model(self, cls: type, depth: int, indent: str) -> None:
        """Lines building ``i{depth}`` from the JSON object ``o{depth}``."""
        self.lines += [
            f"{indent}get{depth} = o{depth}.get",
            f"{indent}i{depth} = _new({self.bind(cls, cls.__name__)})",
        ]
        for field, info, tp in _wire_fields(cls):
            self.lines.append(f"{indent}v = get{depth}({info.name!r})")
            self.field(info, tp, depth, indent)
            self.lines.append(f"{indent}i{depth}.{field.name} = v")

    def field(self, info: WireInfo, tp: Any, depth: int, indent: str) -> None:
        """Lines turning the JSON value ``v`` of one field (None when absent) into its Python value."""
        if info.int64_as_string and tp is int:
            self.lines.append(f"{indent}if v is not None and v.__class__ is not int: v = _read_int64(v)")
        elif tp in _READ_SNIPPETS:
            self.lines.append(indent + _READ_SNIPPETS[tp])
        elif isinstance(tp, type) and issubclass(tp, OpenEnum):
            enum = self.bind(tp, tp.__name__)
            known = self.bind(tp._value2member_map_, f"{enum}_values")
            self.lines += [
                f"{indent}if v is not None:",
                f"{indent}    m = {known}.get(v)",
                f"{indent}    v = m if m is not None else {enum}(v)",
            ]
        elif attrs.has(tp) and self.inline and depth < _INLINE_DEPTH and _plain_model(tp):
            self.lines += [f"{indent}if v.__class__ is dict:", f"{indent}    o{depth + 1} = v"]
            self.model(tp, depth + 1, indent + "    ")
            self.lines += [
                f"{indent}    v = i{depth + 1}",
                f"{indent}elif v is not None:",
                f"{indent}    v = _not_an_object(v, {self.bind(tp, tp.__name__)})",
            ]
        else:
            self.lines.append(f"{indent}if v is not None: v = {self.call(tp)}")

    def call(self, tp: Any) -> str:
        """The expression reading a non-None ``v`` of a type without a snippet of its own."""
        item = get_args(tp)[0] if get_origin(tp) is list else None
        for model, value in ((tp, "v"), (item, "x")):
            if model is not None and attrs.has(model):
                name = self.bind(model, model.__name__)
                hook = self.bind(self.conv.get_structure_hook(model), f"structure_{name}")
                read = f"{hook}({value}, {name}) if {value}.__class__ is dict else "
                read += f"_not_an_object({value}, {name})"
                return read if value == "v" else f"[{read} for x in _read_list(v)]"
        return f"{self.bind(_reader(self.conv, tp), 'read')}(v)"


def _specialised_structure(conv: cattrs.Converter, cls: type, *, inline: bool) -> Callable[[Any, Any], Any]:
    """The structure function of a plain model class, as Python source built from its fields and compiled."""
    source = _Source(conv, inline=inline)
    source.lines.append("def structure(o0, _=None):")
    source.model(cls, 0, "    ")
    source.lines.append("    return i0")
    text, filename = (
        "\n".join(source.lines) + "\n",
        f"<batchaio structure {cls.__module__}.{cls.__qualname__}>",
    )
    linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)  # for tracebacks
    exec(compile(text, filename, "exec"), source.namespace)  # built from field names and fixed snippets only
    structure: Callable[[Any, Any], Any] = source.namespace["structure"]
    structure.__qualname__ = f"structure_{cls.__name__}"
    return structure


def _generic_structure(conv: cattrs.Converter, cls: type) -> Callable[[Any, Any], Any]:
    """cattrs' own structure function of ``cls`` over the wire rules (the specialised one's reference)."""
    overrides: dict[str, Any] = {}
    for field, info, tp in _wire_fields(cls):
        hook = _optional_int64 if info.int64_as_string and tp is int else _field_hook(conv, tp)
        overrides[field.name] = override(rename=info.name, struct_hook=hook)
    structure: Callable[[Any, Any], Any] = make_dict_structure_fn(cls, conv, **overrides)
    return structure


def _refusing_extra_keys(cls: type, base: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """``base``, first refusing a key ``cls`` does not know (``odata.*`` keys aside)."""
    allowed = {info.name for _, info, _ in _wire_fields(cls)}

    def structure_strict(obj: Any, tp: Any) -> Any:
        extra = {key for key in obj if key not in allowed and not key.startswith("odata.")}
        if extra:
            raise ForbiddenExtraKeysError(f"unknown keys for {cls.__name__}: {sorted(extra)}", cls, extra)
        return base(obj, tp)

    return structure_strict


def _unstructure_fn(conv: cattrs.Converter, cls: type, *, request: bool) -> Callable[[Any], Any]:
    """The unstructure function of ``cls``: wire names, None left out, read-only fields too on ``request``."""
    overrides: dict[str, Any] = {}
    for field, info, tp in _wire_fields(cls):
        if request and info.read_only:
            overrides[field.name] = override(omit=True)
            continue
        write = _write_int64 if info.int64_as_string else _writer(conv, tp)
        overrides[field.name] = override(rename=info.name, unstruct_hook=write)
    unstructure: Callable[[Any], Any] = make_dict_unstructure_fn(
        cls, conv, _cattrs_omit_if_default=True, **overrides
    )
    return unstructure


def _make_converter(
    *, strict: bool = False, request: bool = False, specialised: bool = True
) -> cattrs.Converter:
    conv = cattrs.Converter(detailed_validation=False, forbid_extra_keys=False)

    def structure_factory(cls: type) -> Callable[[Any, Any], Any]:
        if specialised and _plain_model(cls):
            base = _specialised_structure(conv, cls, inline=not strict)
        else:
            base = _generic_structure(conv, cls)
        return _refusing_extra_keys(cls, base) if strict else base

    def unstructure_factory(cls: type) -> Callable[[Any], Any]:
        return _unstructure_fn(conv, cls, request=request)

    conv.register_structure_hook_factory(attrs.has, structure_factory)
    conv.register_unstructure_hook_factory(attrs.has, unstructure_factory)
    conv.register_structure_hook_func(
        lambda tp: isinstance(tp, type) and issubclass(tp, OpenEnum),
        lambda value, tp: tp(value),
    )
    conv.register_unstructure_hook_factory(
        lambda tp: isinstance(tp, type) and issubclass(tp, OpenEnum), _enum_writer
    )
    conv.register_structure_hook(datetime, lambda value, _: parse_datetime(value))
    conv.register_unstructure_hook(datetime, format_datetime)
    conv.register_structure_hook(timedelta, lambda value, _: parse_duration(value))
    conv.register_unstructure_hook(timedelta, format_duration)
    return conv


converter = _make_converter()
"""The converter holding every wire rule: ``converter.structure(data, BatchTask)``,
``converter.unstructure(task)`` (every set field, read-only ones included)."""

strict_converter = _make_converter(strict=True)
"""Like :data:`converter`, but a key the model does not know (other than ``odata.*``) raises
:class:`cattrs.errors.ForbiddenExtraKeysError`. For tests that must catch renaming mistakes."""

_request_converter = _make_converter(request=True)


# Send-side checks (required fields and value types), generated per class on first use.


class _Invalid(Exception):
    """A field to be sent is missing or has the wrong type; ``parts`` is the path to it, innermost first."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(name)
        self.parts = [name]
        self.problem = problem

    def error(self) -> ValidationError:
        path = ".".join(reversed(self.parts)).replace(".[", "[")
        return ValidationError(f"{path} {self.problem}", field=path)


_checkers: dict[type, Callable[[Any], None]] = {}


_NONE = type(None)


def _aware(value: Any) -> bool:
    return isinstance(value, datetime) and value.tzinfo is not None and value.utcoffset() is not None


# Per wire type: the classes accepted at a glance (one set lookup per field), and the full test for any
# other value, returning what the value must be or None when it is acceptable (subclasses, naive datetimes).
_PROBLEMS: dict[Any, tuple[frozenset[type], Callable[[Any], str | None]]] = {
    str: (frozenset({str}), lambda v: None if isinstance(v, str) else "must be a str"),
    int: (
        frozenset({int}),
        lambda v: None if isinstance(v, int) and not isinstance(v, bool) else "must be an int",
    ),
    float: (
        frozenset({float, int}),
        lambda v: (
            None if isinstance(v, (int, float)) and not isinstance(v, bool) else "must be a float or int"
        ),
    ),
    bool: (frozenset({bool}), lambda v: None if isinstance(v, bool) else "must be a bool"),
    datetime: (frozenset(), lambda v: None if _aware(v) else "must be a timezone-aware datetime"),
    timedelta: (
        frozenset({timedelta}),
        lambda v: None if isinstance(v, timedelta) else "must be a timedelta",
    ),
}


def _item_rule(tp: Any) -> tuple[frozenset[type], Callable[[Any], str | None], Callable[[Any], None] | None]:
    """(classes accepted at a glance, full test, checker of the nested model or None) for one value type."""
    if tp in _PROBLEMS:
        accepted, problem = _PROBLEMS[tp]
        return accepted, problem, None
    if isinstance(tp, type) and issubclass(tp, OpenEnum):
        must = f"must be a {tp.__name__} or str"
        return frozenset({tp, str}), lambda v: None if isinstance(v, str) else must, None
    if attrs.has(tp):
        model, must = tp, f"must be a {tp.__name__}"
        return frozenset({tp}), lambda v: None if isinstance(v, model) else must, _checker(tp)
    raise TypeError(f"no wire rule for {tp!r}")


def _check_value(
    value: Any, path: str, problem: Callable[[Any], str | None], nested: Callable[[Any], None] | None
) -> None:
    """The full check of one value (not at a glance): its type, then the model it holds."""
    message = problem(value)
    if message is not None:
        raise _Invalid(path, f"{message}, not {type(value).__name__}")
    if nested is not None:
        try:
            nested(value)
        except _Invalid as invalid:
            invalid.parts.append(path)
            raise


def _check_items(
    value: Any,
    name: str,
    is_list: bool,
    accepted: frozenset[type],
    problem: Callable[[Any], str | None],
    nested: Callable[[Any], None] | None,
) -> None:
    """Check a list (or tuple) or a str-keyed dict and every value in it."""
    if is_list:
        if value.__class__ is not list and not isinstance(value, (list, tuple)):
            raise _Invalid(name, f"must be a list, not {type(value).__name__}")
        pairs: Any = enumerate(value)
    else:
        if not isinstance(value, dict):
            raise _Invalid(name, f"must be a dict, not {type(value).__name__}")
        pairs = value.items()
        for key in value:
            if key.__class__ is not str and not isinstance(key, str):
                raise _Invalid(name, f"must have str keys, not {type(key).__name__}")
    for key, item in pairs:
        if item.__class__ not in accepted:
            _check_value(item, f"{name}[{key!r}]", problem, nested)
        elif nested is not None:
            try:
                nested(item)
            except _Invalid as invalid:
                invalid.parts.append(f"{name}[{key!r}]")
                raise


def _checker(cls: type) -> Callable[[Any], None]:
    """The function raising :class:`_Invalid` for a ``cls`` instance that cannot be sent as it is.

    Each field costs one attribute read and one set lookup when its value is None or of an expected
    class; anything else goes to the full check, which finds subclasses acceptable and names the problem.
    """
    if cls in _checkers:
        return _checkers[cls]
    namespace: dict[str, Any] = {
        "_Invalid": _Invalid,
        "_check_value": _check_value,
        "_check_items": _check_items,
    }
    # Provisional entry for self-referencing models: calls go through the namespace, filled in below.
    _checkers[cls] = lambda o: namespace["check"](o)
    lines = ["def check(o):"]
    for field, info, tp in _wire_fields(cls):
        if not info.read_only:
            lines += _field_check(field.name, info.required, tp, namespace)
    if len(lines) == 1:
        lines.append("    pass")
    exec("\n".join(lines), namespace)  # source built above from field names and fixed snippets only
    checker: Callable[[Any], None] = namespace["check"]
    _checkers[cls] = checker
    return checker


def _field_check(name: str, required: bool, tp: Any, namespace: dict[str, Any]) -> list[str]:
    """The lines of a checker testing the field ``name`` of type ``tp``; the values they use go in
    ``namespace``."""
    missing = f"raise _Invalid({name!r}, 'is required')" if required else "pass"
    lines = [f"    v = o.{name}"]
    origin, args = get_origin(tp), get_args(tp)
    if origin in (list, dict):
        accepted, problem, nested = _item_rule(args[-1])
        namespace.update({f"A_{name}": accepted, f"P_{name}": problem, f"C_{name}": nested})
        lines += [
            "    if v is None:",
            f"        {missing}",
            "    else:",
            f"        _check_items(v, {name!r}, {origin is list}, A_{name}, P_{name}, C_{name})",
        ]
        return lines
    accepted, problem, nested = _item_rule(tp)
    namespace.update({f"P_{name}": problem, f"C_{name}": nested})
    if nested is not None:
        namespace[f"M_{name}"] = tp
        lines += [
            f"    if v.__class__ is M_{name}:",
            f"        try: C_{name}(v)",
            f"        except _Invalid as e: e.parts.append({name!r}); raise",
            "    elif v is not None:",
            f"        _check_value(v, {name!r}, P_{name}, C_{name})",
        ]
        if required:
            lines += ["    else:", f"        {missing}"]
        return lines
    namespace[f"A_{name}"] = accepted if required else accepted | {_NONE}
    lines += [
        f"    if v.__class__ not in A_{name}:",
        "        if v is None:",
        f"            {missing}",
        "        else:",
        f"            _check_value(v, {name!r}, P_{name}, None)",
    ]
    return lines


def to_wire(model: Any) -> dict[str, Any]:
    """The request body of ``model`` as JSON-ready data.

    Raises :class:`~batchaio.errors.ValidationError` when a field required on send is ``None`` or a field
    holds a value of the wrong type (``field`` is the dotted path, e.g. ``"value[3].command_line"``;
    messages ``"... is required"``, ``"... must be an int, not str"``). Read-only fields are left out.
    """
    hooks = _wire_hooks.get(type(model))
    if hooks is None:
        hooks = _wire_hooks_for(type(model))
    try:
        hooks[0](model)
    except _Invalid as invalid:
        raise invalid.error() from None
    result: dict[str, Any] = hooks[1](model)
    return result


_wire_hooks: dict[type, tuple[Callable[[Any], None], Callable[[Any], Any]]] = {}


def _wire_hooks_for(cls: type) -> tuple[Callable[[Any], None], Callable[[Any], Any]]:
    if not attrs.has(cls):
        raise TypeError(f"expected a batchaio model, got {cls.__name__}")
    hooks = (_checker(cls), _request_converter.get_unstructure_hook(cls))
    _wire_hooks[cls] = hooks
    return hooks


def encode(model: Any) -> bytes:
    """The JSON request body of ``model``: :func:`to_wire` serialized with orjson."""
    return orjson.dumps(to_wire(model))


def decode(cls: type[T], content: bytes | str) -> T:
    """Parse a JSON response body into ``cls`` (a model class or e.g. ``list[BatchTask]``).

    Unknown and ``odata.*`` keys are ignored. Raises :class:`ValueError` when the content is not JSON
    or does not fit ``cls``.
    """
    try:
        data = orjson.loads(content)
        if attrs.has(cls) and data.__class__ is not dict:
            _not_an_object(data, cls)
        result: T = converter.structure(data, cls)
    except (TypeError, AttributeError, KeyError, OverflowError) as err:
        raise ValueError(f"response body does not fit {getattr(cls, '__name__', cls)}: {err}") from err
    return result


def decode_page(cls: type[T], content: bytes | str) -> tuple[list[T], str | None]:
    """Parse one page of a list operation: the items (as the model class ``cls``, each a JSON object) and the
    ``odata.nextLink`` (or None).

    The cyclic garbage collector is paused while the page is built (unless the caller has turned it off): the
    parsed JSON and the models are acyclic, so collecting meanwhile finds nothing, yet the thousands of new
    objects would set off collections of every generation, the whole heap included (a quarter of the CPU of a
    listing, more in a large process). It resumes as the call returns; cyclic garbage made meanwhile by other
    threads is collected then.
    """
    paused = gc.isenabled()
    if paused:
        gc.disable()
    try:
        # the parsed JSON is freed as _decode_page returns, before collection resumes
        return _decode_page(cls, content)
    finally:
        if paused:
            gc.enable()


def _decode_page(cls: type[T], content: bytes | str) -> tuple[list[T], str | None]:
    try:
        data = orjson.loads(content)
        if data.__class__ is not dict:
            _wrong(data, "a JSON object")
        structure = converter.get_structure_hook(cls)
        items: list[T] = [
            structure(item, cls) if item.__class__ is dict else _not_an_object(item, cls)
            for item in _read_list(data["value"])
        ]
        next_link = data.get("odata.nextLink")
    except (TypeError, AttributeError, KeyError, OverflowError) as err:
        raise ValueError(f"list response does not fit {getattr(cls, '__name__', cls)}: {err}") from err
    return items, next_link if isinstance(next_link, str) and next_link else None
