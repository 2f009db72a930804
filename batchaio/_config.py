"""Small keyword-only configuration values for :class:`batchaio.BatchClient`: timeouts and connection limits.

``NOT_GIVEN`` means "use the client's default" and is kept apart from ``None``, which for a timeout means
"wait forever".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Literal

import attrs
import httpx

from batchaio import _constants as C
from batchaio._validators import check_seconds, count, seconds
from batchaio.errors import ValidationError

__all__ = [
    "NOT_GIVEN",
    "Limits",
    "LimitsLike",
    "NotGiven",
    "Timeout",
    "TimeoutLike",
    "limits_of",
    "timeout_phases",
]


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


def _check_phase(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not NOT_GIVEN:
        check_seconds(f"Timeout.{attribute.name}", value)


@attrs.frozen(kw_only=True)
class Timeout:
    """Client-side timeouts in seconds, in the spirit of ``httpx.Timeout``.

    ``connect``: establishing a connection; ``read``: waiting for each chunk of the response; ``write``:
    sending each chunk of the request; ``pool``: waiting for a free connection. ``None`` disables a limit,
    ``NOT_GIVEN`` takes the value from the defaults it is resolved against (the client's, or the package's).
    """

    connect: _Seconds = attrs.field(default=NOT_GIVEN, validator=_check_phase)
    read: _Seconds = attrs.field(default=NOT_GIVEN, validator=_check_phase)
    write: _Seconds = attrs.field(default=NOT_GIVEN, validator=_check_phase)
    pool: _Seconds = attrs.field(default=NOT_GIVEN, validator=_check_phase)

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


@attrs.frozen(kw_only=True)
class Limits:
    """Connection-pool limits of the built-in transport (``None``: unlimited).

    ``max_connections`` is at least 1; ``max_keepalive_connections`` may be 0 (no connection is kept open
    between requests); ``keepalive_expiry`` is in seconds.
    """

    max_connections: int | None = attrs.field(
        default=C.DEFAULT_MAX_CONNECTIONS, validator=count(1, allow_none=True)
    )
    max_keepalive_connections: int | None = attrs.field(
        default=C.DEFAULT_MAX_KEEPALIVE_CONNECTIONS, validator=count(0, allow_none=True)
    )
    keepalive_expiry: float | None = attrs.field(
        default=C.DEFAULT_KEEPALIVE_EXPIRY, validator=seconds(allow_zero=True)
    )

    def as_httpx(self) -> httpx.Limits:
        """The equivalent ``httpx.Limits``."""
        return httpx.Limits(
            max_connections=self.max_connections,
            max_keepalive_connections=self.max_keepalive_connections,
            keepalive_expiry=self.keepalive_expiry,
        )


TimeoutLike = Timeout | httpx.Timeout | float | None
"""What every ``timeout=`` accepts: a :class:`Timeout` (phases left ``NOT_GIVEN`` keep the defaults), an
``httpx.Timeout``, one number of seconds for every phase, or ``None`` for no limit."""

LimitsLike = Limits | httpx.Limits
"""What ``limits=`` accepts: ``httpx.Limits`` as they are, or the equivalent :class:`Limits`."""

_PHASES: Final = ("connect", "read", "write", "pool")


def timeout_phases(value: Any, defaults: Mapping[str, float | None] | Timeout) -> dict[str, float | None]:
    """The one resolution of a timeout: ``{"connect", "read", "write", "pool"}`` seconds (``None``: no limit).

    ``value`` is any :data:`TimeoutLike`; a :class:`Timeout` takes its ``NOT_GIVEN`` phases from
    ``defaults``. Every phase is checked (positive and finite, or ``None``); anything else is refused with a
    :class:`~batchaio.errors.ValidationError`.
    """
    if isinstance(defaults, Timeout):
        defaults = timeout_phases(defaults.resolve(DEFAULT_TIMEOUT), {})
    if isinstance(value, Timeout):
        phases = {name: getattr(value, name) for name in _PHASES}
        resolved = {name: defaults[name] if phases[name] is NOT_GIVEN else phases[name] for name in _PHASES}
    elif isinstance(value, httpx.Timeout):
        resolved = value.as_dict()
    elif value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)):
        resolved = dict.fromkeys(_PHASES, value)
    else:
        raise ValidationError(
            "timeout must be a Timeout, an httpx.Timeout, a number of seconds or None", field="timeout"
        )
    for name, seconds_ in resolved.items():
        check_seconds(f"timeout.{name}", seconds_)
    return resolved


def limits_of(value: Any) -> httpx.Limits:
    """``limits=`` as ``httpx.Limits``, checked as :class:`Limits` checks its fields (``None``: defaults)."""
    if value is None:
        return Limits().as_httpx()
    if isinstance(value, Limits):
        return value.as_httpx()
    if isinstance(value, httpx.Limits):
        checked = Limits(
            max_connections=value.max_connections,
            max_keepalive_connections=value.max_keepalive_connections,
            keepalive_expiry=value.keepalive_expiry,
        )
        return checked.as_httpx()
    raise ValidationError("limits must be an httpx.Limits or a batchaio.Limits", field="limits")
