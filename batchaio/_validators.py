"""The numeric checks of every configuration value (retry policy, timeouts, limits), as attrs validators.

Each raises :class:`~batchaio.errors.ValidationError` naming ``<Class>.<field>`` and the rule, and refuses
``bool`` (an ``int`` to Python, never a count or a number of seconds here), NaN and infinities: a non-finite
number would silently turn a limit off (``deadline=nan`` never runs out). ``None`` is "no limit" only where
the validator says so.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import attrs

from batchaio.errors import ValidationError

__all__ = ["check_seconds", "count", "seconds"]

_Validator = Callable[[object, "attrs.Attribute[Any]", Any], None]


def _name(instance: object, attribute: attrs.Attribute[Any]) -> str:
    return f"{type(instance).__name__}.{attribute.name}"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_seconds(field: str, value: Any, *, allow_zero: bool = False, allow_none: bool = True) -> None:
    """Refuse anything but a finite number of seconds above zero (or ``>= 0``), or ``None`` if allowed."""
    if value is None and allow_none:
        return
    rule = ">= 0" if allow_zero else "> 0"
    if not _is_number(value) or not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        none = " or None" if allow_none else ""
        raise ValidationError(
            f"{field} must be a finite number of seconds {rule}{none}, got {value!r}", field=field
        )


def seconds(*, allow_zero: bool = False, allow_none: bool = True) -> _Validator:
    """Validator of a number of seconds (see :func:`check_seconds`)."""

    def check(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        check_seconds(_name(instance, attribute), value, allow_zero=allow_zero, allow_none=allow_none)

    return check


def count(minimum: int, *, allow_none: bool = False) -> _Validator:
    """Validator of a whole number ``>= minimum`` (``None`` too when ``allow_none``)."""

    def check(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is None and allow_none:
            return
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            none = " or None" if allow_none else ""
            field = _name(instance, attribute)
            raise ValidationError(
                f"{field} must be a whole number >= {minimum}{none}, got {value!r}", field=field
            )

    return check
