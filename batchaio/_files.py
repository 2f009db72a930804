"""Files on compute nodes and in task directories: their properties and streamed downloads.

``download_file`` returns a :class:`FileDownload`, an async context manager whose stream yields the body in
chunks. When the connection drops mid-body the stream asks for the rest with a byte range and
``If-Unmodified-Since`` set to the first response's ``Last-Modified``, and checks that the ETag is unchanged;
if the file changed in between it raises :class:`~batchaio.errors.FileChangedError` instead of splicing two
versions together.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING

import anyio
import attrs
import httpx

from batchaio import _constants as C
from batchaio._response import parse_http_date
from batchaio.errors import FileChangedError, PreconditionFailedError, TransportError

if TYPE_CHECKING:
    from batchaio._response import BatchStreamResponse
    from batchaio._transport import BatchRequest, Pipeline

__all__ = ["BatchFileProperties", "FileDownload", "FileStream", "download_to"]


@attrs.frozen(kw_only=True)
class BatchFileProperties:
    """The properties of a file, read from the headers of a HEAD or GET on it."""

    content_length: int | None = None
    is_directory: bool | None = None
    url: str | None = None
    file_mode: str | None = None
    creation_time: datetime | None = None
    etag: str | None = None
    last_modified: datetime | None = None
    content_type: str | None = None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> BatchFileProperties:
        """Build from response headers (names case-insensitive as in ``httpx.Headers``)."""
        length = headers.get("content-length")
        directory = headers.get("ocp-batch-file-isdirectory")
        return cls(
            content_length=int(length) if length is not None and length.strip().isdigit() else None,
            is_directory=None if directory is None else directory.strip().lower() == "true",
            url=headers.get("ocp-batch-file-url"),
            file_mode=headers.get("ocp-batch-file-mode"),
            creation_time=parse_http_date(headers.get("ocp-creation-time")),
            etag=headers.get("etag"),
            last_modified=parse_http_date(headers.get("last-modified")),
            content_type=headers.get("content-type"),
        )


class FileDownload(AbstractAsyncContextManager["FileStream"]):
    """``async with client.tasks.download_file(...) as stream:`` opens it; see :class:`FileStream`."""

    def __init__(self, pipeline: Pipeline, request: BatchRequest, *, offset: int, length: int | None) -> None:
        self._stream = FileStream(pipeline, request, offset=offset, length=length)

    async def __aenter__(self) -> FileStream:
        await self._stream._open()
        return self._stream

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._stream.aclose()


class FileStream:
    """The body of a file download as an async iterator of ``bytes`` chunks, resumed after a dropped
    connection (at most ``DOWNLOAD_RESUME_ATTEMPTS`` times per download).

    ``properties`` describes the file as the first response reported it; ``status_code`` and ``headers`` are
    those of the first response; ``received`` counts the bytes yielded so far.
    """

    def __init__(self, pipeline: Pipeline, request: BatchRequest, *, offset: int, length: int | None) -> None:
        self._pipeline = pipeline
        self._request = request
        self._offset = offset
        self._length = length
        self._context: AbstractAsyncContextManager[BatchStreamResponse] | None = None
        self._response: BatchStreamResponse | None = None
        self._first: BatchStreamResponse | None = None
        self.properties = BatchFileProperties()
        self.received = 0

    @property
    def status_code(self) -> int:
        """Status code of the first response."""
        return self._first_response().status_code

    @property
    def headers(self) -> Mapping[str, str]:
        """Headers of the first response."""
        return self._first_response().headers

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def read(self) -> bytes:
        """The whole (remaining) body at once; prefer iterating for large files."""
        return b"".join([chunk async for chunk in self])

    async def aclose(self) -> None:
        """Close the current response."""
        context, self._context, self._response = self._context, None, None
        if context is not None:
            await context.__aexit__(None, None, None)

    async def _open(self, *, resume: bool = False) -> None:
        request = self._request
        if resume:
            headers = dict(request.headers)
            headers.pop("ocp-range", None)
            headers.pop("If-Modified-Since", None)
            headers.update(self._remaining_range())
            if self.properties.last_modified is not None:
                headers["If-Unmodified-Since"] = self._first_header("last-modified")
            request = attrs.evolve(request, headers=headers)
        context = self._pipeline.stream(request)
        try:
            response = await context.__aenter__()
        except PreconditionFailedError as err:
            if resume:
                raise FileChangedError("the file changed on the node while it was being downloaded") from err
            raise
        self._context, self._response = context, response
        if self._first is None:
            self._first = response
            self.properties = BatchFileProperties.from_headers(response.headers)
        elif self.properties.etag is not None and response.headers.get("etag") != self.properties.etag:
            await self.aclose()
            raise FileChangedError(
                "the file changed on the node while it was being downloaded (ETag differs)"
            )

    async def _chunks(self) -> AsyncIterator[bytes]:
        resumes = 0
        while True:
            response = self._opened()
            received_here = 0
            try:
                async for chunk in response.aiter_bytes():
                    received_here += len(chunk)
                    self.received += len(chunk)
                    yield chunk
            except (httpx.TransportError, TransportError) as err:
                cause: BaseException = err
            else:
                expected = _content_length(response.headers)
                if expected is None or received_here >= expected:
                    return
                cause = httpx.RemoteProtocolError(f"body ended after {received_here} of {expected} bytes")
            if resumes >= C.DOWNLOAD_RESUME_ATTEMPTS:
                raise cause
            resumes += 1
            await self.aclose()
            await self._open(resume=True)

    def _remaining_range(self) -> dict[str, str]:
        start = self._offset + self.received
        if self._length is None:
            return {"ocp-range": f"bytes={start}-"}
        return {"ocp-range": f"bytes={start}-{self._offset + self._length - 1}"}

    def _first_header(self, name: str) -> str:
        return self._first_response().headers[name]

    def _first_response(self) -> BatchStreamResponse:
        if self._first is None:
            raise RuntimeError("the download is not open: use it as `async with ... as stream`")
        return self._first

    def _opened(self) -> BatchStreamResponse:
        if self._response is None:
            raise RuntimeError("the download is closed")
        return self._response


async def download_to(download: FileDownload, destination: str | os.PathLike[str]) -> BatchFileProperties:
    """Write a download to a local file; the partial file is removed if the download fails."""
    path = anyio.Path(destination)
    try:
        async with download as stream, await anyio.open_file(path, "wb") as out:
            async for chunk in stream:
                await out.write(chunk)
            return stream.properties
    except BaseException:
        with anyio.CancelScope(shield=True):
            await path.unlink(missing_ok=True)
        raise


def _content_length(headers: Mapping[str, str]) -> int | None:
    value = headers.get("content-length")
    return int(value) if value is not None and value.strip().isdigit() else None
