"""Files on compute nodes and in task directories: their properties and streamed downloads.

``download_file`` returns a :class:`FileDownload`, an async context manager whose stream yields the body in
chunks. When the connection drops mid-body the stream asks for the rest with a byte range and
``If-Unmodified-Since`` set to the first response's ``Last-Modified``, and checks that the ETag is unchanged;
if the file changed in between it raises :class:`~batchaio.errors.FileChangedError` instead of splicing two
versions together; so does a resumed response whose ``Content-Range`` gives another file size than the
first response. A download whose first response had neither ETag nor Last-Modified is not resumed (the
connection error is raised), since nothing would show a change.

Downloads ask for ``Accept-Encoding: identity``, so offsets count the file's bytes. A server that encodes the
body anyway (gzip) gives a ``Content-Length`` of encoded bytes that the decoded chunks cannot be compared
with: such a body cut off raises :class:`~batchaio.errors.OutcomeUnknownError` and is not resumed.

Every response to a ranged request must be the range asked for: a ``Content-Range`` starting at the
requested byte, or (the Batch service answers 200 with just the slice) a ``Content-Length`` that fits the
remaining length. A server that ignored the range raises :class:`~batchaio.errors.ResponseParseError` rather
than having duplicated bytes spliced in. A 304 to ``if_modified_since`` raises
:class:`~batchaio.errors.NotModifiedError`.

:func:`download_to` writes to a temporary file next to the destination and renames it over the destination
only when the whole body arrived, so a failed download never touches an existing file.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import stat
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
from batchaio._results import check_modified
from batchaio.errors import (
    FileChangedError,
    OutcomeUnknownError,
    PreconditionFailedError,
    ResponseParseError,
    TransportError,
)

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
        self._expected: int | None = None
        self._size: int | None = None
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
        # Offsets and lengths count the file's own bytes: ask for them unencoded.
        request = attrs.evolve(self._request, headers={**self._request.headers, **_IDENTITY})
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
        try:
            check_modified(response.metadata, request.operation_id)
            if "ocp-range" in request.headers:
                self._check_range(response, request.headers["ocp-range"], resume=resume)
        except BaseException:
            await self.aclose()
            raise
        if self._first is None:
            self._first = response
            self._expected = _content_length(response.headers)
            self._size = _file_size(response.headers, ranged="ocp-range" in request.headers)
            self.properties = BatchFileProperties.from_headers(response.headers)
            return
        if self.properties.etag is not None and response.headers.get("etag") != self.properties.etag:
            await self.aclose()
            raise FileChangedError(
                "the file changed on the node while it was being downloaded (ETag differs)"
            )
        size = _file_size(response.headers, ranged=True)
        if self._size is not None and size is not None and size != self._size:
            await self.aclose()
            raise FileChangedError(
                f"the file changed on the node while it was being downloaded (its size went from "
                f"{self._size} to {size} bytes)"
            )

    def _check_range(self, response: BatchStreamResponse, asked: str, *, resume: bool) -> None:
        """Raise unless ``response`` is the byte range ``asked`` (``bytes=START-[END]``)."""
        start = self._offset + self.received
        content_range = _CONTENT_RANGE.match(response.headers.get("content-range", ""))
        if content_range is not None:
            if int(content_range.group(1)) == start:
                return
            problem = f"Content-Range {response.headers['content-range']!r}"
        else:
            length = _content_length(response.headers)
            if resume:
                remaining = self._remaining_length()
                if length is not None and length == remaining:
                    return
            elif length is None or self._length is None or length <= self._length:
                return  # an open range starting at the offset cannot be told from the whole file
            problem = f"Content-Length {length}" if length is not None else "no Content-Length"
        raise ResponseParseError(
            f"asked for {asked} and got {problem}: the server did not honour the byte range",
            metadata=response.metadata,
            operation=self._request.operation_id,
        )

    def _remaining_length(self) -> int | None:
        if self._expected is not None:
            return self._expected - self.received
        return None if self._length is None else self._length - self.received

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
                expected = _content_length(response.headers)
                if _encoded(response.headers):
                    # Content-Length counts the encoded bytes, the chunks decoded ones: no comparison and no
                    # resume by offset is sound, so a cut body fails.
                    raise _cut_encoded(response, received_here) from err
                if expected is not None and received_here >= expected:
                    return  # the whole body had arrived: there is nothing left to ask for
            else:
                expected = _content_length(response.headers)
                if expected is None or received_here >= expected or _encoded(response.headers):
                    return  # an encoded body that ended cleanly was checked against its length by HTTP
                cause = httpx.RemoteProtocolError(f"body ended after {received_here} of {expected} bytes")
            if resumes >= C.DOWNLOAD_RESUME_ATTEMPTS or not self._resumable():
                raise cause
            resumes += 1
            await self.aclose()
            await self._open(resume=True)

    def _resumable(self) -> bool:
        """Whether a change of the file between two requests would be noticed."""
        return self.properties.etag is not None or self.properties.last_modified is not None

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
    """Write a download to a local file, replacing it only once the whole body has arrived.

    The body goes to a temporary file in the destination's directory, renamed over ``destination`` on
    success; on any failure (404, 304, a dropped connection, cancellation) the temporary file is removed and
    an existing ``destination`` is left as it was.
    """
    target = os.fspath(destination)
    part = anyio.Path(await anyio.to_thread.run_sync(_temporary_beside, target))
    try:
        async with download as stream, await anyio.open_file(part, "wb") as out:
            async for chunk in stream:
                await out.write(chunk)
        await part.replace(target)
    except BaseException:
        with anyio.CancelScope(shield=True):
            await part.unlink(missing_ok=True)
        raise
    return stream.properties


def _temporary_beside(target: str) -> str:
    """Create an empty temporary file next to ``target`` with the permissions the destination will keep:
    those of an existing ``target``, else the usual ones for a new file (``0o666`` less the umask)."""
    directory, name = os.path.split(os.path.abspath(target))
    while True:
        temporary = os.path.join(directory, f".{name}.{secrets.token_hex(4)}.part")
        try:
            handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        break
    os.close(handle)
    with contextlib.suppress(FileNotFoundError):
        os.chmod(temporary, stat.S_IMODE(os.stat(target).st_mode))
    return temporary


_IDENTITY = {"accept-encoding": "identity"}


def _encoded(headers: Mapping[str, str]) -> bool:
    """Whether the body is sent content-encoded (gzip...), although the download asked for ``identity``."""
    return headers.get("content-encoding", "identity").strip().lower() not in ("", "identity")


def _cut_encoded(response: BatchStreamResponse, received: int) -> OutcomeUnknownError:
    encoding = response.headers.get("content-encoding", "")
    return OutcomeUnknownError(
        f"the {encoding} encoded download was cut off ({received} bytes decoded before the connection "
        f"failed); an encoded body cannot be resumed by byte offset, download it again",
        method=response.method,
        url=response.url,
        client_request_id=response.metadata.client_request_id,
    )


_CONTENT_RANGE = re.compile(r"\s*bytes\s+(\d+)-\d+/(\d+|\*)\s*\Z", re.IGNORECASE)


def _content_length(headers: Mapping[str, str]) -> int | None:
    value = headers.get("content-length")
    return int(value) if value is not None and value.strip().isdigit() else None


def _file_size(headers: Mapping[str, str], *, ranged: bool) -> int | None:
    """The size of the whole file: the total of a ``Content-Range``, or the length of an unranged body."""
    content_range = _CONTENT_RANGE.match(headers.get("content-range", ""))
    if content_range is not None:
        total = content_range.group(2)
        return int(total) if total != "*" else None
    return None if ranged else _content_length(headers)
