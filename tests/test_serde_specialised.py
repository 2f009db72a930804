"""The specialised read path gives exactly what the generic one gives.

``batchaio.converter`` structures a model with a function generated per class (checks inlined, the
instance filled attribute by attribute); ``_make_converter(specialised=False)`` builds the generic cattrs
functions from the same wire rules. Both must agree on every recorded response and on generated bodies, valid
or not: the same model, or the same exception with the same message.
"""

from __future__ import annotations

import json
import linecache
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import attrs
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_serde_roundtrip import MODEL_NAMES, strategy_for

from batchaio import models
from batchaio._fields import wire_field
from batchaio._serde import (
    _make_converter,
    _parse_datetime_by_pattern,
    converter,
    decode_page,
    parse_datetime,
    strict_converter,
)

ROOT = Path(__file__).resolve().parent.parent
RECORDED = sorted((ROOT / "tests" / "fixtures" / "recorded").glob("*.json"))
GENERIC = _make_converter(specialised=False)
GENERIC_STRICT = _make_converter(strict=True, specialised=False)

_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


def _outcome(conv: Any, body: Any, cls: type) -> Any:
    """What structuring gives: the model, or the exception's type and text."""
    try:
        return conv.structure(body, cls)
    except Exception as err:  # the exception is the outcome compared
        return type(err), str(err)


def _models_in(cls: type, body: Any) -> list[tuple[type, Any]]:
    """(model, JSON object) for ``body`` and every nested object the model has a field for."""
    found = [(cls, body)]
    if not isinstance(body, dict):
        return found
    for field in attrs.fields(cls):
        value = body.get(field.metadata["batchaio.wire"].name)
        inner = _model_type(field.type)
        if inner is None or value is None:
            continue
        for item in value if isinstance(value, list) else [value]:
            found += _models_in(inner, item)
    return found


def _model_type(tp: Any) -> type | None:
    for arg in (tp, *getattr(tp, "__args__", ())):
        for inner in (arg, *getattr(arg, "__args__", ())):
            if attrs.has(inner):
                return inner  # type: ignore[no-any-return]
    return None


def _recorded_bodies() -> list[Any]:
    cases = []
    for file in RECORDED:
        for index, exchange in enumerate(json.loads(file.read_text())["exchanges"]):
            body = exchange["body"]
            if body is not None:
                cases.append(pytest.param(body, id=f"{file.stem}-{index}"))
    return cases


def test_every_model_has_a_specialised_structure_function() -> None:
    for name in MODEL_NAMES:
        cls = getattr(models, name)
        filename = f"<batchaio structure batchaio.models._generated.{name}>"
        assert converter.get_structure_hook(cls).__code__.co_filename == filename
        assert strict_converter.get_structure_hook(cls).__code__.co_filename != filename  # its wrapper
        assert GENERIC.get_structure_hook(cls).__code__.co_filename != filename
    source = "".join(linecache.getlines("<batchaio structure batchaio.models._generated.BatchTask>"))
    assert "get0('executionInfo')" in source  # a traceback through it shows the line


@pytest.mark.parametrize("body", _recorded_bodies())
def test_recorded_bodies_structure_alike(body: dict[str, Any]) -> None:
    """Every object of every recording, as each model class that could be given it."""
    objects = body["value"] if isinstance(body.get("value"), list) else [body]
    compared = 0
    for item in objects:
        for name in MODEL_NAMES:
            cls = getattr(models, name)
            for model, obj in _models_in(cls, item):
                expected = _outcome(GENERIC, obj, model)
                assert _outcome(converter, obj, model) == expected
                assert _outcome(strict_converter, obj, model) == _outcome(GENERIC_STRICT, obj, model)
                compared += not isinstance(expected, tuple)
    assert compared > 0


def test_recorded_pages_decode_alike() -> None:
    for file in RECORDED:
        for exchange in json.loads(file.read_text())["exchanges"]:
            body = exchange["body"]
            if not isinstance(body, dict) or not isinstance(body.get("value"), list):
                continue
            for name in MODEL_NAMES:
                cls = getattr(models, name)
                try:
                    items, _ = decode_page(cls, orjson.dumps(body))
                except ValueError:
                    continue
                assert items == [GENERIC.structure(item, cls) for item in body["value"]]


def _objects(value: Any) -> list[dict[str, Any]]:
    """Every JSON object in ``value``, outermost first."""
    if isinstance(value, list):
        return [obj for item in value for obj in _objects(item)]
    if isinstance(value, dict):
        return [value, *(obj for item in value.values() for obj in _objects(item))]
    return []


@st.composite
def _wire_bodies(draw: st.DrawFn, cls: type) -> Any:
    """A wire body of ``cls`` (from a generated model), sometimes with one value at any depth replaced by any
    JSON value, or an unknown key added."""
    body = GENERIC.unstructure(draw(strategy_for(cls)))
    target = draw(st.sampled_from(_objects(body)))
    change = draw(st.sampled_from(["none", "replace", "add"]))
    if change == "replace" and target:
        target[draw(st.sampled_from(sorted(target)))] = draw(_JSON)
    elif change == "add":
        target[draw(st.text(min_size=1, max_size=6))] = draw(_JSON)
    return orjson.loads(orjson.dumps(body))


@pytest.mark.parametrize("name", MODEL_NAMES)
@settings(max_examples=8, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_generated_bodies_structure_alike(name: str, data: st.DataObject) -> None:
    cls = getattr(models, name)
    body = data.draw(_wire_bodies(cls))
    assert _outcome(converter, body, cls) == _outcome(GENERIC, body, cls)
    assert _outcome(strict_converter, body, cls) == _outcome(GENERIC_STRICT, body, cls)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"id": 3}, "expected a string, got int 3"),
        ({"requiredSlots": "1"}, "expected an integer, got str '1'"),
        ({"state": ["active"]}, "unhashable type: 'list'"),
        ({"executionInfo": []}, "expected a JSON object for BatchTaskExecutionInfo, got list"),
        ({"resourceFiles": [{"filePath": "a"}, 1]}, "expected a JSON object for ResourceFile, got int"),
        ({"resourceFiles": {"filePath": "a"}}, "expected a JSON array, got dict {'filePath': 'a'}"),
        ({"creationTime": "2024-07-01"}, "invalid date-time: '2024-07-01'"),
    ],
)
def test_bad_values_fail_alike(body: dict[str, Any], message: str) -> None:
    outcome = _outcome(converter, body, models.BatchTask)
    assert outcome == _outcome(GENERIC, body, models.BatchTask)
    assert isinstance(outcome, tuple) and outcome[1] == message


def test_classes_with_init_logic_keep_the_generic_path() -> None:
    """A class whose __init__ does more than store (a validator here) is built through it."""

    @attrs.define(kw_only=True)
    class Checked:
        count: int | None = wire_field("count")

        @count.validator
        def _positive(self, _: Any, value: int | None) -> None:
            if value is not None and value < 0:
                raise ValueError("count must not be negative")

    @attrs.frozen(kw_only=True)
    class Frozen:
        name: str | None = wire_field("name")

    with pytest.raises(ValueError, match="must not be negative"):
        converter.structure({"count": -1}, Checked)
    assert converter.structure({"name": "x"}, Frozen) == Frozen(name="x")


def test_a_page_item_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(ValueError, match="expected a JSON object for BatchTask, got str"):
        decode_page(models.BatchTask, b'{"value": ["task-1"]}')
    with pytest.raises(ValueError, match="expected a JSON object for BatchTask, got int"):
        decode_page(models.BatchTask, b'{"value": [{"id": "a"}, 7]}')


_DATETIME_LIKE = st.builds(
    "{}-{}-{}{}{}:{}:{}{}{}".format,
    st.sampled_from(["2024", "1999", "0001", "9999", "202", "\uff12\uff10\uff12\uff14"]),
    st.sampled_from(["07", "12", "13", "00", "7"]),
    st.sampled_from(["01", "31", "30", "00"]),
    st.sampled_from(["T", "t", " ", "_"]),
    st.sampled_from(["10", "23", "24", "00"]),
    st.sampled_from(["15", "59", "60"]),
    st.sampled_from(["30", "59", "60", "5"]),
    st.sampled_from(["", ".1", ".123456", ".1234567", ".12345678", ",5", "."]),
    st.sampled_from(["Z", "z", "+00:00", "-05:30", "+14:00", "+24:00", "+0530", "+05", "", "Z\n"]),
)


def _parse_outcome(parse: Any, text: str) -> Any:
    try:
        return parse(text)
    except Exception as err:  # the exception is the outcome compared
        return type(err), str(err)


def _by_pattern(text: str) -> datetime:
    return _parse_datetime_by_pattern(text).astimezone(timezone.utc)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(text=_DATETIME_LIKE | st.text(max_size=30))
def test_datetime_shape_check_agrees_with_the_pattern(text: str) -> None:
    """The fast shape lookup in parse_datetime accepts and reads exactly what the full pattern does."""
    fast = _parse_outcome(parse_datetime, text)
    assert fast == _parse_outcome(_by_pattern, text)
    if isinstance(fast, datetime):
        assert fast.tzinfo is timezone.utc
