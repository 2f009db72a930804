"""The one-pass send encoder gives exactly what ``encode`` gives: the same bytes, or the same error.

``_encoder.encoder_for(cls)`` checks and builds the wire dict in one generated pass for values of exactly the
expected classes and hands anything else to the general path (``_serde`` checker, then the request
converter). Both are compared on generated models of every class, valid and made invalid one field at a time.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_serde_roundtrip import MODEL_NAMES, strategy_for

from batchaio import _encoder, models
from batchaio._encoder import encoder_for
from batchaio._serde import encode


class _Text(str):
    """A str subclass: acceptable to the checker, not to the one-pass function."""


# Values of the wrong class for most fields, and acceptable ones only the general path takes.
_ODD_VALUES = st.sampled_from(
    [
        1.5,
        7,
        True,
        "text",
        _Text("sub"),
        [],
        ["a"],
        ("a",),
        {},
        {"k": 1},
        {1: "v"},
        datetime(2024, 7, 1),
        datetime(2024, 7, 1, tzinfo=timezone.utc),
        timedelta(seconds=3),
        models.EnvironmentSetting(name="a", value="b"),
        object(),
    ]
)


def _outcome(encode_fn: Any, model: Any) -> Any:
    """The bytes, or the exception's type, field and text."""
    try:
        return encode_fn(model)
    except Exception as exc:  # the exception is the outcome compared
        return type(exc), getattr(exc, "field", None), str(exc)


def _same(model: Any) -> None:
    assert _outcome(encoder_for(type(model)), model) == _outcome(encode, model)


@pytest.mark.parametrize("name", MODEL_NAMES)
@settings(max_examples=10, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_valid_models_encode_to_the_same_bytes(name: str, data: st.DataObject) -> None:
    _same(data.draw(strategy_for(getattr(models, name))))


@pytest.mark.parametrize("name", MODEL_NAMES)
@settings(max_examples=10, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_models_with_one_odd_field_give_the_same_outcome(name: str, data: st.DataObject) -> None:
    cls = getattr(models, name)
    model = data.draw(strategy_for(cls))
    fields = attrs.fields(cls)
    field = data.draw(st.sampled_from(fields))
    value = data.draw(st.none() | _ODD_VALUES)
    _same(attrs.evolve(model, **{field.name: value}))


def test_the_one_pass_function_exists_for_the_bulk_task_model_and_takes_exact_classes_only() -> None:
    build = _encoder._builder(models.BatchTaskCreateContent)
    assert build is not None
    task = models.BatchTaskCreateContent(
        id="t",
        command_line="x",
        resource_files=[models.ResourceFile(http_url="https://a.example/f?sig=1", file_path="f")],
        constraints=models.BatchTaskConstraints(max_wall_clock_time=timedelta(hours=1)),
    )
    assert build(task) == {
        "id": "t",
        "commandLine": "x",
        "resourceFiles": [{"httpUrl": "https://a.example/f?sig=1", "filePath": "f"}],
        "constraints": {"maxWallClockTime": "PT1H"},
    }
    with pytest.raises(_encoder._Unusual):
        build(attrs.evolve(task, id=_Text("t")))
    with pytest.raises(_encoder._Unusual):
        build(attrs.evolve(task, command_line=None))


def test_a_subclass_instance_takes_the_general_path() -> None:
    @attrs.define
    class Task(models.BatchTaskCreateContent):
        pass

    task = Task(id="t", command_line="x")
    assert encoder_for(models.BatchTaskCreateContent)(task) == encode(task)


def test_a_missing_required_field_is_named_as_encode_names_it() -> None:
    task = models.BatchTaskCreateContent(id="t", command_line="x", constraints=models.BatchTaskConstraints())
    group = models.BatchTaskGroup(value=[task, attrs.evolve(task, command_line=None)])
    outcome = _outcome(encoder_for(models.BatchTaskGroup), group)
    assert outcome == _outcome(encode, group)
    assert outcome[1] == "value[1].command_line"
