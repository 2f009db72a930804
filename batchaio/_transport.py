"""The one request pipeline every call goes through.

For each logical call: validate and build the request once (URL with ``api-version`` and ``timeout``, the
``client-request-id`` kept for every attempt, operation headers, JSON content type); then for each attempt: a
fresh ``ocp-date``, the final ``httpx.Request`` (``Content-Length: 0`` on bodiless non-GET/HEAD requests), a
signature or token over exactly that request, send without following redirects, and decide from the status or
the ``httpx`` exception, the operation's idempotency class and the retry policy whether to return, wait and
retry, or raise the typed error.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from email.utils import formatdate
from types import MappingProxyType
from typing import Any, Final
from urllib.parse import quote, unquote, urlsplit

import anyio
import attrs
import httpx

from batchaio import _constants as C
from batchaio._config import DEFAULT_TIMEOUT, NOT_GIVEN, NotGiven, Timeout
from batchaio._redact import redact_headers, redact_query, redact_text, redact_url
from batchaio._response import BatchResponse, BatchStreamResponse, ResponseMetadata
from batchaio._retry import (
    Idempotency,
    RetryPolicy,
    TransportFailure,
    classify_transport_error,
    idempotency_of,
    is_configuration_error,
    may_retry_status,
    may_retry_transport,
    minimum_throttle_delay,
    parse_retry_after,
    presumed_done,
    status_outcome_unknown,
)
from batchaio._version import API_VERSION, __version__
from batchaio.auth import _Authorizer
from batchaio.errors import (
    DeadlineExceededError,
    OutcomeUnknownError,
    RequestNotSentError,
    TransportError,
    ValidationError,
    error_class_for_status,
    parse_error_body,
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
    ``deadline`` override the client's policy for this call; ``timeout`` overrides the client's timeouts.
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
    timeout: Timeout | NotGiven = NOT_GIVEN
    content_type: str = C.JSON_CONTENT_TYPE


@attrs.frozen
class _Prepared:
    operation_id: str
    idempotency: Idempotency
    method: str
    url: str
    parsed_url: httpx.URL
    headers: dict[str, str]
    content: bytes | None
    client_request_id: str
    policy: RetryPolicy
    deadline: float | None
    timeout: dict[str, float | None]


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


_HEADER_NAME: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HEADER_VALUE: Final = re.compile(r"[\t\x20-\x7e]*")


def _check_header(name: str, value: str, field: str) -> None:
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


def _metadata(
    prepared: _Prepared, response: httpx.Response, attempts: int, unknown: bool, applied: bool
) -> ResponseMetadata:
    return ResponseMetadata.from_response(
        response,
        attempts=attempts,
        applied_by_earlier_attempt=applied,
        prior_outcome_unknown=unknown,
        sent_client_request_id=prepared.client_request_id,
    )


class Pipeline:
    """Builds, authenticates, sends and retries every request of one :class:`~batchaio.BatchClient`.

    ``sleep`` (``anyio.sleep`` by default), ``clock`` (monotonic seconds) and ``request_id_factory`` are
    injectable for tests; jitter comes from the retry policy's ``rng``.
    """

    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        endpoint: str,
        authorizer: _Authorizer,
        retry: RetryPolicy,
        timeout: Timeout = DEFAULT_TIMEOUT,
        sleep: Callable[[float], Awaitable[Any]] = anyio.sleep,
        clock: Callable[[], float] = time.monotonic,
        request_id_factory: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        parts = httpx.URL(endpoint)
        self._http = http
        self._scheme = parts.scheme
        self._host = parts.host
        self._port = parts.port
        self._base = (
            f"{parts.scheme}://{parts.netloc.decode('ascii')}{parts.raw_path.decode('ascii').rstrip('/')}"
        )
        self._authorizer = authorizer
        self.retry = retry
        self.timeout = timeout.resolve(DEFAULT_TIMEOUT)
        self._timeout_dict = self.timeout.as_httpx().as_dict()
        self.sleep = sleep
        self.clock = clock
        self._new_request_id = request_id_factory
        self._http_date = _HttpDate()
        self._parsed_urls: dict[str, httpx.URL] = {}

    # -- public interface ------------------------------------------------------------------------------------

    async def send(self, request: BatchRequest) -> BatchResponse:
        """Perform ``request`` with retries and return the read response; an error status raises its error.

        A :class:`~batchaio.errors.ValidationError` always means that nothing was sent: every check (operation
        id, path or link on the endpoint, header names and values, query, ``server_timeout``, deadline, an
        Entra token over http) runs before the first byte goes out, and none can fail on a later attempt.
        Other errors: :class:`~batchaio.errors.RequestNotSentError` (provably not sent),
        :class:`~batchaio.errors.OutcomeUnknownError`, :class:`~batchaio.errors.DeadlineExceededError` and the
        :class:`~batchaio.errors.BatchStatusError` subclasses (with ``prior_outcome_unknown``).
        """
        prepared = self._prepare(request)
        response, attempts, unknown, applied = await self._run(prepared, stream=False)
        return BatchResponse(
            status_code=response.status_code,
            headers=response.headers,
            content=response.content,
            metadata=_metadata(prepared, response, attempts, unknown, applied),
            method=prepared.method,
            url=str(response.request.url),
            prior_outcome_unknown=unknown,
        )

    @contextlib.asynccontextmanager
    async def stream(self, request: BatchRequest) -> AsyncIterator[BatchStreamResponse]:
        """Perform ``request`` with retries up to the response headers and yield it with its body unread.

        The call's deadline covers getting the headers; reading the body is bounded by the read timeout.
        """
        prepared = self._prepare(request)
        response, attempts, unknown, applied = await self._run(prepared, stream=True)
        try:
            metadata = _metadata(prepared, response, attempts, unknown, applied)
            yield BatchStreamResponse(
                response, metadata, method=prepared.method, url=str(response.request.url)
            )
        finally:
            await response.aclose()

    # -- building --------------------------------------------------------------------------------------------

    def _prepare(self, request: BatchRequest) -> _Prepared:
        method = request.method.upper()
        idempotency = idempotency_of(request.operation_id)
        policy = request.retry if request.retry is not None else self.retry
        deadline = request.deadline if request.deadline is not None else policy.deadline
        if deadline is not None and deadline <= 0:
            raise ValidationError("deadline must be a positive number of seconds", field="deadline")
        client_request_id = request.client_request_id or self._new_request_id()
        _check_header("client-request-id", client_request_id, "client_request_id")

        query: list[tuple[str, str]] = list(request.query.items())
        if request.server_timeout is not None:
            timeout = request.server_timeout
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
            query.append(("timeout", str(timeout)))
        url = self._url(request.path, query)
        parsed_url = self._parse_url(url)

        headers = {
            "Host": parsed_url.netloc.decode("ascii"),
            "accept": C.ACCEPT,
            "user-agent": _USER_AGENT,
            "client-request-id": client_request_id,
            "return-client-request-id": "true",
        }
        for name, value in request.headers.items():
            _check_header(name, value, f"headers[{name!r}]")
            if name.lower() in _RESERVED_HEADERS:
                raise ValidationError(f"the header {name!r} is set by the client", field=f"headers[{name!r}]")
            headers[name] = value
        if request.content is not None:
            headers.setdefault("content-type", request.content_type)

        timeout_dict = self._timeout_dict
        if isinstance(request.timeout, Timeout):
            timeout_dict = request.timeout.resolve(self.timeout).as_httpx().as_dict()
        return _Prepared(
            operation_id=request.operation_id,
            idempotency=idempotency,
            method=method,
            url=url,
            parsed_url=parsed_url,
            headers=headers,
            content=request.content,
            client_request_id=client_request_id,
            policy=policy,
            deadline=deadline,
            timeout=timeout_dict,
        )

    def _url(self, path: str, query: list[tuple[str, str]]) -> str:
        for name, value in query:
            _check_query(name, value, f"query[{name!r}]")
        if path.startswith("/"):
            if "?" in path or "#" in path or any(ch in path for ch in "\r\n\t "):
                raise ValidationError(
                    "path must be a percent-encoded path without query or fragment", field="path"
                )
            encoded = "&".join(f"{quote(name, safe='$')}={quote(value, safe='')}" for name, value in query)
            api = f"api-version={API_VERSION}"
            return f"{self._base}{path}?{api}&{encoded}" if encoded else f"{self._base}{path}?{api}"
        return self._absolute_url(path, query)

    def _absolute_url(self, link: str, query: list[tuple[str, str]]) -> str:
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
        if any(ch in link for ch in "\r\n\t "):
            raise ValidationError("the URL contains whitespace or control characters", field="path")
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

    def _parse_url(self, url: str) -> httpx.URL:
        """``url`` parsed (``httpx.URL`` is immutable, so parses are kept); refused if not on the endpoint."""
        parsed = self._parsed_urls.get(url)
        if parsed is None:
            parsed = httpx.URL(url)
            if parsed.userinfo or (parsed.scheme, parsed.host, parsed.port) != (
                self._scheme,
                self._host,
                self._port,
            ):
                raise ValidationError("refusing to authenticate a request for another host", field="path")
            if len(self._parsed_urls) >= C.PARSED_URL_CACHE_SIZE:
                self._parsed_urls.clear()
            self._parsed_urls[url] = parsed
        return parsed

    def _build(self, prepared: _Prepared) -> httpx.Request:
        """The request of one attempt, built from a byte stream with ``Content-Length`` set here as ``httpx``
        would set it for ``content=`` (which costs several times more); with ``stream=`` httpx adds no header
        itself, so ``Host`` comes from the prepared headers."""
        headers = prepared.headers.copy()
        headers["ocp-date"] = self._http_date()
        content = prepared.content or b""
        if content or prepared.method not in ("GET", "HEAD"):
            headers["Content-Length"] = str(len(content))
        request = httpx.Request(
            prepared.method,
            prepared.parsed_url,
            headers=headers,
            stream=httpx.ByteStream(content),
            extensions={"timeout": prepared.timeout},
        )
        request.read()
        return request

    # -- sending and retrying --------------------------------------------------------------------------------

    async def _run(self, prepared: _Prepared, *, stream: bool) -> tuple[httpx.Response, int, bool, bool]:
        """Return ``(response, attempts, prior_outcome_unknown, applied_by_earlier_attempt)``."""
        policy = prepared.policy
        started = self.clock()
        attempt = 0
        budget = policy.max_attempts
        challenged = False
        unknown = False
        while True:
            attempt += 1
            remaining = None if prepared.deadline is None else prepared.deadline - (self.clock() - started)
            request = self._build(prepared)
            await self._authorizer.authorize(request)
            sent_at = time.perf_counter()
            try:
                response = await self._attempt(request, remaining, stream=stream)
            except TimeoutError as exc:
                self._log_failure(prepared, attempt, sent_at, exc)
                raise DeadlineExceededError(
                    f"the call's deadline of {prepared.deadline} s ran out",
                    outcome_unknown=unknown or prepared.idempotency is not Idempotency.READ,
                    method=prepared.method,
                    url=prepared.url,
                    attempts=attempt,
                    client_request_id=prepared.client_request_id,
                ) from exc
            except httpx.HTTPError as exc:
                self._log_failure(prepared, attempt, sent_at, exc)
                failure = classify_transport_error(exc)
                if failure is TransportFailure.OUTCOME_UNKNOWN:
                    unknown = True
                if may_retry_transport(prepared.idempotency, failure) and attempt < budget:
                    delay = policy.delay(attempt)
                    if self._fits(prepared, started, delay):
                        await self._wait(prepared, attempt, delay, type(exc).__name__)
                        continue
                raise self._transport_error(prepared, exc, attempt, unknown) from exc

            status = response.status_code
            self._log_response(prepared, attempt, sent_at, response)
            if 200 <= status < 300 or status == 304:
                return response, attempt, unknown, False

            content = response.content
            code, message, values = parse_error_body(content)
            if status == 401 and not challenged and await self._authorizer.on_challenge(response):
                challenged = True
                budget += 1
                continue
            if unknown and presumed_done(prepared.operation_id, status, code):
                if logger.isEnabledFor(logging.INFO):
                    logger.info(
                        "%s %s: %s %s after an attempt with an unknown outcome: done by that attempt",
                        prepared.method, redact_url(prepared.url), status, code or "",
                    )  # fmt: skip
                return response, attempt, unknown, True
            retry_after = (
                parse_retry_after(response.headers)
                if status in C.THROTTLING_STATUSES or status >= 500
                else None
            )
            if may_retry_status(policy, prepared.idempotency, status) and attempt < budget:
                delay = policy.delay(attempt, retry_after)
                if status == 429:
                    delay = max(delay, minimum_throttle_delay(prepared.operation_id))
                if self._fits(prepared, started, delay):
                    if status_outcome_unknown(status):
                        unknown = True
                    await self._wait(prepared, attempt, delay, str(status))
                    continue
            raise error_class_for_status(status)(
                status,
                code=code,
                message=message,
                values=values,
                request_id=response.headers.get("request-id"),
                client_request_id=response.headers.get("client-request-id") or prepared.client_request_id,
                retry_after=retry_after,
                attempts=attempt,
                prior_outcome_unknown=unknown,
                method=prepared.method,
                url=prepared.url,
            )

    async def _attempt(
        self, request: httpx.Request, remaining: float | None, *, stream: bool
    ) -> httpx.Response:
        if remaining is not None and remaining <= 0:
            raise TimeoutError
        scope = anyio.fail_after(remaining) if remaining is not None else contextlib.nullcontext()
        with scope:
            response = await self._http.send(request, stream=True, follow_redirects=False)
            try:
                if not stream or not (200 <= response.status_code < 300):
                    await response.aread()
            except BaseException:
                await response.aclose()
                raise
        return response

    def _fits(self, prepared: _Prepared, started: float, delay: float) -> bool:
        if prepared.deadline is None:
            return True
        return self.clock() - started + delay < prepared.deadline

    async def _wait(self, prepared: _Prepared, attempt: int, delay: float, reason: str) -> None:
        if logger.isEnabledFor(logging.INFO):
            logger.info(
                "%s %s: attempt %d failed (%s); retrying in %.3f s [client-request-id=%s]",
                prepared.method, redact_url(prepared.url), attempt, reason, delay, prepared.client_request_id,
            )  # fmt: skip
        await self.sleep(delay)

    def _transport_error(
        self, prepared: _Prepared, exc: httpx.HTTPError, attempts: int, unknown: bool
    ) -> TransportError:
        cls = OutcomeUnknownError if unknown else RequestNotSentError
        what = "may have been applied" if unknown else "was not sent"
        if is_configuration_error(exc):
            what += " (not retried: the host name or its certificate is wrong; check the endpoint)"
        return cls(
            f"{type(exc).__name__}: the request {what}: {redact_text(str(exc)) or type(exc).__name__}",
            method=prepared.method,
            url=prepared.url,
            attempts=attempts,
            client_request_id=prepared.client_request_id,
        )

    # -- logging ---------------------------------------------------------------------------------------------

    def _log_response(
        self, prepared: _Prepared, attempt: int, sent_at: float, response: httpx.Response
    ) -> None:
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "%s %s -> %d attempt=%d request-id=%s client-request-id=%s elapsed=%.1fms",
                prepared.method, redact_url(prepared.url), response.status_code, attempt,
                response.headers.get("request-id"), prepared.client_request_id,
                (time.perf_counter() - sent_at) * 1000.0,
            )  # fmt: skip

    def _log_failure(self, prepared: _Prepared, attempt: int, sent_at: float, exc: BaseException) -> None:
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "%s %s -> %s attempt=%d client-request-id=%s elapsed=%.1fms",
                prepared.method, redact_url(prepared.url), type(exc).__name__, attempt,
                prepared.client_request_id, (time.perf_counter() - sent_at) * 1000.0,
            )  # fmt: skip
