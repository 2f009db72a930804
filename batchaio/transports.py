"""Optional transports for :class:`batchaio.BatchClient` (``transport=`` argument).

:class:`AiohttpTransport` sends the pipeline's requests through aiohttp (``pip install aiohttp``) directly,
with no httpx object in between, which costs much less CPU per request than httpx's own connection pool. It is
asyncio-only (aiohttp does not run under trio: using it there raises ``RuntimeError`` at the first request).
Requests go out exactly as built and signed: URL not re-encoded, and none of aiohttp's automatic headers
(``Content-Type: application/octet-stream`` on a bodiless POST, ``Accept``, ``Accept-Encoding``,
``User-Agent``) is added, since some of them are part of the Shared Key signature. Redirects are not followed,
TLS is verified, and each aiohttp exception is classified as "not sent", "outcome unknown" or "fatal" so that
retries keep telling them apart. aiohttp has no write timeout: ``write`` does not apply (the call's deadline
still does).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from batchaio import _constants as C
from batchaio._config import Limits, LimitsLike, limits_of
from batchaio._http import (
    BodyTooLarge,
    HttpRequest,
    HttpResponse,
    TransportFailed,
    is_configuration_error,
    redacted_cause,
)
from batchaio._retry import TransportFailure

if TYPE_CHECKING:
    import aiohttp

__all__ = ["AiohttpTransport"]

# aiohttp adds these unless told not to; the request already carries every header it needs, and Content-Type
# is signed by Shared Key.
_SKIP_AUTO_HEADERS = ("Accept", "Accept-Encoding", "Content-Type", "User-Agent")


def _import_aiohttp() -> Any:
    try:
        import aiohttp
    except ImportError:
        raise ImportError(
            "AiohttpTransport needs the optional 'aiohttp' package: pip install aiohttp"
        ) from None
    return aiohttp


def _timeout_scope(seconds: float) -> Any:
    if sys.version_info >= (3, 11):
        return asyncio.timeout(seconds)
    import anyio  # pragma: no cover - Python 3.10

    return anyio.fail_after(seconds)  # pragma: no cover


class AiohttpTransport:
    """A batchaio transport over one ``aiohttp.ClientSession`` (created on first use).

    ``limits`` (``httpx.Limits`` or :class:`~batchaio.Limits`) sets the connection pool (``max_connections``
    and ``keepalive_expiry``); timeouts come from each request (connect, read, pool).
    """

    def __init__(self, *, limits: LimitsLike | None = None) -> None:
        self._aiohttp = _import_aiohttp()
        import yarl  # installed with aiohttp

        self._url = yarl.URL
        self._limits = limits_of(limits if limits is not None else Limits())
        self._session: aiohttp.ClientSession | None = None
        self._closed = False
        self._urls: dict[str, Any] = {}
        self._timeouts: dict[tuple[float | None, ...], Any] = {}

    @property
    def is_closed(self) -> bool:
        """Whether :meth:`aclose` has been called."""
        return self._closed

    def _open(self) -> aiohttp.ClientSession:
        aiohttp = self._aiohttp
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(
                "AiohttpTransport works under asyncio only; under trio use the built-in transport "
                "(leave transport= unset)"
            ) from None
        if self._closed:
            raise RuntimeError("the transport has been closed")
        connector = aiohttp.TCPConnector(
            limit=self._limits.max_connections or 0,
            keepalive_timeout=self._limits.keepalive_expiry,
            ssl=True,
        )
        self._session = aiohttp.ClientSession(
            connector=connector, auto_decompress=True, skip_auto_headers=_SKIP_AUTO_HEADERS
        )
        return self._session

    def _client_timeout(self, phases: Mapping[str, float | None], total: float | None) -> Any:
        """aiohttp's timeouts for one request: pool wait, connect and per-read limits, and ``total`` (the
        call's remaining deadline; aiohttp raises a plain ``TimeoutError`` when it runs out)."""
        key = (total, phases.get("pool"), phases.get("connect"), phases.get("read"))
        if total is not None:
            return self._aiohttp.ClientTimeout(
                total=total, connect=key[1], sock_connect=key[2], sock_read=key[3]
            )
        timeout = self._timeouts.get(key)
        if timeout is None:
            timeout = self._aiohttp.ClientTimeout(
                total=None, connect=key[1], sock_connect=key[2], sock_read=key[3]
            )
            if len(self._timeouts) >= C.PARSED_URL_CACHE_SIZE:
                self._timeouts.clear()
            self._timeouts[key] = timeout
        return timeout

    def _yarl(self, url: str) -> Any:
        parsed = self._urls.get(url)
        if parsed is None:
            parsed = self._url(url, encoded=True)
            if len(self._urls) >= C.PARSED_URL_CACHE_SIZE:
                self._urls.clear()
            self._urls[url] = parsed
        return parsed

    async def send(self, request: HttpRequest, *, stream: bool, deadline: float | None) -> HttpResponse:
        """Send ``request`` as is (see :class:`~batchaio._http.Transport`).

        The deadline is aiohttp's own ``total`` timeout for a body read whole; for a stream, whose body is
        read later, it bounds getting the headers only (a timeout scope around the send).
        """
        session = self._session if self._session is not None else self._open()
        if deadline is not None and deadline <= 0:
            raise TimeoutError
        if deadline is None or not stream:
            return await self._send(session, request, stream, deadline)
        async with _timeout_scope(deadline):
            return await self._send(session, request, stream, None)

    async def _send(
        self, session: aiohttp.ClientSession, request: HttpRequest, stream: bool, total: float | None
    ) -> HttpResponse:
        try:
            response = await session.request(
                request.method,
                self._yarl(request.url),
                headers=request.headers,
                data=request.content or None,
                allow_redirects=False,
                timeout=self._client_timeout(request.timeout, total),
            )
        except self._aiohttp.ClientError as exc:
            raise _failed(self._aiohttp, exc)  # noqa: B904 (chained to a redacted stand-in)
        body = _Response(self._aiohttp, response)
        if not stream or not 200 <= response.status < 300:
            try:
                body.content = await _read(response, request.max_body)
            except self._aiohttp.ClientError as exc:
                response.close()
                raise _failed(self._aiohttp, exc)  # noqa: B904 (chained to a redacted stand-in)
            except BaseException:
                response.close()
                raise
        return body

    async def aclose(self) -> None:
        """Close the aiohttp session and its connections."""
        self._closed = True
        if self._session is not None:
            await self._session.close()
            self._session = None


async def _read(response: aiohttp.ClientResponse, limit: int | None) -> bytes:
    """The whole decoded body; past ``limit`` bytes :class:`BodyTooLarge` (the connection is dropped)."""
    length = response.content_length
    if limit is None or (
        length is not None and length <= limit and "content-encoding" not in response.headers
    ):
        return await response.read()
    chunks = []
    size = 0
    async for chunk in response.content.iter_chunked(C.AIOHTTP_READ_CHUNK):
        size += len(chunk)
        if size > limit:
            response.close()
            raise BodyTooLarge(limit, response.status, response.headers)
        chunks.append(chunk)
    response.release()
    return b"".join(chunks)


class _Response:
    __slots__ = ("_aiohttp", "_response", "content", "headers", "status_code")

    def __init__(self, aiohttp: Any, response: aiohttp.ClientResponse) -> None:
        self._aiohttp = aiohttp
        self._response = response
        self.status_code: int = response.status
        self.headers: Mapping[str, str] = response.headers
        self.content = b""

    async def aiter_bytes(self, chunk_size: int | None = None) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_chunked(chunk_size or C.AIOHTTP_READ_CHUNK):
                yield chunk
        except (self._aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise _failed(self._aiohttp, exc)  # noqa: B904 (chained to a redacted stand-in)

    async def aclose(self) -> None:
        # A body read to its end leaves the connection reusable; a partly read one must not be reused.
        if self._response.content.at_eof():
            self._response.release()
        else:
            self._response.close()


def _classify(aiohttp: Any, exc: BaseException) -> TransportFailure:
    """What an aiohttp (or asyncio) exception says about the request."""
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return TransportFailure.NOT_SENT
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return TransportFailure.FATAL
    if isinstance(exc, aiohttp.ClientConnectorError):
        return TransportFailure.FATAL if is_configuration_error(exc.os_error) else TransportFailure.NOT_SENT
    if isinstance(exc, aiohttp.InvalidURL):
        return TransportFailure.FATAL
    return TransportFailure.OUTCOME_UNKNOWN


def _failed(aiohttp: Any, exc: BaseException) -> TransportFailed:
    """The classified failure, chained to a redacted stand-in for ``exc`` (aiohttp's texts carry full URLs
    with their query values, and a traceback would print them)."""
    failure = _classify(aiohttp, exc)
    failed = TransportFailed.of(failure, exc, configuration=failure is TransportFailure.FATAL)
    failed.__cause__ = redacted_cause(exc)
    failed.__suppress_context__ = True
    return failed
