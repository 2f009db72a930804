"""``select=``: property names of a model, as its snake_case field names or as the wire names.

The table of each model is computed once from the models' field metadata. Unknown names are refused before
anything is sent: the service would ignore them, leaving the field ``None`` without a word.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

import attrs

from batchaio._fields import wire_info
from batchaio.errors import ValidationError

__all__ = ["select_names"]


@functools.cache
def _names(model: type) -> Mapping[str, str]:
    """Field name or wire name -> wire name, for the top-level properties of ``model``."""
    table: dict[str, str] = {}
    for field in attrs.fields(model):
        wire = wire_info(field).name
        table[field.name] = wire
        table[wire] = wire
    return table


def select_names(model: type, names: Sequence[str]) -> list[str]:
    """The wire names for ``names``, each a field or wire name of ``model``; unknown names are refused."""
    table = _names(model)
    wire: list[str] = []
    for name in names:
        found = table.get(name)
        if found is None:
            raise ValidationError(
                f"select: {name!r} is not a property of {model.__name__} (use its field names, such as "
                f"{next(iter(table))!r}, or the wire names)",
                field="select",
            )
        wire.append(found)
    return wire
