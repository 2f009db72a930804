"""Open, case-insensitive enums."""

from __future__ import annotations

import pickle

import pytest

from batchaio import _constants, models
from batchaio._enums import OpenEnum


class Color(OpenEnum):
    RED = "red"
    DARK_BLUE = "darkBlue"


def test_known_values_match_without_case() -> None:
    assert Color("RED") is Color.RED
    assert Color("darkblue") is Color.DARK_BLUE
    assert Color("DarkBlue") is Color.DARK_BLUE
    assert models.BatchTaskAddStatus("Success") is models.BatchTaskAddStatus.SUCCESS
    assert models.OutputFileUploadCondition("TaskSuccess") is models.OutputFileUploadCondition.TASK_SUCCESS
    assert models.BatchNodeFillType("Spread") is models.BatchNodeFillType.SPREAD


def test_unknown_values_are_kept_as_members_of_the_type() -> None:
    value = Color("ultraviolet")
    assert isinstance(value, Color)
    assert value.value == "ultraviolet"
    assert value == "ultraviolet"
    assert str(value) == "ultraviolet"
    assert not value.is_known
    assert Color.RED.is_known
    assert Color("ultraviolet") is value
    assert list(Color) == [Color.RED, Color.DARK_BLUE]


def test_unknown_values_keep_their_spelling() -> None:
    assert Color("Infrared").value == "Infrared"
    assert Color("infrared").value == "Infrared"  # one pseudo-member per value, first spelling kept


def test_non_strings_are_rejected() -> None:
    with pytest.raises(ValueError):
        Color(3)


def test_pickle_round_trip() -> None:
    assert pickle.loads(pickle.dumps(Color("sepia"))) == Color("sepia")
    assert pickle.loads(pickle.dumps(Color.RED)) is Color.RED


def test_cache_of_unknown_values_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    class Shade(OpenEnum):
        GREY = "grey"

    monkeypatch.setattr(_constants, "MAX_CACHED_UNKNOWN_VALUES", 3)
    values = [Shade(f"shade{i}") for i in range(10)]
    assert [v.value for v in values] == [f"shade{i}" for i in range(10)]
    assert len(Shade._value2member_map_) <= 1 + 3
    assert Shade("shade9") == values[9]


def test_unknown_values_match_without_regard_to_case() -> None:
    class Phase(OpenEnum):
        ACTIVE = "active"

    first = Phase("Paused")
    assert Phase("paused") is first
    assert Phase("PAUSED") == first
    assert first.value == "Paused"  # the first spelling seen is kept for output
    assert Phase("paused").value == "Paused"
    assert Phase("Resuming") is not first
