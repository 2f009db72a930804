"""Small keyword-only configuration values for :class:`batchaio.BatchClient`: timeouts and connection limits.

``NOT_GIVEN`` means "use the client's default" and is kept apart from ``None``, which for a timeout means
"wait forever".
"""

from __future__ import annotations

from typing import Any, Final, Literal

import attrs
import httpx

from batchaio import _constants as C

__all__ = ["NOT_GIVEN", "Limits", "NotGiven", "Timeout"]


class NotGiven:
    """Type of :data:`NOT_GIVEN`, the "use the client default" marker (distinct from ``None``)."""

    _instance: NotGiven | None = None

    def __new__(cls) -> NotGiven:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> Literal[False]:
        return False

    def __repr__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN: Final = NotGiven()

_Seconds = float | None | NotGiven


def _check_seconds(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value <= 0:
            raise ValueError(f"Timeout.{attribute.name} must be positive or None, got {value!r}")
    elif value is not None and value is not NOT_GIVEN:
        raise TypeError(f"Timeout.{attribute.name} must be a number, None or NOT_GIVEN, got {value!r}")


@attrs.frozen(kw_only=True)
class Timeout:
    """Client-side timeouts in seconds, in the spirit of ``httpx.Timeout``.

    ``connect``: establishing a connection; ``read``: waiting for each chunk of the response; ``write``:
    sending each chunk of the request; ``pool``: waiting for a free connection. ``None`` disables a limit,
    ``NOT_GIVEN`` takes the value from the defaults it is resolved against (the client's, or the package's).
    """

    connect: _Seconds = attrs.field(default=NOT_GIVEN, validator=_check_seconds)
    read: _Seconds = attrs.field(default=NOT_GIVEN, validator=_check_seconds)
    write: _Seconds = attrs.field(default=NOT_GIVEN, validator=_check_seconds)
    pool: _Seconds = attrs.field(default=NOT_GIVEN, validator=_check_seconds)

    @classmethod
    def of(cls, seconds: float | None) -> Timeout:
        """The same limit for all four phases."""
        return cls(connect=seconds, read=seconds, write=seconds, pool=seconds)

    def resolve(self, defaults: Timeout) -> Timeout:
        """Replace every ``NOT_GIVEN`` phase by the phase of ``defaults``."""

        def pick(mine: _Seconds, theirs: _Seconds) -> _Seconds:
            return theirs if mine is NOT_GIVEN else mine

        return Timeout(
            connect=pick(self.connect, defaults.connect),
            read=pick(self.read, defaults.read),
            write=pick(self.write, defaults.write),
            pool=pick(self.pool, defaults.pool),
        )

    def as_httpx(self) -> httpx.Timeout:
        """The equivalent ``httpx.Timeout``; phases still ``NOT_GIVEN`` take the package defaults."""
        full = self.resolve(DEFAULT_TIMEOUT)
        return httpx.Timeout(
            connect=_seconds(full.connect), read=_seconds(full.read), write=_seconds(full.write),
            pool=_seconds(full.pool),
        )  # fmt: skip


def _seconds(value: _Seconds) -> float | None:
    return None if isinstance(value, NotGiven) else value


DEFAULT_TIMEOUT: Final = Timeout(
    connect=C.DEFAULT_CONNECT_TIMEOUT,
    read=C.DEFAULT_READ_TIMEOUT,
    write=C.DEFAULT_WRITE_TIMEOUT,
    pool=C.DEFAULT_POOL_TIMEOUT,
)


def _count(minimum: int) -> Any:
    def check(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is None:
            return
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"Limits.{attribute.name} must be a whole number or None, got {value!r}")
        if value < minimum:
            raise ValueError(f"Limits.{attribute.name} must be at least {minimum} or None, got {value!r}")

    return check


def _seconds_or_none(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise TypeError(f"Limits.{attribute.name} must be a number of seconds or None, got {value!r}")
    if not value >= 0:  # also refuses NaN
        raise ValueError(f"Limits.{attribute.name} must be >= 0 or None, got {value!r}")


@attrs.frozen(kw_only=True)
class Limits:
    """Connection-pool limits of the built-in transport (``None``: unlimited).

    ``max_connections`` is at least 1; ``max_keepalive_connections`` may be 0 (no connection is kept open
    between requests); ``keepalive_expiry`` is in seconds.
    """

    max_connections: int | None = attrs.field(default=C.DEFAULT_MAX_CONNECTIONS, validator=_count(1))
    max_keepalive_connections: int | None = attrs.field(
        default=C.DEFAULT_MAX_KEEPALIVE_CONNECTIONS, validator=_count(0)
    )
    keepalive_expiry: float | None = attrs.field(
        default=C.DEFAULT_KEEPALIVE_EXPIRY, validator=_seconds_or_none
    )

    def as_httpx(self) -> httpx.Limits:
        """The equivalent ``httpx.Limits``."""
        return httpx.Limits(
            max_connections=self.max_connections,
            max_keepalive_connections=self.max_keepalive_connections,
            keepalive_expiry=self.keepalive_expiry,
        )
