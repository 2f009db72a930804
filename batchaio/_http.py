"""The transport seam: what the pipeline hands to an HTTP library and what it gets back, and httpx behind it.

The pipeline speaks only these types: an :class:`HttpRequest` (method, final URL, final headers, body bytes,
per-phase timeouts, body cap) goes in; a :class:`Transport` sends it and returns an :class:`HttpResponse`
(status, case-insensitive headers, the body read whole or still streaming), or raises :class:`TransportFailed`
carrying what the failure says about the request (:class:`~batchaio._retry.TransportFailure`: not sent,
outcome unknown, fatal) with the library's exception as ``__cause__``, or :class:`BodyTooLarge`, or the
builtin ``TimeoutError`` when the call's ``deadline`` ran out. Each transport classifies its own library's
exceptions; no transport needs another library's objects. :class:`HttpxTransport` is the default;
:class:`batchaio.transports.AiohttpTransport` the optional one.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Protocol

import anyio
import httpx

from batchaio import _constants as C
from batchaio._redact import redact_headers, redact_text, redact_url
from batchaio._retry import TransportFailure

__all__ = [
    "BodyTooLarge",
    "HttpRequest",
    "HttpResponse",
    "HttpxTransport",
    "Transport",
    "TransportFailed",
    "redacted_cause",
    "classify_transport_error",
    "is_configuration_error",
]


class HttpRequest:
    """One attempt as it goes on the wire: every header final (signature included), the URL encoded.

    ``timeout`` maps ``connect``/``read``/``write``/``pool`` to seconds (``None``: no limit);
    ``max_body`` caps the decoded bytes of a body read whole (``None``: no cap). The ``repr`` shows the URL
    and headers redacted and never the body.
    """

    __slots__ = ("content", "headers", "max_body", "method", "timeout", "url")

    def __init__(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        content: bytes,
        timeout: Mapping[str, float | None],
        max_body: int | None = None,
    ) -> None:
        self.method = method
        self.url = url
        self.headers = headers
        self.content = content
        self.timeout = timeout
        self.max_body = max_body

    def __repr__(self) -> str:
        return (
            f"<HttpRequest {self.method} {redact_url(self.url)} headers={redact_headers(self.headers)!r} "
            f"body={len(self.content)} bytes>"
        )


class HttpResponse(Protocol):
    """A response as a transport returns it: ``content`` is the whole body unless sent with ``stream``."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]:
        """Case-insensitive response headers."""
        ...

    @property
    def content(self) -> bytes: ...

    def aiter_bytes(self, chunk_size: int | None = None) -> AsyncIterator[bytes]:
        """The rest of the body, decoded; a failure raises :class:`TransportFailed`."""
        ...

    async def aclose(self) -> None: ...


class Transport(Protocol):
    """What the pipeline needs of an HTTP library."""

    @property
    def is_closed(self) -> bool: ...

    async def send(self, request: HttpRequest, *, stream: bool, deadline: float | None) -> HttpResponse:
        """Send ``request`` as is, never following redirects, and return the response.

        Without ``stream`` the body is read whole before returning (and a body of another status as well,
        always). ``deadline``: seconds left for the call; past it raise the builtin ``TimeoutError``.
        """
        ...

    async def aclose(self) -> None: ...


class TransportFailed(Exception):
    """A send or read failed below HTTP: ``failure`` says whether the request may have been applied; ``name``
    is the library exception's class name and ``text`` its message with URLs redacted (header values are
    never put in it); ``configuration`` says that another attempt will not cure it (unknown host, bad
    certificate). The library's exception is the ``__cause__``."""

    def __init__(
        self, failure: TransportFailure, name: str, text: str = "", *, configuration: bool = False
    ) -> None:
        super().__init__(f"{name}: {text}" if text else name)
        self.failure = failure
        self.name = name
        self.text = text
        self.configuration = configuration

    @classmethod
    def of(
        cls, failure: TransportFailure, exc: BaseException, *, configuration: bool = False
    ) -> TransportFailed:
        """The failure for library exception ``exc``, its text redacted."""
        return cls(failure, type(exc).__name__, redact_text(str(exc)), configuration=configuration)


class RedactedCause(Exception):
    """Stands in for a library exception whose text carries secrets: its class name and redacted text."""


def redacted_cause(exc: BaseException) -> BaseException:
    """``exc`` itself when its text has nothing to redact, else a :class:`RedactedCause` with the same text
    redacted (the original's traceback is kept; its chain, which may repeat the text, is dropped)."""
    text = str(exc)
    redacted = redact_text(text)
    if redacted == text:
        return exc
    stand_in = RedactedCause(f"{type(exc).__module__}.{type(exc).__name__}: {redacted}")
    stand_in.__suppress_context__ = True
    return stand_in.with_traceback(exc.__traceback__)


class BodyTooLarge(Exception):
    """The body of a response read whole went past ``HttpRequest.max_body`` decoded bytes."""

    def __init__(self, limit: int, status_code: int, headers: Mapping[str, str]) -> None:
        super().__init__(f"the response body is larger than {limit} bytes")
        self.limit = limit
        self.status_code = status_code
        self.headers = headers


# --- httpx --------------------------------------------------------------------------------------------------

_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ProxyError)
_FATAL = (httpx.UnsupportedProtocol, httpx.LocalProtocolError)
# getaddrinfo answers that say the name does not exist, as opposed to "try again later".
_UNKNOWN_HOST = frozenset(
    getattr(socket, name) for name in ("EAI_NONAME", "EAI_NODATA", "EAI_ADDRFAMILY") if hasattr(socket, name)
)


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def is_configuration_error(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it was raised from) is a certificate verification failure or an
    unknown host name: errors that another attempt will not cure."""
    for cause in _causes(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            return True
        if isinstance(cause, socket.gaierror) and cause.errno in _UNKNOWN_HOST:
            return True
    return False


def classify_transport_error(exc: BaseException) -> TransportFailure:
    """Classify an ``httpx`` exception raised while sending a request or reading its response."""
    if isinstance(exc, _NOT_SENT):
        return TransportFailure.FATAL if is_configuration_error(exc) else TransportFailure.NOT_SENT
    if isinstance(exc, _FATAL):
        return TransportFailure.FATAL
    return TransportFailure.OUTCOME_UNKNOWN


def _failed(exc: httpx.HTTPError) -> TransportFailed:
    """The classified failure, chained to ``exc`` (or a redacted stand-in when its text shows a URL)."""
    failed = TransportFailed.of(classify_transport_error(exc), exc, configuration=is_configuration_error(exc))
    failed.__cause__ = redacted_cause(exc)
    failed.__suppress_context__ = True
    return failed


class _HttpxResponse:
    __slots__ = ("_response", "content", "headers", "status_code")

    def __init__(self, response: httpx.Response, content: bytes) -> None:
        self._response = response
        self.status_code = response.status_code
        self.headers: Mapping[str, str] = response.headers
        self.content = content

    async def aiter_bytes(self, chunk_size: int | None = None) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.aiter_bytes(chunk_size):
                yield chunk
        except httpx.HTTPError as exc:
            raise _failed(exc)  # noqa: B904 (chained in _failed)

    async def aclose(self) -> None:
        await self._response.aclose()


async def _read_capped(response: httpx.Response, limit: int | None) -> bytes:
    chunks = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if limit is not None and size > limit:
            raise BodyTooLarge(limit, response.status_code, response.headers)
        chunks.append(chunk)
    return b"".join(chunks)


class HttpxTransport:
    """The default transport: one ``httpx.AsyncClient`` (its pool, HTTP/2, or any ``httpx`` transport below).

    Works under asyncio and trio. The client is closed with this transport.
    """

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self._urls: dict[str, httpx.URL] = {}

    @property
    def is_closed(self) -> bool:
        """Whether the client has been closed."""
        return self.client.is_closed

    async def send(self, request: HttpRequest, *, stream: bool, deadline: float | None) -> HttpResponse:
        """See :meth:`Transport.send`; the deadline is an anyio cancel scope around send and read."""
        if deadline is not None and deadline <= 0:
            raise TimeoutError
        outgoing = httpx.Request(
            request.method,
            self._url(request.url),
            headers=request.headers,
            stream=httpx.ByteStream(request.content),
            extensions={"timeout": request.timeout},
        )
        outgoing.read()
        scope = anyio.fail_after(deadline) if deadline is not None else contextlib.nullcontext()
        with scope:
            try:
                response = await self.client.send(outgoing, stream=True, follow_redirects=False)
            except httpx.HTTPError as exc:
                raise _failed(exc)  # noqa: B904 (chained in _failed)
            try:
                content = b""
                if not stream or not 200 <= response.status_code < 300:
                    content = await _read_capped(response, request.max_body)
            except httpx.HTTPError as exc:
                await response.aclose()
                raise _failed(exc)  # noqa: B904 (chained in _failed)
            except BaseException:
                await response.aclose()
                raise
        return _HttpxResponse(response, content)

    def _url(self, url: str) -> httpx.URL:
        """``url`` parsed once (a bulk run posts to one URL thousands of times; a parse costs ~10 us)."""
        parsed = self._urls.get(url)
        if parsed is None:
            parsed = httpx.URL(url)
            if len(self._urls) >= C.PARSED_URL_CACHE_SIZE:
                self._urls.clear()
            self._urls[url] = parsed
        return parsed

    async def aclose(self) -> None:
        """Close the ``httpx`` client and its connections."""
        await self.client.aclose()
