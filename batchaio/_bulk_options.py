"""The options of a bulk task submission: one validated value, checked before anything is read or sent."""

from __future__ import annotations

import math
import random
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import attrs

from batchaio import _constants as C
from batchaio._bulk_report import BulkAddReport
from batchaio._retry import RetryPolicy
from batchaio.errors import ValidationError

__all__ = ["ENVELOPE_BYTES", "BulkOptions", "ProgressCallback"]

ProgressCallback = Callable[[BulkAddReport], "Awaitable[None] | None"]
"""Called with the live report after each answer and once at the end: a plain function or an ``async def``
(awaited)."""

# ``{"value":[`` and ``]}`` around the encoded tasks of one request.
ENVELOPE_BYTES = len(b'{"value":[]}')


def _whole(low: int, high: int | None = None) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ValidationError(
                f"{attribute.name} must be an integer >= {low}, got {value!r}", field=attribute.name
            )
        if high is not None and value > high:
            raise ValidationError(
                f"{attribute.name} is {value}: addtaskcollection takes at most {high} tasks",
                field=attribute.name,
            )

    return check


def _seconds(*, positive: bool) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is None and positive:
            return
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not number or math.isnan(value) or (value <= 0 if positive else value < 0 or math.isinf(value)):
            rule = "a positive number of seconds" if positive else "a finite number of seconds >= 0"
            raise ValidationError(f"{attribute.name} must be {rule}, got {value!r}", field=attribute.name)

    return check


def _optional_whole(low: int) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    check = _whole(low)

    def optional(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is not None:
            check(instance, attribute, value)

    return optional


def _server_timeout(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        return
    if (
        not isinstance(value, int)
        or isinstance(value, bool)
        or not C.SERVER_TIMEOUT_MIN <= value <= C.SERVER_TIMEOUT_MAX
    ):
        raise ValidationError(
            f"server_timeout must be a whole number of seconds from {C.SERVER_TIMEOUT_MIN} to "
            f"{C.SERVER_TIMEOUT_MAX}, got {value!r}",
            field="server_timeout",
        )


def _instance_or_none(kind: type) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is not None and not isinstance(value, kind):
            raise ValidationError(
                f"{attribute.name} must be a {kind.__name__} or None, got {type(value).__name__}",
                field=attribute.name,
            )

    return check


def _callable_or_none(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not callable(value):
        raise ValidationError(f"progress must be callable, got {type(value).__name__}", field="progress")


@attrs.frozen(kw_only=True)
class BulkOptions:
    """How a bulk submission runs (see :meth:`~batchaio.resources.tasks.Tasks.add_many` for each field).

    Every field is checked when the value is made; a bad one raises :class:`~batchaio.ValidationError` naming
    it, before any task is read or request sent.
    """

    concurrency: int = attrs.field(default=C.BULK_DEFAULT_CONCURRENCY, validator=_whole(1))
    chunk_size: int = attrs.field(
        default=C.BULK_MAX_TASKS_PER_CHUNK, validator=_whole(1, C.BULK_MAX_TASKS_PER_CHUNK)
    )
    max_chunk_bytes: int = attrs.field(default=C.BULK_MAX_CHUNK_BYTES, validator=_whole(ENVELOPE_BYTES + 1))
    retry: RetryPolicy | None = attrs.field(default=None, validator=_instance_or_none(RetryPolicy))
    max_attempts: int | None = attrs.field(default=None, validator=_optional_whole(1))
    max_failures_kept: int = attrs.field(default=C.BULK_MAX_FAILURES_KEPT, validator=_whole(0))
    deadline: float | None = attrs.field(default=None, validator=_seconds(positive=True))
    stop_grace: float = attrs.field(default=C.BULK_STOP_GRACE, validator=_seconds(positive=False))
    progress: ProgressCallback | None = attrs.field(default=None, validator=_callable_or_none)
    server_timeout: int | None = attrs.field(default=None, validator=_server_timeout)
    rng: random.Random | None = attrs.field(default=None, validator=_instance_or_none(random.Random))

    @classmethod
    def from_arguments(cls, arguments: Mapping[str, Any]) -> BulkOptions:
        """The options among ``arguments`` (a method's ``locals()``), by field name; others are ignored."""
        return cls(
            **{field.name: arguments[field.name] for field in attrs.fields(cls) if field.name in arguments}
        )

    def policy(self, default: RetryPolicy) -> RetryPolicy:
        """The retry policy of the run: ``retry`` if given, else ``default`` (the client's)."""
        return self.retry if self.retry is not None else default

    def attempts_per_task(self, policy: RetryPolicy) -> int:
        """Requests that may carry one task: ``max_attempts`` if given; otherwise one if ``policy`` makes no
        retries, else the larger of its ``max_attempts`` and :data:`~batchaio._constants.BULK_MAX_ATTEMPTS`
        (a run makes thousands of calls and has to outlast throttling that a single call would give up on)."""
        if self.max_attempts is not None:
            return self.max_attempts
        if policy.max_attempts == 1:
            return 1
        return max(policy.max_attempts, C.BULK_MAX_ATTEMPTS)
