"""Checks of the workflow helpers' options, before anything is sent (``ValidationError`` naming the field)."""

from __future__ import annotations

from batchaio.errors import ValidationError

__all__ = ["check_count", "check_seconds"]


def check_seconds(field: str, value: object, *, optional: bool = True, zero: bool = True) -> None:
    """``value`` is a number of seconds: ``None`` allowed if ``optional``, ``0`` if ``zero``."""
    if value is None and optional:
        return
    number = not isinstance(value, bool) and isinstance(value, (int, float))
    if not number or value < 0 or (value == 0 and not zero):  # type: ignore[operator]
        rule = "a non-negative" if zero else "a positive"
        raise ValidationError(
            f"{field} must be {rule} number of seconds" + (" or None" if optional else ""), field=field
        )


def check_count(field: str, value: object, *, minimum: int, optional: bool = False) -> None:
    """``value`` is an int of at least ``minimum`` (or ``None`` if ``optional``)."""
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValidationError(
            f"{field} must be an int of at least {minimum}" + (" or None" if optional else ""), field=field
        )
