"""The typed model of the API spec in ``tools/spec/``, loaded once by every generator.

``load_spec()`` reads the operations file and the wire schema into frozen dataclasses: :class:`Operation`
(method, path, parameters, body, result, paging, idempotency class), :class:`Model` with its
:class:`Property` list, and the enums. A malformed file fails here with the operation or model named, not as
a ``KeyError`` deep inside a template.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SPEC_DIR = ROOT / "tools" / "spec"
OPERATIONS_FILE = SPEC_DIR / "batch-2024-07-01.20.0.operations.json"
SCHEMA_FILE = SPEC_DIR / "batch-2024-07-01.20.0.schema.json"

IDEMPOTENCY_CLASSES = (
    "read",
    "create-with-id",
    "replace",
    "delete",
    "state-transition",
    "not-idempotent",
)

# A wire type: a primitive name ("string", "int64-as-string"...) or {"model"|"enum"|"array"|"map": ...}.
WireType = str | dict[str, Any]


class SpecError(Exception):
    """The spec files do not have the shape the generators expect."""


@dataclass(frozen=True)
class Parameter:
    """One request parameter as the operations file lists it (path, query, header or body)."""

    name: str
    type: str


@dataclass(frozen=True)
class Operation:
    """One REST operation of the operations file."""

    operation_id: str
    client: str
    idempotency: str
    method: str
    path: str
    parameters: tuple[Parameter, ...]
    responses: tuple[str, ...]
    body_type: str | None
    body_optional: bool
    result_type: str | None
    item_type: str | None
    pageable: bool

    @property
    def group(self) -> str:
        """The resource group of the client method (``tasks`` for ``tasks.list``)."""
        return self.client.split(".")[0]

    @property
    def name(self) -> str:
        """The client method's name within its group (``list`` for ``tasks.list``)."""
        return self.client.split(".")[1]

    @cached_property
    def path_params(self) -> tuple[str, ...]:
        """The ``{name}`` slots of the path, in order."""
        return tuple(re.findall(r"\{(\w+)\}", self.path))

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters)


@dataclass(frozen=True)
class Property:
    """One property of a wire model."""

    name: str
    type: WireType
    required: bool
    read_only: bool


@dataclass(frozen=True)
class Model:
    """One wire model of the schema."""

    name: str
    properties: tuple[Property, ...]


@dataclass(frozen=True)
class Spec:
    """Everything the generators read: operations in file order, models and enums by name."""

    api_version: str
    operations: tuple[Operation, ...]
    models: dict[str, Model]
    enums: dict[str, tuple[str, ...]]


def load_spec(operations_file: Path = OPERATIONS_FILE, schema_file: Path = SCHEMA_FILE) -> Spec:
    """Read and check both spec files."""
    operations = json.loads(operations_file.read_text(encoding="utf-8"))
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    if operations["apiVersion"] != schema["apiVersion"]:
        raise SpecError(f"api versions differ: {operations['apiVersion']} and {schema['apiVersion']}")
    models, enums = parse_schema(schema)
    return Spec(
        api_version=schema["apiVersion"],
        operations=tuple(_operation(raw) for raw in operations["operations"]),
        models=models,
        enums=enums,
    )


def parse_schema(schema: dict[str, Any]) -> tuple[dict[str, Model], dict[str, tuple[str, ...]]]:
    """The models and enums of a parsed schema file."""
    models = {name: _model(name, raw) for name, raw in schema["models"].items()}
    return models, {name: tuple(values) for name, values in schema["enums"].items()}


def _operation(raw: dict[str, Any]) -> Operation:
    operation_id = raw.get("operationId", "?")
    try:
        body_type = raw.get("bodyType")
        operation = Operation(
            operation_id=operation_id,
            client=raw["client"],
            idempotency=raw["idempotency"],
            method=raw["method"],
            path=raw["path"],
            parameters=tuple(Parameter(p["name"], p["type"]) for p in raw["parameters"]),
            responses=tuple(raw["responses"]),
            body_type=body_type.removeprefix("optional ") if body_type else None,
            body_optional=bool(body_type and body_type.startswith("optional ")),
            result_type=raw.get("resultType"),
            item_type=raw.get("itemType"),
            pageable=bool(raw.get("pageable")),
        )
    except KeyError as missing:
        raise SpecError(f"{operation_id}: no {missing} in the operations file") from None
    if operation.idempotency not in IDEMPOTENCY_CLASSES:
        raise SpecError(f"{operation_id}: unknown idempotency class {operation.idempotency!r}")
    if operation.client.count(".") != 1:
        raise SpecError(f"{operation_id}: client {operation.client!r} is not 'group.method'")
    return operation


def _model(name: str, raw: dict[str, Any]) -> Model:
    try:
        properties = tuple(
            Property(p["name"], p["type"], bool(p["required"]), bool(p.get("readOnly")))
            for p in raw["properties"]
        )
    except KeyError as missing:
        raise SpecError(f"model {name}: a property without {missing}") from None
    return Model(name, properties)
