"""File properties and downloads: byte ranges, streaming, resuming a cut transfer, detecting changes."""

from __future__ import annotations

import base64
import stat
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest
import respx

from batchaio._client import BatchClient
from batchaio._files import BatchFileProperties
from batchaio._retry import RetryPolicy
from batchaio.auth import SharedKeyCredential
from batchaio.errors import (
    FileChangedError,
    NotFoundError,
    NotModifiedError,
    ResponseParseError,
    TransportError,
    ValidationError,
)

ENDPOINT = "https://acct.westeurope.batch.azure.com"
FILE_URL = f"{ENDPOINT}/jobs/job-1/tasks/task-1/files/wd%2Fout%20put.txt"
NODE_FILE_URL = f"{ENDPOINT}/pools/pool-1/nodes/tvm-1/files/startup%2Fstdout.txt"
CONTENT = bytes(range(256)) * 40  # 10 240 bytes
LAST_MODIFIED = "Mon, 01 Jul 2024 10:15:30 GMT"
HEADERS = {"ETag": "0x8DCF11E", "Last-Modified": LAST_MODIFIED, "Content-Type": "application/octet-stream"}


class CutStream(httpx.AsyncByteStream):
    """A body that delivers ``data`` and then fails as a dropped connection would."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for start in range(0, len(self._data), 1000):
            yield self._data[start : start + 1000]
        raise httpx.ReadError("connection reset by peer")


def full(content: bytes, **extra: str) -> httpx.Response:
    return httpx.Response(
        200, content=content, headers={**HEADERS, "Content-Length": str(len(content)), **extra}
    )


def cut(delivered: bytes, total: int) -> httpx.Response:
    return httpx.Response(200, stream=CutStream(delivered), headers={**HEADERS, "Content-Length": str(total)})


def names_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


@pytest.fixture
async def client() -> AsyncIterator[BatchClient]:
    credential = SharedKeyCredential("acct", base64.b64encode(b"k" * 32).decode())
    retry = RetryPolicy(max_attempts=2, backoff_base=0.0, backoff_cap=0.0)
    async with BatchClient(ENDPOINT, credential, retry=retry) as batch:
        yield batch


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        yield router


async def test_download_streams_chunks(client: BatchClient, mock: respx.MockRouter) -> None:
    route = mock.get(FILE_URL).mock(return_value=full(CONTENT))
    async with client.tasks.download_file("job-1", "task-1", "wd/out put.txt") as stream:
        assert stream.status_code == 200
        assert stream.properties.etag == "0x8DCF11E"
        assert stream.properties.content_length == len(CONTENT)
        chunks = [chunk async for chunk in stream]
    assert b"".join(chunks) == CONTENT
    assert stream.received == len(CONTENT)
    assert "ocp-range" not in route.calls[0].request.headers


@pytest.mark.parametrize(
    ("offset", "length", "header"),
    [(0, 10, "bytes=0-9"), (100, 1, "bytes=100-100"), (5000, None, "bytes=5000-"), (0, None, None)],
)
async def test_download_range(
    client: BatchClient, mock: respx.MockRouter, offset: int, length: int | None, header: str | None
) -> None:
    end = len(CONTENT) if length is None else offset + length
    route = mock.get(NODE_FILE_URL).mock(return_value=full(CONTENT[offset:end]))
    async with client.nodes.download_file(
        "pool-1", "tvm-1", "startup/stdout.txt", offset=offset, length=length
    ) as s:
        assert await s.read() == CONTENT[offset:end]
    assert route.calls[0].request.headers.get("ocp-range") == header


@pytest.mark.parametrize(("offset", "length"), [(-1, None), (0, 0), (0, -5)])
def test_bad_ranges_are_rejected(client: BatchClient, offset: int, length: int | None) -> None:
    with pytest.raises(ValidationError):
        client.tasks.download_file("job-1", "task-1", "x", offset=offset, length=length)


async def test_a_cut_download_resumes_where_it_stopped(client: BatchClient, mock: respx.MockRouter) -> None:
    route = mock.get(FILE_URL).mock(side_effect=[cut(CONTENT[:3000], len(CONTENT)), full(CONTENT[3000:])])
    async with client.tasks.download_file("job-1", "task-1", "wd/out put.txt") as stream:
        data = await stream.read()
    assert data == CONTENT
    first, second = (call.request for call in route.calls)
    assert "ocp-range" not in first.headers
    assert second.headers["ocp-range"] == "bytes=3000-"
    assert second.headers["If-Unmodified-Since"] == LAST_MODIFIED


async def test_a_cut_ranged_download_resumes_inside_its_range(
    client: BatchClient, mock: respx.MockRouter
) -> None:
    wanted = CONTENT[1000:6000]
    route = mock.get(FILE_URL).mock(
        side_effect=[cut(wanted[:2000], len(wanted)), cut(wanted[2000:4000], 3000), full(wanted[4000:])]
    )
    async with client.tasks.download_file("job-1", "task-1", "wd/out put.txt", offset=1000, length=5000) as s:
        assert await s.read() == wanted
    assert [call.request.headers["ocp-range"] for call in route.calls] == [
        "bytes=1000-5999",
        "bytes=3000-5999",
        "bytes=5000-5999",
    ]


async def test_a_file_changed_during_resume_is_reported(client: BatchClient, mock: respx.MockRouter) -> None:
    changed = httpx.Response(412, json={"code": "ConditionNotMet", "message": {"value": "modified"}})
    mock.get(FILE_URL).mock(side_effect=[cut(CONTENT[:1000], len(CONTENT)), changed])
    received = bytearray()
    with pytest.raises(FileChangedError):
        async with client.tasks.download_file("job-1", "task-1", "wd/out put.txt") as stream:
            async for chunk in stream:
                received += chunk
    assert bytes(received) == CONTENT[:1000]


async def test_a_different_etag_on_resume_is_reported(client: BatchClient, mock: respx.MockRouter) -> None:
    mock.get(FILE_URL).mock(
        side_effect=[cut(CONTENT[:1000], len(CONTENT)), full(CONTENT[1000:], ETag="0xNEW")]
    )
    with pytest.raises(FileChangedError, match="ETag"):
        async with client.tasks.download_file("job-1", "task-1", "wd/out put.txt") as stream:
            await stream.read()


async def test_resumes_are_bounded(client: BatchClient, mock: respx.MockRouter) -> None:
    def ten_bytes(request: httpx.Request) -> httpx.Response:
        start = int(request.headers.get("ocp-range", "bytes=0-")[6:].rstrip("-"))
        return cut(CONTENT[start : start + 10], len(CONTENT) - start)

    route = mock.get(FILE_URL).mock(side_effect=ten_bytes)
    with pytest.raises(TransportError):
        async with client.tasks.download_file("job-1", "task-1", "wd/out put.txt") as stream:
            await stream.read()
    assert route.call_count == 4  # the first request and three resumes


async def test_download_to_writes_the_file(
    client: BatchClient, mock: respx.MockRouter, tmp_path: Path
) -> None:
    mock.get(FILE_URL).mock(side_effect=[cut(CONTENT[:5000], len(CONTENT)), full(CONTENT[5000:])])
    destination = tmp_path / "out.bin"
    properties = await client.tasks.download_file_to("job-1", "task-1", "wd/out put.txt", destination)
    assert destination.read_bytes() == CONTENT
    assert properties.etag == "0x8DCF11E"


async def test_download_to_removes_a_partial_file(
    client: BatchClient, mock: respx.MockRouter, tmp_path: Path
) -> None:
    changed = httpx.Response(412, json={"code": "ConditionNotMet"})
    mock.get(NODE_FILE_URL).mock(side_effect=[cut(CONTENT[:5000], len(CONTENT)), changed])
    destination = tmp_path / "stdout.txt"
    with pytest.raises(FileChangedError):
        await client.nodes.download_file_to("pool-1", "tvm-1", "startup/stdout.txt", destination)
    assert not destination.exists()


async def test_download_to_keeps_an_existing_file_when_the_download_fails(
    client: BatchClient, mock: respx.MockRouter, tmp_path: Path
) -> None:
    mock.get(FILE_URL).mock(
        side_effect=[
            httpx.Response(404, json={"code": "FileNotFound"}),
            cut(CONTENT[:5000], len(CONTENT)),
            httpx.Response(412, json={"code": "ConditionNotMet"}),
        ]
    )
    destination = tmp_path / "out.bin"
    destination.write_bytes(b"precious")
    with pytest.raises(NotFoundError):
        await client.tasks.download_file_to("job-1", "task-1", "wd/out put.txt", destination)
    assert destination.read_bytes() == b"precious"
    with pytest.raises(FileChangedError):
        await client.tasks.download_file_to("job-1", "task-1", "wd/out put.txt", destination)
    assert destination.read_bytes() == b"precious"
    assert names_in(tmp_path) == ["out.bin"]


async def test_download_to_replaces_an_existing_file_on_success(
    client: BatchClient, mock: respx.MockRouter, tmp_path: Path
) -> None:
    mock.get(FILE_URL).mock(return_value=full(CONTENT))
    destination = tmp_path / "out.bin"
    destination.write_bytes(b"old")
    await client.tasks.download_file_to("job-1", "task-1", "wd/out put.txt", destination)
    assert destination.read_bytes() == CONTENT
    assert names_in(tmp_path) == ["out.bin"]


async def test_download_to_keeps_the_permissions_of_an_existing_file(
    client: BatchClient, mock: respx.MockRouter, tmp_path: Path
) -> None:
    mock.get(FILE_URL).mock(return_value=full(CONTENT))
    destination = tmp_path / "out.bin"
    destination.write_bytes(b"old")
    destination.chmod(0o640)
    await client.tasks.download_file_to("job-1", "task-1", "wd/out put.txt", destination)
    assert stat.S_IMODE(destination.stat().st_mode) == 0o640


async def test_download_to_gives_a_new_file_the_usual_permissions(
    client: BatchClient, mock: respx.MockRouter, tmp_path: Path
) -> None:
    mock.get(FILE_URL).mock(return_value=full(CONTENT))
    reference = tmp_path / "reference"
    reference.touch()
    destination = tmp_path / "out.bin"
    await client.tasks.download_file_to("job-1", "task-1", "wd/out put.txt", destination)
    assert stat.S_IMODE(destination.stat().st_mode) == stat.S_IMODE(reference.stat().st_mode)


async def test_download_answered_304_raises_not_modified_and_keeps_the_file(
    client: BatchClient, mock: respx.MockRouter, tmp_path: Path
) -> None:
    mock.get(FILE_URL).mock(return_value=httpx.Response(304, headers=HEADERS))
    destination = tmp_path / "out.bin"
    destination.write_bytes(b"current")
    since = datetime(2024, 7, 1, tzinfo=timezone.utc)
    with pytest.raises(NotModifiedError) as info:
        await client.tasks.download_file_to(
            "job-1", "task-1", "wd/out put.txt", destination, if_modified_since=since
        )
    assert info.value.metadata.etag == "0x8DCF11E"
    assert destination.read_bytes() == b"current"
    with pytest.raises(NotModifiedError):
        async with client.tasks.download_file("job-1", "task-1", "wd/out put.txt", if_modified_since=since):
            pass


async def test_a_resume_answered_with_the_whole_file_is_refused(
    client: BatchClient, mock: respx.MockRouter
) -> None:
    mock.get(FILE_URL).mock(side_effect=[cut(CONTENT[:3000], len(CONTENT)), full(CONTENT)])
    received = bytearray()
    with pytest.raises(ResponseParseError, match="did not honour the byte range"):
        async with client.tasks.download_file("job-1", "task-1", "wd/out put.txt") as stream:
            async for chunk in stream:
                received += chunk
    assert bytes(received) == CONTENT[:3000]


async def test_a_resume_with_a_content_range_at_the_offset_is_accepted(
    client: BatchClient, mock: respx.MockRouter
) -> None:
    rest = full(CONTENT[3000:], **{"Content-Range": f"bytes 3000-{len(CONTENT) - 1}/{len(CONTENT)}"})
    wrong = full(CONTENT[2000:], **{"Content-Range": f"bytes 2000-{len(CONTENT) - 1}/{len(CONTENT)}"})
    mock.get(FILE_URL).mock(side_effect=[cut(CONTENT[:3000], len(CONTENT)), rest])
    async with client.tasks.download_file("job-1", "task-1", "wd/out put.txt") as stream:
        assert await stream.read() == CONTENT
    mock.get(FILE_URL).mock(side_effect=[cut(CONTENT[:3000], len(CONTENT)), wrong])
    with pytest.raises(ResponseParseError, match="Content-Range"):
        async with client.tasks.download_file("job-1", "task-1", "wd/out put.txt") as stream:
            await stream.read()


async def test_a_ranged_download_answered_with_the_whole_file_is_refused(
    client: BatchClient, mock: respx.MockRouter
) -> None:
    mock.get(FILE_URL).mock(return_value=full(CONTENT))
    with pytest.raises(ResponseParseError, match="bytes=1000-1999"):
        async with client.tasks.download_file("job-1", "task-1", "wd/out put.txt", offset=1000, length=1000):
            pass


async def test_no_resume_without_etag_or_last_modified(client: BatchClient, mock: respx.MockRouter) -> None:
    bare = httpx.Response(
        200, stream=CutStream(CONTENT[:3000]), headers={"Content-Length": str(len(CONTENT))}
    )
    route = mock.get(FILE_URL).mock(side_effect=[bare, full(CONTENT[3000:])])
    with pytest.raises(TransportError):
        async with client.tasks.download_file("job-1", "task-1", "wd/out put.txt") as stream:
            await stream.read()
    assert route.call_count == 1


async def test_a_missing_file_raises_not_found(client: BatchClient, mock: respx.MockRouter) -> None:
    mock.get(FILE_URL).mock(return_value=httpx.Response(404, json={"code": "FileNotFound"}))
    with pytest.raises(NotFoundError):
        async with client.tasks.download_file("job-1", "task-1", "wd/out put.txt"):
            pass


async def test_linux_file_properties(client: BatchClient, mock: respx.MockRouter) -> None:
    headers = {
        "Content-Length": "0",
        "ocp-batch-file-isdirectory": "True",
        "ocp-batch-file-mode": "0o40755",
        "ocp-batch-file-url": "https://acct/pools/pool-1/nodes/tvm-1/files/wd",
        "Last-Modified": LAST_MODIFIED,
        "Content-Type": "application/json;odata=minimalmetadata",
    }
    mock.head(f"{ENDPOINT}/pools/pool-1/nodes/tvm-1/files/wd").mock(
        return_value=httpx.Response(200, headers=headers)
    )
    properties = await client.nodes.get_file_properties("pool-1", "tvm-1", "wd")
    assert properties == BatchFileProperties(
        content_length=0,
        is_directory=True,
        url="https://acct/pools/pool-1/nodes/tvm-1/files/wd",
        file_mode="0o40755",
        creation_time=None,
        etag=None,
        last_modified=datetime(2024, 7, 1, 10, 15, 30, tzinfo=timezone.utc),
        content_type="application/json;odata=minimalmetadata",
    )


def test_file_properties_from_sparse_headers() -> None:
    assert (
        BatchFileProperties.from_headers(httpx.Headers({"Last-Modified": "not a date"}))
        == BatchFileProperties()
    )


async def test_a_connection_dropped_after_the_whole_body_is_not_resumed(
    client: BatchClient, mock: respx.MockRouter
) -> None:
    beyond_the_end = httpx.Response(416, json={"code": "InvalidRange"})
    route = mock.get(FILE_URL).mock(side_effect=[cut(CONTENT, len(CONTENT)), beyond_the_end])
    async with client.tasks.download_file("job-1", "task-1", "wd/out put.txt") as stream:
        assert await stream.read() == CONTENT
    assert route.call_count == 1


async def test_a_file_that_grew_before_the_resume_is_reported(
    client: BatchClient, mock: respx.MockRouter
) -> None:
    grown = CONTENT + b"appended"
    rest = httpx.Response(
        200,
        content=grown[3000:],
        headers={
            "Last-Modified": LAST_MODIFIED,
            "Content-Range": f"bytes 3000-{len(grown) - 1}/{len(grown)}",
        },
    )
    first = httpx.Response(
        200,
        stream=CutStream(CONTENT[:3000]),
        headers={"Last-Modified": LAST_MODIFIED, "Content-Length": str(len(CONTENT))},
    )
    mock.get(FILE_URL).mock(side_effect=[first, rest])
    with pytest.raises(FileChangedError, match="size"):
        async with client.tasks.download_file("job-1", "task-1", "wd/out put.txt") as stream:
            await stream.read()


class CutRawStream(httpx.AsyncByteStream):
    """Encoded bytes delivered in small pieces, then a dropped connection."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for start in range(0, len(self._data), 50):
            yield self._data[start : start + 50]
        raise httpx.ReadError("connection reset by peer")


async def test_downloads_ask_for_the_file_unencoded(client: BatchClient, mock: respx.MockRouter) -> None:
    route = mock.get(FILE_URL).mock(return_value=full(CONTENT))
    async with client.tasks.download_file("job-1", "task-1", "wd/out put.txt") as stream:
        assert await stream.read() == CONTENT
    assert route.calls.last.request.headers["accept-encoding"] == "identity"


async def test_a_gzip_download_cut_half_way_is_not_a_success(
    client: BatchClient, mock: respx.MockRouter, tmp_path: Path
) -> None:
    import gzip

    encoded = gzip.compress(CONTENT)
    headers = {**HEADERS, "Content-Length": str(len(encoded)), "Content-Encoding": "gzip"}
    half = httpx.Response(200, stream=CutRawStream(encoded[: len(encoded) // 2]), headers=headers)
    route = mock.get(FILE_URL).mock(return_value=half)
    target = tmp_path / "out.txt"
    with pytest.raises(TransportError, match="gzip encoded download was cut off"):
        await client.tasks.download_file_to("job-1", "task-1", "wd/out put.txt", target)
    assert not target.exists()
    assert names_in(tmp_path) == []
    assert route.call_count == 1  # not resumed by a decoded offset


async def test_a_whole_gzip_download_is_decoded(client: BatchClient, mock: respx.MockRouter) -> None:
    import gzip

    encoded = gzip.compress(CONTENT)
    headers = {**HEADERS, "Content-Length": str(len(encoded)), "Content-Encoding": "gzip"}
    mock.get(FILE_URL).mock(return_value=httpx.Response(200, content=encoded, headers=headers))
    async with client.tasks.download_file("job-1", "task-1", "wd/out put.txt") as stream:
        assert await stream.read() == CONTENT
