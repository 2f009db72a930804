"""Optional transports for :class:`batchaio.BatchClient` (``transport=`` argument).

:class:`AiohttpTransport` sends httpx requests through aiohttp (``pip install aiohttp``), which costs much
less CPU per request than httpx's own connection pool. It is asyncio-only (aiohttp does not run under trio:
using it there raises ``RuntimeError`` at the first request). Requests go out exactly as built and signed:
URL not re-encoded, and none of aiohttp's automatic headers (``Content-Type: application/octet-stream`` on a
bodiless POST, ``Accept``, ``Accept-Encoding``, ``User-Agent``) is added, since some of them are part of the
Shared Key signature. Redirects are not followed, TLS is verified, and aiohttp's exceptions are translated to
the matching ``httpx`` exceptions so that retries keep telling "not sent" from "outcome unknown". aiohttp has
no write timeout: ``Timeout.write`` does not apply (the call's deadline still does).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import httpx

from batchaio import _constants as C
from batchaio._config import Limits

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


class AiohttpTransport(httpx.AsyncBaseTransport):
    """An ``httpx.AsyncBaseTransport`` over one ``aiohttp.ClientSession`` (created on first use).

    ``limits`` sets the connection pool (``max_connections`` and ``keepalive_expiry``); timeouts come from
    each request (connect, read, pool) as httpx passes them.
    """

    def __init__(self, *, limits: Limits | None = None) -> None:
        self._aiohttp = _import_aiohttp()
        import yarl  # installed with aiohttp

        self._url = yarl.URL
        self._limits = limits if limits is not None else Limits()
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        aiohttp = self._aiohttp
        connector = aiohttp.TCPConnector(
            limit=self._limits.max_connections or 0,
            keepalive_timeout=self._limits.keepalive_expiry,
            ssl=True,
        )
        self._session = aiohttp.ClientSession(
            connector=connector, auto_decompress=False, skip_auto_headers=_SKIP_AUTO_HEADERS
        )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` as is and return a response whose body streams from aiohttp."""
        aiohttp = self._aiohttp
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(
                "AiohttpTransport works under asyncio only; under trio use the built-in transport "
                "(leave transport= unset)"
            ) from None
        session = self._session if self._session is not None else self._open()
        timeouts = request.extensions.get("timeout", {})
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=timeouts.get("pool"),
            sock_connect=timeouts.get("connect"),
            sock_read=timeouts.get("read"),
        )
        content = await request.aread()
        headers = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in request.headers.raw]
        url = self._url(str(request.url), encoded=True)
        try:
            response = await session.request(
                request.method,
                url,
                headers=headers,
                data=content or None,
                allow_redirects=False,
                timeout=timeout,
            )
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise _translate(aiohttp, exc, request) from exc
        return httpx.Response(
            status_code=response.status,
            headers=[(name, value) for name, value in response.raw_headers],
            stream=_Body(aiohttp, response, request),
            extensions={"http_version": b"HTTP/1.1"},
            request=request,
        )

    async def aclose(self) -> None:
        """Close the aiohttp session and its connections."""
        if self._session is not None:
            await self._session.close()
            self._session = None


class _Body(httpx.AsyncByteStream):
    def __init__(self, aiohttp: Any, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._aiohttp = aiohttp
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_chunked(C.AIOHTTP_READ_CHUNK):
                yield chunk
        except (self._aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise _translate(self._aiohttp, exc, self._request) from exc

    async def aclose(self) -> None:
        self._response.release()


def _translate(aiohttp: Any, exc: BaseException, request: httpx.Request) -> httpx.TransportError:
    """The httpx exception that means the same as an aiohttp (or asyncio) one."""
    message = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(message, request=request)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return httpx.ConnectError(message, request=request)
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return httpx.RemoteProtocolError(message, request=request)
    if isinstance(exc, (aiohttp.ServerTimeoutError, asyncio.TimeoutError)):
        return httpx.ReadTimeout(message, request=request)
    if isinstance(exc, aiohttp.InvalidURL):
        return httpx.UnsupportedProtocol(message, request=request)
    if isinstance(exc, aiohttp.ClientResponseError):
        return httpx.RemoteProtocolError(message, request=request)
    return httpx.ReadError(message, request=request)
