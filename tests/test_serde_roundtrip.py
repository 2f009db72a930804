"""Property tests: every model survives unstructure -> JSON bytes -> structure unchanged.

Strategies are built from the attrs field types of the generated models, so every one of the 150 models is
covered, with unknown enum values and None fields mixed in.
"""

from __future__ import annotations

import types
from datetime import datetime, timedelta, timezone
from typing import Any, Union, get_args, get_origin

import attrs
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batchaio import models
from batchaio._enums import OpenEnum
from batchaio._serde import converter, strict_converter

MODEL_NAMES = sorted(name for name in models.__all__ if attrs.has(getattr(models, name)))
_INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
_cache: dict[Any, st.SearchStrategy[Any]] = {}


def _enum_values(enum: type[OpenEnum]) -> st.SearchStrategy[Any]:
    unknown = st.text(alphabet="abcdefghXYZ_", min_size=1, max_size=8).map(enum)
    return st.one_of(st.sampled_from(list(enum)), unknown)


def strategy_for(tp: Any) -> st.SearchStrategy[Any]:
    """Values of ``tp`` as the wire can carry them."""
    if get_origin(tp) in (Union, types.UnionType):
        (inner,) = (arg for arg in get_args(tp) if arg is not type(None))
        return st.none() | strategy_for(inner)
    if tp in _cache:
        return _cache[tp]
    result: st.SearchStrategy[Any]
    if tp is str:
        result = st.text(max_size=12)
    elif tp is int:
        result = _INT64
    elif tp is float:
        result = st.floats(allow_nan=False, allow_infinity=False)
    elif tp is bool:
        result = st.booleans()
    elif tp is datetime:
        result = st.datetimes(timezones=st.just(timezone.utc))
    elif tp is timedelta:
        result = st.timedeltas(min_value=timedelta(days=-999_999_998))
    elif isinstance(tp, type) and issubclass(tp, OpenEnum):
        result = _enum_values(tp)
    elif attrs.has(tp):
        attrs.resolve_types(tp)
        result = st.deferred(
            lambda: st.builds(tp, **{f.name: strategy_for(f.type) for f in attrs.fields(tp)})
        )
    elif get_origin(tp) is list:
        result = st.lists(strategy_for(get_args(tp)[0]), max_size=2)
    elif get_origin(tp) is dict:
        result = st.dictionaries(st.text(max_size=6), strategy_for(get_args(tp)[1]), max_size=2)
    else:
        raise TypeError(f"no strategy for {tp!r}")
    _cache[tp] = result
    return result


@pytest.mark.parametrize("name", MODEL_NAMES)
@settings(max_examples=12, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_round_trip(name: str, data: st.DataObject) -> None:
    cls = getattr(models, name)
    value = data.draw(strategy_for(cls))
    wire = orjson.dumps(converter.unstructure(value))
    assert converter.structure(orjson.loads(wire), cls) == value
    # every key the converter writes is one the strict converter knows: no renaming mistakes
    assert strict_converter.structure(orjson.loads(wire), cls) == value


def test_all_models_are_covered() -> None:
    assert len(MODEL_NAMES) == 150
