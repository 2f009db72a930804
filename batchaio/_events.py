"""Event hooks: what metrics and logging integrations can observe of every HTTP attempt.

``BatchClient(..., event_hooks=EventHooks(request=[...], response=[...], retry=[...]))`` calls each hook
with a small frozen event, in order, from the pipeline; a hook may be a plain function or an ``async def``.
Events carry no secret: the URL is redacted, and no header or body is passed. An exception raised by a hook
ends the call with that exception, as in httpx.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import attrs

from batchaio.errors import ValidationError

__all__ = ["EventHooks", "RequestEvent", "ResponseEvent", "RetryEvent"]

E = TypeVar("E")


@attrs.frozen
class RequestEvent:
    """An attempt is about to be sent (``attempt`` counts from 1 within the call)."""

    operation_id: str
    method: str
    url: str
    attempt: int
    client_request_id: str


@attrs.frozen
class ResponseEvent:
    """An attempt ended: with an answer (``status_code``, the service's ``request_id``), or without one
    (``status_code`` is ``None``; ``failure`` names what happened, as ``"connect"`` or ``"read timeout"``)."""

    operation_id: str
    method: str
    url: str
    attempt: int
    client_request_id: str
    status_code: int | None
    request_id: str | None
    failure: str | None
    elapsed: float
    """Seconds from sending to the answer's headers (or to the failure)."""


@attrs.frozen
class RetryEvent:
    """The call will try again after ``delay`` seconds, for ``reason`` (a status or a failure)."""

    operation_id: str
    method: str
    url: str
    attempt: int
    """The attempt that failed; the next one is ``attempt + 1``."""
    client_request_id: str
    reason: str
    delay: float


Hook = Callable[[E], "Awaitable[None] | None"]
"""A hook: called with the event; may return an awaitable, which is awaited."""


async def _call_all(hooks: Sequence[Hook[E]], event: E) -> None:
    for hook in hooks:
        result = hook(event)
        if inspect.isawaitable(result):
            await result


def _hook_tuple(value: Sequence[Callable[..., object]]) -> tuple[Callable[..., object], ...]:
    if callable(value):
        raise ValidationError("event hooks are given as a list of callables", field="event_hooks")
    hooks = tuple(value)
    for hook in hooks:
        if not callable(hook):
            raise ValidationError(
                f"an event hook must be callable, not {type(hook).__name__}", field="event_hooks"
            )
    return hooks


@attrs.frozen
class EventHooks:
    """The hooks of one client: ``request`` before each attempt is sent, ``response`` after each attempt
    (answered or not), ``retry`` before each wait for a new attempt."""

    request: Sequence[Hook[RequestEvent]] = attrs.field(default=(), converter=_hook_tuple)
    response: Sequence[Hook[ResponseEvent]] = attrs.field(default=(), converter=_hook_tuple)
    retry: Sequence[Hook[RetryEvent]] = attrs.field(default=(), converter=_hook_tuple)

    async def emit_request(self, event: RequestEvent) -> None:
        """Call the ``request`` hooks with ``event``."""
        await _call_all(self.request, event)

    async def emit_response(self, event: ResponseEvent) -> None:
        """Call the ``response`` hooks with ``event``."""
        await _call_all(self.response, event)

    async def emit_retry(self, event: RetryEvent) -> None:
        """Call the ``retry`` hooks with ``event``."""
        await _call_all(self.retry, event)
