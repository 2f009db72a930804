"""The emulator's routes come from the operations file: every operation routed by its method and path."""

from __future__ import annotations

import json
from pathlib import Path

from batchaio.emulator import Emulator
from batchaio.emulator._route_table import ROUTES

SPEC = Path(__file__).resolve().parents[2] / "tools" / "spec" / "batch-2024-07-01.20.0.operations.json"


def test_route_table_is_the_operations_file() -> None:
    operations = json.loads(SPEC.read_text(encoding="utf-8"))["operations"]
    expected = {(op["operationId"], op["method"], op["path"]) for op in operations}
    assert {(op, method, path.replace(":path}", "}")) for op, method, path in ROUTES} == expected
    assert len(ROUTES) == 77


def test_every_operation_has_a_handler_and_its_path_is_served() -> None:
    app = Emulator().app
    assert set(app._handlers()) == {operation for operation, _, _ in ROUTES}
    assert {route.path for route in app.router.routes} == {path for _, _, path in ROUTES}
