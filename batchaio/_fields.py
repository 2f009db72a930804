"""Wire facts attached to every field of the generated models.

Each attrs field of :mod:`batchaio.models` carries a :class:`WireInfo` in its metadata under :data:`WIRE`: the
JSON name, whether the schema marks it required or read-only, whether the integer travels as a JSON string,
and whether the value is a secret. :mod:`batchaio._serde` builds every hook from these facts, never guessing.
"""

from __future__ import annotations

from typing import Any

import attrs

__all__ = ["WIRE", "WireInfo", "redact", "wire_field", "wire_info"]

WIRE = "batchaio.wire"


@attrs.frozen
class WireInfo:
    """What the schema says about one field."""

    name: str
    """JSON property name on the wire (``commandLine``)."""
    required: bool = False
    """Required when the client sends the model (responses may still omit it)."""
    read_only: bool = False
    """Set by the service only; omitted when the client sends the model."""
    int64_as_string: bool = False
    """An integer carried as a JSON string (``"readIOps": "120"``)."""
    secret: bool = False
    """Kept out of ``repr()``."""


def redact(value: object) -> str:
    """``repr`` of a secret field: ``'***'`` unless the value is unset."""
    return "None" if value is None else "'***'"


def wire_field(
    name: str,
    *,
    required: bool = False,
    read_only: bool = False,
    int64_as_string: bool = False,
    secret: bool = False,
) -> Any:
    """An optional attrs field (default ``None``) carrying its :class:`WireInfo`, for the generated models."""
    info = WireInfo(name, required, read_only, int64_as_string, secret)
    return attrs.field(default=None, repr=redact if secret else True, metadata={WIRE: info})


def wire_info(field: attrs.Attribute[Any]) -> WireInfo:
    """The :class:`WireInfo` of a model field."""
    info: WireInfo = field.metadata[WIRE]
    return info
