"""The one request pipeline every call goes through: build, authorize, send, decide.

For each logical call: validate and build the request once (URL with ``api-version`` and ``timeout``, the
``client-request-id`` kept for every attempt, operation headers, JSON content type). Then for each attempt:
a fresh ``ocp-date``, ``Content-Length`` (``0`` on bodiless non-GET/HEAD requests), the ``Authorization``
over exactly that request (checked like every other header), one send through the
:class:`~batchaio._http.Transport` (no redirects followed), and the pure decision of :mod:`batchaio._decide`
on what happened: return, wait and retry, or raise the typed error.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from email.utils import formatdate
from types import MappingProxyType
from typing import Any, Final
from urllib.parse import quote, unquote, urlsplit

import anyio
import attrs
import httpx
import orjson

from batchaio import _constants as C
from batchaio._config import DEFAULT_TIMEOUT, NOT_GIVEN, NotGiven, TimeoutLike, timeout_phases
from batchaio._decide import (
    Attempt,
    Call,
    Decision,
    Raise,
    Retry,
    Return,
    after_deadline,
    after_failure,
    after_status,
    first_attempt,
)
from batchaio._events import EventHooks, RequestEvent, ResponseEvent, RetryEvent
from batchaio._http import BodyTooLarge, HttpRequest, HttpResponse, Transport, TransportFailed
from batchaio._idempotency import Idempotency, idempotency_of
from batchaio._redact import redact_headers, redact_query, redact_url
from batchaio._response import BatchResponse, BatchStreamResponse, ResponseMetadata
from batchaio._retry import RetryPolicy
from batchaio._tracing import attempt_span, operation_span
from batchaio._validators import check_seconds
from batchaio._version import API_VERSION, __version__
from batchaio.auth import _Authorizer
from batchaio.errors import (
    BatchaioError,
    ClientClosedError,
    ResponseParseError,
    ValidationError,
    decode_error_body,
)

__all__ = ["BatchRequest", "Pipeline"]

logger = logging.getLogger(C.LOGGER_NAME)

_EMPTY: Final[Mapping[str, str]] = MappingProxyType({})
_RESERVED_HEADERS: Final = frozenset(
    {
        "authorization",
        "host",
        "ocp-date",
        "date",
        "content-length",
        "client-request-id",
        "return-client-request-id",
    }
)
_PYTHON: Final = f"{sys.version_info.major}.{sys.version_info.minor}"
_USER_AGENT: Final = f"batchaio/{__version__} python/{_PYTHON} httpx/{httpx.__version__}"


def _redacted_headers_repr(headers: Mapping[str, str]) -> str:
    return repr(redact_headers(headers))


def _redacted_query_repr(query: Mapping[str, str]) -> str:
    return repr(redact_query(query))


def _redacted_url_repr(path: str) -> str:
    return repr(redact_url(path))


@attrs.frozen
class BatchRequest:
    """One logical call, as the operations layer describes it to the pipeline.

    ``path`` is a percent-encoded path starting with ``/``, or an absolute URL (a paging ``odata.nextLink``)
    that must be on the endpoint's scheme and host; ``api-version`` is added when absent. ``query`` holds the
    operation's own parameters (not ``api-version`` or ``timeout``), ``headers`` its own headers
    (``If-Match``, ``ocp-range``...), ``content`` the JSON body already encoded. ``server_timeout`` (1..30 s)
    becomes the ``timeout`` query parameter. ``client_request_id`` overrides the generated one; ``retry`` and
    ``deadline`` override the client's policy for this call; ``timeout`` (a :class:`~batchaio.Timeout`, an
    ``httpx.Timeout``, seconds or ``None``) overrides the client's timeouts. ``missing_is_an_answer``: a 404
    is returned as the response instead of raised (existence checks).
    """

    operation_id: str
    method: str
    path: str = attrs.field(repr=_redacted_url_repr)
    query: Mapping[str, str] = attrs.field(default=_EMPTY, repr=_redacted_query_repr)
    headers: Mapping[str, str] = attrs.field(default=_EMPTY, repr=_redacted_headers_repr)
    content: bytes | None = attrs.field(default=None, repr=False)
    server_timeout: int | None = None
    client_request_id: str | None = None
    retry: RetryPolicy | None = None
    deadline: float | None = None
    timeout: TimeoutLike | NotGiven = NOT_GIVEN
    content_type: str = C.JSON_CONTENT_TYPE
    missing_is_an_answer: bool = False


@attrs.frozen
class _Prepared:
    """A call checked and built once: its decision facts and the parts of every attempt's request."""

    call: Call
    headers: dict[str, str] = attrs.field(repr=_redacted_headers_repr)
    content: bytes = attrs.field(repr=lambda content: f"<{len(content)} bytes>")
    timeout: Mapping[str, float | None]


class _Headers(dict[str, str]):
    """The headers of a request being built: a dict whose ``repr`` is redacted (tracebacks with locals)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(redact_headers(self))

    def copy(self) -> _Headers:
        return _Headers(self)


class _HttpDate:
    """RFC 1123 date of the current second, formatted once per second."""

    __slots__ = ("_second", "_text")

    def __init__(self) -> None:
        self._second = -1
        self._text = ""

    def __call__(self) -> str:
        now = int(time.time())
        if now != self._second:
            self._text = formatdate(now, usegmt=True)
            self._second = now
        return self._text


_NOT_IN_PATH: Final = re.compile(r"[?#\r\n\t ]")
_HEADER_NAME: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HEADER_VALUE: Final = re.compile(r"[\t\x20-\x7e]*")


def _check_header(name: str, value: str, field: str) -> None:
    """Header names must be tokens and values printable ASCII; the message never shows the value."""
    if not (
        isinstance(name, str)
        and isinstance(value, str)
        and _HEADER_NAME.fullmatch(name)
        and _HEADER_VALUE.fullmatch(value)
    ):
        raise ValidationError(
            "header names must be HTTP tokens and values printable ASCII (no CR, LF or other control "
            "characters)",
            field=field,
        )


def _check_query(name: str, value: str, field: str) -> None:
    if not isinstance(name, str) or not isinstance(value, str) or not name:
        raise ValidationError("query parameter names and values must be strings", field=field)
    if "\r" in name or "\n" in name or "\r" in value or "\n" in value:
        raise ValidationError("query parameters must not contain CR or LF", field=field)


def _check_server_timeout(timeout: Any) -> None:
    if (
        not isinstance(timeout, int)
        or isinstance(timeout, bool)
        or not C.SERVER_TIMEOUT_MIN <= timeout <= C.SERVER_TIMEOUT_MAX
    ):
        raise ValidationError(
            f"server_timeout must be a whole number of seconds from {C.SERVER_TIMEOUT_MIN} to "
            f"{C.SERVER_TIMEOUT_MAX}",
            field="server_timeout",
        )


# Top-level keys of a Batch error body; a success body made of these only is an error in disguise.
_ERROR_KEYS: Final = frozenset({"code", "message", "values", "odata.metadata"})


def _error_in_disguise(content: bytes) -> bool:
    """Whether a 2xx JSON body is in fact a Batch error (``{"code": ..., "message": ...}``)."""
    if b'"code"' not in content or b'"message"' not in content:
        return False
    try:
        body = orjson.loads(content)
    except orjson.JSONDecodeError:
        return False
    return isinstance(body, dict) and "code" in body and "message" in body and body.keys() <= _ERROR_KEYS


# A random (version 4) UUID: the version nibble set to 4, the variant bits to RFC 4122's 10.
_UUID4_CLEAR: Final = ~((0xF << 76) | (0x3 << 62)) & ((1 << 128) - 1)
_UUID4_SET: Final = (0x4 << 76) | (0x2 << 62)


def new_request_id() -> str:
    """A fresh ``client-request-id``: a random UUID, as ``str(uuid.uuid4())`` spells it, at half its cost
    (one per call, thousands of calls a second in a bulk run)."""
    digits = f"{int.from_bytes(os.urandom(16), 'big') & _UUID4_CLEAR | _UUID4_SET:032x}"
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


def _event_fields(call: Call, state: Attempt) -> tuple[str, str, str, int, str]:
    """The fields every event hook receives: operation, method, redacted URL, attempt, client request id."""
    return call.operation_id, call.method, redact_url(call.url), state.number, call.client_request_id


class Pipeline:
    """Builds, authenticates, sends and retries every request of one :class:`~batchaio.BatchClient`.

    ``transport`` is the :class:`~batchaio._http.Transport` that sends; ``max_response_bytes`` caps every
    body read whole. ``sleep`` (``anyio.sleep`` by default), ``clock`` (monotonic seconds) and
    ``request_id_factory`` are injectable for tests; jitter comes from the retry policy's ``rng``.
    """

    def __init__(
        self,
        *,
        transport: Transport,
        endpoint: str,
        authorizer: _Authorizer,
        retry: RetryPolicy,
        timeout: TimeoutLike = DEFAULT_TIMEOUT,
        max_response_bytes: int | None = C.DEFAULT_MAX_RESPONSE_BYTES,
        sleep: Callable[[float], Awaitable[Any]] = anyio.sleep,
        clock: Callable[[], float] = time.monotonic,
        request_id_factory: Callable[[], str] = new_request_id,
        event_hooks: EventHooks | None = None,
    ) -> None:
        parts = httpx.URL(endpoint)
        self.transport = transport
        self._scheme = parts.scheme
        self._host = parts.host
        self._port = parts.port
        self._netloc = parts.netloc.decode("ascii")
        self._base = f"{parts.scheme}://{self._netloc}{parts.raw_path.decode('ascii').rstrip('/')}"
        self._authorizer = authorizer
        self.retry = retry
        self.timeout = timeout_phases(timeout, DEFAULT_TIMEOUT)
        self.max_response_bytes = max_response_bytes
        self.sleep = sleep
        self.clock = clock
        self._new_request_id = request_id_factory
        self._http_date = _HttpDate()
        self.event_hooks = event_hooks if event_hooks is not None else EventHooks()
        self._idempotency_classes: dict[str, Idempotency] = {}

    # -- public interface ------------------------------------------------------------------------------------

    async def send(self, request: BatchRequest) -> BatchResponse:
        """Perform ``request`` with retries and return the read response; an error status raises its error.

        A :class:`~batchaio.errors.ValidationError` always means that nothing was sent: every check (operation
        id, path or link on the endpoint, header names and values, query, ``server_timeout``, deadline, an
        Entra token over http) runs before the first byte goes out, and none can fail on a later attempt.
        Other errors: :class:`~batchaio.errors.RequestNotSentError` (provably not sent),
        :class:`~batchaio.errors.OutcomeUnknownError`, :class:`~batchaio.errors.DeadlineExceededError`,
        :class:`~batchaio.errors.ClientClosedError`, :class:`~batchaio.errors.CredentialError`, the
        :class:`~batchaio.errors.BatchStatusError` subclasses (with ``prior_outcome_unknown``) and
        :class:`~batchaio.errors.ResponseParseError` (a success status whose body is a Batch error, or a body
        over ``max_response_bytes``).
        """
        prepared = self._prepare(request)
        with operation_span(request.operation_id, prepared.call.url):
            return self._checked(request, prepared, *await self._run(prepared, stream=False))

    @staticmethod
    def _checked(
        request: BatchRequest, prepared: _Prepared, response: HttpResponse, state: Attempt, answer: Return
    ) -> BatchResponse:
        result = BatchResponse(
            status_code=response.status_code,
            headers=response.headers,
            content=response.content,
            method=prepared.call.method,
            url=prepared.call.url,
            prior_outcome_unknown=state.outcome_unknown,
            attempts=state.number,
            applied_by_earlier_attempt=answer.applied_by_earlier_attempt,
            sent_client_request_id=prepared.call.client_request_id,
        )
        if 200 <= result.status_code < 300 and _error_in_disguise(result.content):
            raise ResponseParseError(
                f"{request.operation_id}: the {result.status_code} response carries a Batch error "
                f"({decode_error_body(result.content) or ''})",
                metadata=result.metadata,
                operation=request.operation_id,
            )
        return result

    @contextlib.asynccontextmanager
    async def stream(self, request: BatchRequest) -> AsyncIterator[BatchStreamResponse]:
        """Perform ``request`` with retries up to the response headers and yield it with its body unread.

        The call's deadline covers getting the headers; reading the body is bounded by the read timeout.
        """
        prepared = self._prepare(request)
        with operation_span(request.operation_id, prepared.call.url):
            async with self._streamed(prepared) as streamed:
                yield streamed

    @contextlib.asynccontextmanager
    async def _streamed(self, prepared: _Prepared) -> AsyncIterator[BatchStreamResponse]:
        response, state, answer = await self._run(prepared, stream=True)
        try:
            metadata = ResponseMetadata.from_response(
                response,
                attempts=state.number,
                applied_by_earlier_attempt=answer.applied_by_earlier_attempt,
                prior_outcome_unknown=state.outcome_unknown,
                sent_client_request_id=prepared.call.client_request_id,
            )
            call = prepared.call
            yield BatchStreamResponse(response, metadata, method=call.method, url=call.url)
        finally:
            await response.aclose()

    # -- building --------------------------------------------------------------------------------------------

    def _prepare(self, request: BatchRequest) -> _Prepared:
        policy = request.retry if request.retry is not None else self.retry
        deadline = policy.deadline  # checked by RetryPolicy
        if request.deadline is not None:
            check_seconds("deadline", request.deadline)
            deadline = request.deadline
        client_request_id = request.client_request_id
        if client_request_id:
            _check_header("client-request-id", client_request_id, "client_request_id")
        else:
            client_request_id = self._new_request_id()
        query: list[tuple[str, str]] = list(request.query.items())
        if request.server_timeout is not None:
            _check_server_timeout(request.server_timeout)
            query.append(("timeout", str(request.server_timeout)))
        url = self._url(request.path, query)
        method = request.method.upper()
        call = Call(
            operation_id=request.operation_id,
            idempotency=self._idempotency(request.operation_id),
            policy=policy,
            deadline=deadline,
            method=method,
            url=url,
            client_request_id=client_request_id,
            answers_challenges=self._authorizer.answers_challenges,
            missing_is_an_answer=request.missing_is_an_answer,
        )
        timeout = self.timeout
        if request.timeout is not NOT_GIVEN:
            timeout = timeout_phases(request.timeout, self.timeout)
        return _Prepared(call, self._headers(request, client_request_id), request.content or b"", timeout)

    def _idempotency(self, operation_id: str) -> Idempotency:
        """The operation's idempotency class, looked up once per operation id."""
        found = self._idempotency_classes.get(operation_id)
        if found is None:
            found = self._idempotency_classes[operation_id] = idempotency_of(operation_id)
        return found

    def _headers(self, request: BatchRequest, client_request_id: str) -> dict[str, str]:
        headers = _Headers(
            {
                "Host": self._netloc,
                "accept": C.ACCEPT,
                "accept-encoding": C.ACCEPT_ENCODING,
                "user-agent": _USER_AGENT,
                "client-request-id": client_request_id,
                "return-client-request-id": "true",
            }
        )
        for name, value in request.headers.items():
            _check_header(name, value, f"headers[{name!r}]")
            if name.lower() in _RESERVED_HEADERS:
                raise ValidationError(f"the header {name!r} is set by the client", field=f"headers[{name!r}]")
            headers[name] = value
        if request.content is not None:
            headers.setdefault("content-type", request.content_type)
        return headers

    def _url(self, path: str, query: list[tuple[str, str]]) -> str:
        for name, value in query:
            _check_query(name, value, f"query[{name!r}]")
        if path.startswith("/"):
            if _NOT_IN_PATH.search(path):
                raise ValidationError(
                    "path must be a percent-encoded path without query or fragment", field="path"
                )
            encoded = "&".join(f"{quote(name, safe='$')}={quote(value, safe='')}" for name, value in query)
            api = f"api-version={API_VERSION}"
            return f"{self._base}{path}?{api}&{encoded}" if encoded else f"{self._base}{path}?{api}"
        return self._absolute_url(path, query)

    def _absolute_url(self, link: str, query: list[tuple[str, str]]) -> str:
        """A next link, refused unless on the endpoint; ``api-version`` and absent query items appended."""
        self._check_link(link)
        base = link.partition("#")[0]
        present = {
            unquote(item.partition("=")[0]).lower() for item in urlsplit(base).query.split("&") if item
        }
        extra = [(name, value) for name, value in query if name.lower() not in present]
        if "api-version" not in present:
            extra.insert(0, ("api-version", API_VERSION))
        if not extra:
            return base
        encoded = "&".join(f"{quote(name, safe='$')}={quote(value, safe='')}" for name, value in extra)
        separator = "&" if "?" in base and not base.endswith(("?", "&")) else ("" if "?" in base else "?")
        return f"{base}{separator}{encoded}"

    def _check_link(self, link: str) -> None:
        if any(ch in link for ch in "\r\n\t "):
            raise ValidationError("the URL contains whitespace or control characters", field="path")
        try:
            parsed = httpx.URL(link)
        except httpx.InvalidURL:
            raise ValidationError("path is neither a path nor a valid URL", field="path") from None
        # Credentials in a link would also make httpx replace the signed Authorization with Basic auth.
        if parsed.userinfo or (parsed.scheme, parsed.host, parsed.port) != (
            self._scheme,
            self._host,
            self._port,
        ):
            raise ValidationError(
                f"refusing to send a request to {redact_url(link)!r}: not on the client's endpoint",
                field="path",
            )

    async def _authorized(self, prepared: _Prepared) -> HttpRequest:
        """The request of one attempt: fresh ``ocp-date``, ``Content-Length`` as httpx would set it, and the
        ``Authorization`` over exactly these headers, checked (a token read with its newline is refused)."""
        call = prepared.call
        headers = prepared.headers.copy()
        headers["ocp-date"] = self._http_date()
        content = prepared.content
        if content or call.method not in ("GET", "HEAD"):
            headers["Content-Length"] = str(len(content))
        headers["Authorization"] = await self._authorizer.authorization(call.method, call.url, headers)
        _check_header("Authorization", headers["Authorization"], "credential")
        return HttpRequest(call.method, call.url, headers, content, prepared.timeout, self.max_response_bytes)

    # -- sending and deciding --------------------------------------------------------------------------------

    async def _run(self, prepared: _Prepared, *, stream: bool) -> tuple[HttpResponse, Attempt, Return]:
        """Attempt until the decision core says return (the response) or raise."""
        call = prepared.call
        state = first_attempt(call)
        started = self.clock()
        while True:
            request = await self._authorized(prepared)
            response, decision, cause = await self._attempt(request, call, state, started, stream=stream)
            if isinstance(decision, Return):
                assert response is not None
                return response, state, decision
            if response is not None:
                await response.aclose()
            if isinstance(decision, Raise):
                raise decision.error from cause
            await self._before_retry(call, state, decision, request, response)
            state = decision.next

    async def _attempt(
        self, request: HttpRequest, call: Call, state: Attempt, started: float, *, stream: bool
    ) -> tuple[HttpResponse | None, Decision, BaseException | None]:
        """One send and the decision on it: ``(response or None, decision, cause to chain)``."""
        elapsed = self.clock() - started
        remaining = None if call.deadline is None else call.deadline - elapsed
        resends = state.number - 1
        with attempt_span(
            call.method, call.url, client_request_id=call.client_request_id, resend_count=resends
        ) as span:
            if self.event_hooks.request:
                await self.event_hooks.emit_request(RequestEvent(*_event_fields(call, state)))
            sent_at = time.perf_counter()
            try:
                response = await self.transport.send(request, stream=stream, deadline=remaining)
            except (TransportFailed, TimeoutError, BodyTooLarge, RuntimeError) as exc:
                span.failure(exc)
                if self.event_hooks.response:
                    failure = exc.name if isinstance(exc, TransportFailed) else type(exc).__name__
                    await self._emit_response(call, state, sent_at, None, failure)
                return self._after_exception(exc, call, state, started, sent_at)
            span.response(response.status_code, response.headers)
            if self.event_hooks.response:
                await self._emit_response(call, state, sent_at, response, None)
        self._log_attempt(call, state, sent_at, response.status_code, response.headers)
        status = response.status_code
        error = decode_error_body(response.content) if status >= 400 else None
        decision = after_status(call, state, status, response.headers, error, elapsed=self.clock() - started)
        return response, decision, None

    async def _emit_response(
        self, call: Call, state: Attempt, sent_at: float, response: HttpResponse | None, failure: str | None
    ) -> None:
        event = ResponseEvent(
            *_event_fields(call, state),
            status_code=None if response is None else response.status_code,
            request_id=None if response is None else response.headers.get("request-id"),
            failure=failure,
            elapsed=time.perf_counter() - sent_at,
        )
        await self.event_hooks.emit_response(event)

    def _after_exception(
        self, exc: Exception, call: Call, state: Attempt, started: float, sent_at: float
    ) -> tuple[HttpResponse | None, Decision, BaseException | None]:
        """The decision on an attempt that raised instead of answering (or the exception to raise)."""
        if isinstance(exc, TransportFailed):
            self._log_attempt(call, state, sent_at, exc.name)
            if self.transport.is_closed:
                return None, Raise(self._closed_error(call, state, sent=True)), exc.__cause__
            failure = after_failure(
                call, state, exc.failure, exc.name, exc.text, configuration=exc.configuration,
                elapsed=self.clock() - started,
            )  # fmt: skip
            return None, failure, exc.__cause__
        if isinstance(exc, TimeoutError):
            self._log_attempt(call, state, sent_at, "deadline")
            return None, after_deadline(call, state), exc
        if isinstance(exc, BodyTooLarge):
            raise self._too_large(call, state, exc) from None
        if isinstance(exc, RuntimeError) and self.transport.is_closed:  # httpx refuses to send once closed
            return None, Raise(self._closed_error(call, state, sent=False)), None
        raise exc

    async def _before_retry(
        self, call: Call, state: Attempt, decision: Retry, request: HttpRequest, response: HttpResponse | None
    ) -> None:
        if decision.reauthorize:
            assert response is not None
            await self._authorizer.on_challenge(request.headers.get("Authorization"), response.headers)
            return
        if self.event_hooks.retry:
            event = RetryEvent(*_event_fields(call, state), reason=decision.reason, delay=decision.delay)
            await self.event_hooks.emit_retry(event)
        if logger.isEnabledFor(logging.INFO):
            logger.info(
                "%s %s: attempt %d failed (%s); retrying in %.3f s [client-request-id=%s]",
                call.method, redact_url(call.url), state.number, decision.reason, decision.delay,
                call.client_request_id,
            )  # fmt: skip
        await self.sleep(decision.delay)

    @staticmethod
    def _closed_error(call: Call, state: Attempt, *, sent: bool) -> ClientClosedError:
        unknown = state.outcome_unknown or (sent and call.idempotency is not Idempotency.READ)
        return ClientClosedError(
            "the client was closed while the call was in flight"
            if sent
            else "the client is closed: the request was not sent",
            outcome_unknown=unknown,
            method=call.method,
            url=call.url,
            attempts=state.number,
            client_request_id=call.client_request_id,
        )

    @staticmethod
    def _too_large(call: Call, state: Attempt, exc: BodyTooLarge) -> BatchaioError:
        metadata = ResponseMetadata.from_response(
            exc, attempts=state.number, sent_client_request_id=call.client_request_id
        )
        return ResponseParseError(
            f"{call.operation_id}: the {exc.status_code} response body is larger than {exc.limit} bytes "
            "(max_response_bytes); not read",
            metadata=metadata,
            operation=call.operation_id,
        )

    # -- logging ---------------------------------------------------------------------------------------------

    def _log_attempt(
        self,
        call: Call,
        state: Attempt,
        sent_at: float,
        outcome: int | str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "%s %s -> %s attempt=%d request-id=%s client-request-id=%s elapsed=%.1fms",
                call.method, redact_url(call.url), outcome, state.number,
                headers.get("request-id") if headers is not None else None, call.client_request_id,
                (time.perf_counter() - sent_at) * 1000.0,
            )  # fmt: skip
