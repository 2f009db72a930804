"""The idempotency classes come from the operations file, through the generated table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from batchaio._idempotency import OPERATION_CLASSES, Idempotency, idempotency_of
from batchaio.errors import ValidationError

SPEC = Path(__file__).resolve().parent.parent / "tools" / "spec" / "batch-2024-07-01.20.0.operations.json"


def test_every_operation_has_the_class_the_operations_file_gives() -> None:
    operations = json.loads(SPEC.read_text(encoding="utf-8"))["operations"]
    assert {op["operationId"]: Idempotency(op["idempotency"]) for op in operations} == OPERATION_CLASSES
    assert len(OPERATION_CLASSES) == 77


@pytest.mark.parametrize(
    ("operation", "expected"),
    [
        ("Pools_EvaluatePoolAutoScale", Idempotency.READ),
        ("Tasks_CreateTaskCollection", Idempotency.CREATE_WITH_ID),
        ("Tasks_AddTaskCollection", Idempotency.CREATE_WITH_ID),
        ("Pools_ReplacePoolProperties", Idempotency.REPLACE),
        ("Nodes_DeleteNodeUser", Idempotency.DELETE),
        ("Pools_RemoveNodes", Idempotency.STATE_TRANSITION),
        ("Nodes_RebootNode", Idempotency.NOT_IDEMPOTENT),
        ("Nodes_ReimageNode", Idempotency.NOT_IDEMPOTENT),
        ("Nodes_UploadNodeLogs", Idempotency.NOT_IDEMPOTENT),
    ],
)
def test_classes_of_operations_whose_method_does_not_tell(operation: str, expected: Idempotency) -> None:
    assert idempotency_of(operation) is expected


def test_an_unknown_operation_is_refused() -> None:
    with pytest.raises(ValidationError):
        idempotency_of("Pools_Explode")
