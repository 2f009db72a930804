"""Open string enums: the base class of every generated enum in :mod:`batchaio.models`.

The Batch service adds enum values over time and does not always use the spec's spelling (``"Success"`` for
``success``). An :class:`OpenEnum` therefore

- matches values without regard to case: ``BatchTaskAddStatus("Success") is BatchTaskAddStatus.SUCCESS``;
- keeps a value it does not know as a pseudo-member of the same enum type instead of raising:
  ``BatchTaskState("paused").value == "paused"`` and it serializes back unchanged. Unknown values are matched
  without regard to case too: ``BatchTaskState("Paused") is BatchTaskState("paused")``, and the spelling seen
  first is the one kept (and sent back).

Pseudo-members are cached per enum, up to ``MAX_CACHED_UNKNOWN_VALUES`` values (see
:mod:`batchaio._constants`), so repeated unknown values are as cheap to look up as known ones and a
misbehaving server cannot grow memory without bound.
"""

from __future__ import annotations

import enum
import threading
from typing import Any

from batchaio import _constants as C

__all__ = ["OpenEnum"]

_lock = threading.Lock()
# Pseudo-members of each open enum by casefolded value.
_unknown: dict[type, dict[str, Any]] = {}


class OpenEnum(str, enum.Enum):
    """A ``str`` enum that accepts any spelling of its values and keeps unknown values."""

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if not isinstance(value, str):
            return None
        folded = value.casefold()
        for member in cls._member_map_.values():
            if member._value_.casefold() == folded:
                known: OpenEnum = member  # type: ignore[assignment]
                return cls._remember(value, known)
        seen = _unknown.get(cls)
        if seen is None:
            seen = _unknown.setdefault(cls, {})
        pseudo = seen.get(folded)
        if pseudo is None:
            pseudo = str.__new__(cls, value)
            pseudo._name_ = value
            pseudo._value_ = value
            with _lock:
                if len(seen) < C.MAX_CACHED_UNKNOWN_VALUES:
                    pseudo = seen.setdefault(folded, pseudo)
        return cls._remember(value, pseudo)

    @classmethod
    def _remember(cls, value: str, member: OpenEnum) -> OpenEnum:
        # _value2member_map_ is what Enum.__call__ consults first, so a cached spelling is a plain dict hit.
        with _lock:
            lookup: dict[Any, Any] = cls._value2member_map_
            if len(lookup) - len(cls._member_map_) < C.MAX_CACHED_UNKNOWN_VALUES:
                return lookup.setdefault(value, member)  # type: ignore[no-any-return]
        return member

    @property
    def is_known(self) -> bool:
        """Whether the API version lists this value (``False`` for a value kept from the service)."""
        return self._name_ in type(self)._member_map_

    def __str__(self) -> str:
        return self._value_  # type: ignore[no-any-return]
