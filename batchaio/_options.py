"""Per-call options: what every operation accepts besides its own parameters, and the defaults of
:meth:`BatchClient.with_options <batchaio.BatchClient.with_options>` views.

``timeout`` (a :class:`~batchaio.Timeout`, an ``httpx.Timeout``, seconds for every phase, or ``None`` for
none), ``retry`` (a :class:`~batchaio.RetryPolicy`), ``deadline`` (seconds for the whole call, retries and
waits included) and ``server_timeout`` (the service's own processing limit, 1-30 s) can be defaults of a view;
``client_request_id`` only belongs to one call. They travel to the pipeline in the fields of its request.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final, TypedDict, cast

from batchaio._config import DEFAULT_TIMEOUT, NOT_GIVEN, TimeoutLike, timeout_phases
from batchaio._retry import RetryPolicy
from batchaio.errors import ValidationError

__all__ = ["CallOptions", "DefaultOptions", "check_defaults", "request_options"]


class DefaultOptions(TypedDict, total=False):
    """Options that a :meth:`~batchaio.BatchClient.with_options` view applies to each of its calls."""

    timeout: TimeoutLike
    retry: RetryPolicy
    deadline: float
    server_timeout: int


class CallOptions(DefaultOptions, total=False):
    """Options of one call: the defaults, and the ``client-request-id`` to send (generated if absent)."""

    client_request_id: str


_DEFAULT_NAMES: Final = frozenset(DefaultOptions.__annotations__)
_CALL_NAMES: Final = frozenset(CallOptions.__annotations__) | _DEFAULT_NAMES
_NO_OPTIONS: Final[dict[str, Any]] = {
    "server_timeout": None,
    "client_request_id": None,
    "retry": None,
    "deadline": None,
    "timeout": NOT_GIVEN,
}


def check_defaults(options: dict[str, Any]) -> DefaultOptions:
    """The options of a view, checked (``client_request_id`` cannot be a default: ids name one call)."""
    _refuse_unknown(options, _DEFAULT_NAMES, "with_options")
    _check_values(options)
    return cast(DefaultOptions, options)


def request_options(defaults: DefaultOptions, options: CallOptions, operation: str) -> dict[str, Any]:
    """The keyword arguments of the pipeline's request for one call: its options over the view's defaults."""
    if not options and not defaults:
        return _NO_OPTIONS
    if options:
        if not options.keys() <= _CALL_NAMES:
            _refuse_unknown(options, _CALL_NAMES, operation)
        _check_values(options, timeout=False)  # the pipeline checks the timeout as it resolves it
    merged: dict[str, Any] = {**defaults, **options}
    return {
        "server_timeout": merged.get("server_timeout"),
        "client_request_id": merged.get("client_request_id"),
        "retry": merged.get("retry"),
        "deadline": merged.get("deadline"),
        "timeout": merged.get("timeout", NOT_GIVEN),
    }


def _refuse_unknown(options: Mapping[str, Any], known: frozenset[str], where: str) -> None:
    unknown = sorted(set(options) - known)
    if unknown:
        # As Python words it for a named parameter: a misspelt option must not pass silently.
        raise TypeError(f"{where}() got an unexpected keyword argument {unknown[0]!r}")


def _check_values(options: Mapping[str, Any], *, timeout: bool = True) -> None:
    if "retry" in options and not isinstance(options["retry"], RetryPolicy):
        raise ValidationError("retry must be a RetryPolicy", field="retry")
    if "deadline" in options:
        deadline = options["deadline"]
        if (
            isinstance(deadline, bool)
            or not isinstance(deadline, (int, float))
            or not math.isfinite(deadline)
            or deadline <= 0
        ):
            raise ValidationError("deadline must be a positive, finite number of seconds", field="deadline")
    if timeout and "timeout" in options:
        timeout_phases(options["timeout"], DEFAULT_TIMEOUT)  # checks every phase
