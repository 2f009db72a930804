"""OpenTelemetry spans for batchaio calls, named and attributed as the Azure SDKs do.

Tracing is on only when ``opentelemetry-api`` is installed (``batchaio[otel]``) and the application has set a
tracer provider; otherwise every function here returns a shared do-nothing object after one check, and
``opentelemetry`` is never imported by batchaio.

Two kinds of span:

- an INTERNAL span per public call, ``BatchClient.<group>.<method>`` (``BatchClient.jobs.get``,
  ``BatchClient.tasks.add_many`` for a whole bulk run), with ``az.namespace`` and the ids it works on;
- a CLIENT span per HTTP attempt under it, with the HTTP semantic-convention attributes. While it is open,
  HTTP instrumentation (``opentelemetry-instrumentation-httpx``...) is suppressed: no attempt is traced twice.

Attributes never carry a secret: ``url.full`` keeps the query's names and replaces every value, and nothing
from a request body or a header other than the two request ids is recorded.
"""

from __future__ import annotations

import contextvars
import functools
import importlib.util
import inspect
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any, Final, ParamSpec, TypeVar
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from batchaio._operation_names import OPERATIONS

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer, TracerProvider

__all__ = [
    "AttemptSpan",
    "attempt_span",
    "call_span",
    "operation_span",
    "path_ids",
    "redacted_url",
    "traced",
    "tracing_enabled",
]

P = ParamSpec("P")
R = TypeVar("R")

NAMESPACE: Final = "Microsoft.Batch"
REDACTED: Final = "REDACTED"
TRACER_NAME: Final = "batchaio"

ID_ATTRIBUTES: Final[Mapping[str, str]] = {
    "poolId": "az.batch.pool.id",
    "jobId": "az.batch.job.id",
    "taskId": "az.batch.task.id",
    "nodeId": "az.batch.node.id",
    "jobScheduleId": "az.batch.job_schedule.id",
}
"""The span attribute for each path parameter that names a resource."""

_OTEL_INSTALLED: Final = importlib.util.find_spec("opentelemetry") is not None
_in_call_span: contextvars.ContextVar[bool] = contextvars.ContextVar("batchaio_in_call_span", default=False)


_cached: tuple[TracerProvider, Tracer] | None = None
_trace_api: Any = None
_provider_in_environment: bool | None = None  # OTEL_PYTHON_TRACER_PROVIDER, read at the first check
_NOT_THERE: Final = object()


def _tracer() -> Tracer | None:
    """The batchaio tracer, or ``None`` when tracing is off (no opentelemetry, or no provider set)."""
    global _cached, _trace_api, _provider_in_environment
    if not _OTEL_INSTALLED:
        return None
    trace = _trace_api
    if trace is None:
        import os

        from opentelemetry import trace

        _trace_api = trace
        _provider_in_environment = "OTEL_PYTHON_TRACER_PROVIDER" in os.environ
    # While no provider is set, get_tracer_provider() reads os.environ on every call (two checks a request);
    # its own global says whether one was set, and the environment was read once above.
    if getattr(trace, "_TRACER_PROVIDER", _NOT_THERE) is None and not _provider_in_environment:
        return None
    provider = trace.get_tracer_provider()
    if isinstance(provider, trace.ProxyTracerProvider):
        return None
    if _cached is None or _cached[0] is not provider:
        _cached = (provider, provider.get_tracer(TRACER_NAME))
    return _cached[1]


def tracing_enabled() -> bool:
    """Whether spans are being recorded: opentelemetry is installed and a tracer provider is set."""
    return _tracer() is not None


def redacted_url(url: str) -> str:
    """``url`` without user info and with every query value replaced by ``REDACTED``."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"
    if parts.port is not None:
        netloc += f":{parts.port}"
    names = [quote(name, safe="$") for name, _ in parse_qsl(parts.query, keep_blank_values=True)]
    query = "&".join(f"{name}={REDACTED}" for name in names)
    return f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")


def path_ids(template: str, url: str) -> dict[str, str]:
    """The values of ``template``'s whole-segment parameters in ``url``'s path (``{jobId}`` -> ``"j1"``)."""
    wanted = template.strip("/").split("/")
    path = urlsplit(url).path.strip("/").split("/")
    found: dict[str, str] = {}
    for pattern, segment in zip(wanted, path, strict=False):
        if pattern.startswith("{") and pattern.endswith("}"):
            found[pattern[1:-1]] = unquote(segment)
    return found


def error_type(exc: BaseException) -> str:
    """The ``error.type`` of an exception: its class's qualified name, as the Azure SDKs record it."""
    kind = type(exc)
    return f"{kind.__module__}.{kind.__qualname__}"


@contextmanager
def call_span(name: str, ids: Mapping[str, str] | None = None) -> Iterator[None]:
    """An INTERNAL span named ``name`` around one public call, with the resource ``ids`` (path parameter
    names to values), unless a batchaio call span is already open (the chunk requests of a bulk run belong to
    the run's span)."""
    tracer = _tracer()
    if tracer is None or _in_call_span.get():
        yield
        return
    from opentelemetry.trace import SpanKind

    attributes: dict[str, str] = {"az.namespace": NAMESPACE}
    for parameter, value in (ids or {}).items():
        attribute = ID_ATTRIBUTES.get(parameter)
        if attribute is not None:
            attributes[attribute] = value
    token = _in_call_span.set(True)
    try:
        with tracer.start_as_current_span(
            name,
            kind=SpanKind.INTERNAL,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                yield
            except BaseException as exc:
                _record_error(span, exc)
                raise
    finally:
        _in_call_span.reset(token)


def operation_span(operation_id: str, url: str) -> AbstractContextManager[None]:
    """The call span of the REST operation ``operation_id`` sent to ``url``: ``BatchClient.<group>.<method>``
    with the ids of its path (computed only when tracing is on)."""
    if _tracer() is None or _in_call_span.get():
        return _NO_SPAN
    name, template = OPERATIONS.get(operation_id, (operation_id, ""))
    return call_span(f"BatchClient.{name}", path_ids(template, url) if template else None)


def traced(
    name: str, **id_arguments: str
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Decorate a public helper (``add_many``, ``wait_for_tasks``...) with its call span, named
    ``BatchClient.<name>``; ``id_arguments`` maps a keyword or positional argument to a path parameter
    (``job_id="jobId"``) whose value (or its ``id``, for a model such as ``job``) becomes the span's id
    attribute."""

    def decorate(function: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        signature = inspect.signature(function)

        @functools.wraps(function)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            if _tracer() is None or _in_call_span.get():
                return await function(*args, **kwargs)
            bound = signature.bind_partial(*args, **kwargs).arguments
            ids = {
                parameter: _id_of(bound[argument])
                for argument, parameter in id_arguments.items()
                if bound.get(argument) is not None
            }
            with call_span(f"BatchClient.{name}", ids):
                return await function(*args, **kwargs)

        return wrapper

    return decorate


def _id_of(value: object) -> str:
    return value if isinstance(value, str) else str(getattr(value, "id", value))


def _record_error(span: Span, exc: BaseException) -> None:
    from opentelemetry.trace import Status, StatusCode

    span.set_attribute("error.type", error_type(exc))
    span.set_status(Status(StatusCode.ERROR, type(exc).__name__))


class AttemptSpan:
    """The CLIENT span of one HTTP attempt; the pipeline reports the response or the failure to it."""

    __slots__ = ("_span",)

    def __init__(self, span: Span | None) -> None:
        self._span = span

    def response(self, status_code: int, headers: Mapping[str, str]) -> None:
        """Record the answer: its status and the service's request id (an error status marks the span)."""
        span = self._span
        if span is None:
            return
        span.set_attribute("http.response.status_code", status_code)
        request_id = headers.get("request-id")
        if request_id:
            span.set_attribute("az.service_request_id", request_id)
        if status_code >= 400:
            from opentelemetry.trace import Status, StatusCode

            span.set_attribute("error.type", str(status_code))
            span.set_status(Status(StatusCode.ERROR))

    def failure(self, exc: BaseException) -> None:
        """Record that the attempt got no answer (a refused connection, a timeout, a reset)."""
        if self._span is not None:
            _record_error(self._span, exc)


_NO_ATTEMPT: Final = AttemptSpan(None)


_NO_SPAN: Final[AbstractContextManager[None]] = nullcontext()
_NO_ATTEMPT_SPAN: Final[AbstractContextManager[AttemptSpan]] = nullcontext(_NO_ATTEMPT)


def attempt_span(
    method: str, url: str, *, client_request_id: str, resend_count: int
) -> AbstractContextManager[AttemptSpan]:
    """A CLIENT span around one HTTP attempt, with HTTP instrumentation suppressed inside it."""
    tracer = _tracer()
    if tracer is None:
        return _NO_ATTEMPT_SPAN
    return _attempt_span(tracer, method, url, client_request_id, resend_count)


@contextmanager
def _attempt_span(
    tracer: Tracer, method: str, url: str, client_request_id: str, resend_count: int
) -> Iterator[AttemptSpan]:
    from opentelemetry import context
    from opentelemetry.trace import SpanKind

    parts = urlsplit(url)
    attributes: dict[str, Any] = {
        "az.namespace": NAMESPACE,
        "http.request.method": method,
        "url.full": redacted_url(url),
        "server.address": parts.hostname or "",
        "server.port": parts.port or (443 if parts.scheme == "https" else 80),
        "az.client_request_id": client_request_id,
    }
    if resend_count:
        attributes["http.request.resend_count"] = resend_count
    with tracer.start_as_current_span(
        method,
        kind=SpanKind.CLIENT,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        token = context.attach(context.set_value(context._SUPPRESS_HTTP_INSTRUMENTATION_KEY, True))
        try:
            yield AttemptSpan(span)
        except BaseException as exc:
            _record_error(span, exc)
            raise
        finally:
            context.detach(token)
