"""Real service responses (tests/fixtures/recorded, API version 2020-03-01) parse with the default converter.

Each response body is routed to its model through the operation table in tools/spec (method + path template ->
result or item type; error statuses -> BatchError). The recordings predate this API version, so a few keys are
unknown to the 2024-07-01 models; the default converter ignores them and the strict one names them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import orjson
import pytest
from cattrs.errors import ForbiddenExtraKeysError

from batchaio import models
from batchaio._serde import (
    UNBOUNDED_DURATION,
    converter,
    decode,
    decode_page,
    parse_duration,
    strict_converter,
)

ROOT = Path(__file__).resolve().parent.parent
RECORDED = sorted((ROOT / "tests" / "fixtures" / "recorded").glob("*.json"))
OPERATIONS = json.loads((ROOT / "tools" / "spec" / "batch-2024-07-01.20.0.operations.json").read_text())[
    "operations"
]

# Keys of the 2020 recordings that API 2024-07-01 no longer has, per fixture.
UNKNOWN_KEYS = {
    # 2020 returned the task counts at the top level; 2024 nests them under taskCounts / taskSlotCounts
    "should_count_tasks_sucessfully.json": {"active", "running", "completed", "succeeded", "failed"},
    # cloudServiceConfiguration pools were retired; maxTasksPerNode became taskSlotsPerNode
    "should_get_a_pool_reference_successfully.json": {"cloudServiceConfiguration", "maxTasksPerNode"},
    "should_list_a_maximum_number_of_pools.json": {"cloudServiceConfiguration", "maxTasksPerNode"},
    "should_list_pools_without_filters.json": {"cloudServiceConfiguration", "maxTasksPerNode"},
}


def _operation(method: str, path: str) -> dict[str, Any]:
    path = path.split("?", 1)[0]
    for operation in OPERATIONS:
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(operation["path"]))
        if operation["method"] == method and re.fullmatch(pattern, path):
            return dict(operation)
    raise LookupError(f"no operation for {method} {path}")


def _exchanges() -> list[Any]:
    cases = []
    for file in RECORDED:
        for index, exchange in enumerate(json.loads(file.read_text())["exchanges"]):
            if exchange["body"] is not None:
                cases.append(pytest.param(file.name, exchange, id=f"{file.stem}-{index}"))
    return cases


def _target(exchange: dict[str, Any]) -> tuple[type, bool]:
    """(model class, pageable) for a recorded response."""
    if exchange["status"] >= 400:
        return models.BatchError, False
    operation = _operation(exchange["method"], exchange["path"])
    if operation.get("pageable"):
        return getattr(models, operation["itemType"]), True
    return getattr(models, operation["resultType"]), False


@pytest.mark.parametrize(("name", "exchange"), _exchanges())
def test_recorded_response_parses(name: str, exchange: dict[str, Any]) -> None:
    cls, pageable = _target(exchange)
    content = orjson.dumps(exchange["body"])
    if pageable:
        items, next_link = decode_page(cls, content)
        assert len(items) == len(exchange["body"]["value"])
        assert next_link == exchange["body"].get("odata.nextLink")
        parsed: list[Any] = items
        raw = exchange["body"]["value"]
    else:
        parsed = [decode(cls, content)]
        raw = [exchange["body"]]
    for item, body in zip(parsed, raw, strict=True):
        assert isinstance(item, cls)
        # every key the models know survives a round trip with the same meaning
        again = converter.unstructure(item)
        assert set(again) <= set(body)
        assert converter.structure(again, cls) == item
    if UNKNOWN_KEYS.get(name):
        with pytest.raises(ForbiddenExtraKeysError) as info:
            for body in raw:
                strict_converter.structure(body, cls)
        assert info.value.extra_fields <= UNKNOWN_KEYS[name]
    else:
        for body in raw:
            strict_converter.structure(body, cls)


def test_recorded_values_decode_as_expected() -> None:
    tasks = json.loads((ROOT / "tests/fixtures/recorded/should_list_all_tasks_successfully.json").read_text())
    items, _ = decode_page(models.BatchTask, orjson.dumps(tasks["exchanges"][0]["body"]))
    task = items[0]
    assert task.state is models.BatchTaskState.ACTIVE
    assert task.previous_state is models.BatchTaskState.COMPLETED
    assert task.creation_time is not None and task.creation_time.microsecond == 572406
    assert task.constraints == models.BatchTaskConstraints(
        max_wall_clock_time=UNBOUNDED_DURATION, retention_time=parse_duration("P7D"), max_task_retry_count=3
    )
    assert converter.unstructure(task.constraints)["maxWallClockTime"] == "P10675199DT2H48M5.4775807S"

    error_file = ROOT / "tests/fixtures/recorded/should_fail_to_list_pools_with_invalid_max.json"
    error = decode(
        models.BatchError, orjson.dumps(json.loads(error_file.read_text())["exchanges"][0]["body"])
    )
    assert error.code and error.message is not None and error.message.lang == "en-US"
    assert error.values and all(v.key for v in error.values)
