"""The optional aiohttp transport, against a real local aiohttp server (skipped without aiohttp)."""

from __future__ import annotations

import socket

import pytest

aiohttp = pytest.importorskip("aiohttp")
import yarl  # noqa: E402
from aiohttp import web  # noqa: E402
from aiohttp.test_utils import TestServer  # noqa: E402
from multidict import CIMultiDict, CIMultiDictProxy  # noqa: E402

from batchaio import BatchClient, RequestNotSentError, SharedKeyCredential  # noqa: E402
from batchaio._transport import BatchRequest  # noqa: E402
from batchaio.auth import shared_key_signature  # noqa: E402
from batchaio.errors import NotFoundError  # noqa: E402
from batchaio.transports import AiohttpTransport  # noqa: E402

KEY = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="


async def handler(request: web.Request) -> web.Response:
    url = f"http://{request.host}{request.raw_path}"
    expected = shared_key_signature(request.method, url, dict(request.headers), "acct", KEY)
    if request.headers.get("Authorization") != expected:
        return web.json_response({"code": "AuthenticationFailed"}, status=403)
    if "missing" in request.raw_path:
        return web.json_response({"code": "JobNotFound", "message": {"value": "nope"}}, status=404)
    body = await request.read()
    return web.json_response(
        {
            "method": request.method,
            "path": request.raw_path,
            "content_length": request.headers.get("Content-Length"),
            "body": body.decode(),
            "user_agent": request.headers.get("User-Agent"),
            "content_type": request.headers.get("Content-Type"),
        },
        headers={"ETag": "0xABC", "request-id": "srv"},
    )


@pytest.fixture
async def server():
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server()
    yield f"http://127.0.0.1:{test_server.port}"
    await test_server.close()


def client(base: str) -> BatchClient:
    return BatchClient(
        base, SharedKeyCredential("acct", KEY), allow_insecure_http=True, transport=AiohttpTransport()
    )


async def test_requests_go_out_exactly_as_signed(server: str) -> None:
    async with client(server) as batch:
        got = await batch._pipeline.send(
            BatchRequest(
                "Tasks_GetTaskFile",
                "GET",
                "/jobs/j%201/tasks/t/files/a%2Fb.txt",
                query={"$filter": "x eq 'y'"},
            )
        )
        deleted = await batch._pipeline.send(BatchRequest("Jobs_DeleteJob", "DELETE", "/jobs/j1"))
        created = await batch._pipeline.send(
            BatchRequest("Jobs_CreateJob", "POST", "/jobs", content=b'{"id":"j"}')
        )
    assert got.json()["path"].startswith("/jobs/j%201/tasks/t/files/a%2Fb.txt?api-version=")
    assert got.metadata.etag == "0xABC" and got.metadata.request_id == "srv"
    assert got.json()["user_agent"].startswith("batchaio/")
    assert deleted.json()["content_length"] == "0"
    assert created.json()["body"] == '{"id":"j"}'


async def test_error_statuses_are_typed(server: str) -> None:
    async with client(server) as batch:
        with pytest.raises(NotFoundError) as info:
            await batch._pipeline.send(BatchRequest("Jobs_GetJob", "GET", "/jobs/missing"))
    assert info.value.code == "JobNotFound"


async def test_streamed_download(server: str) -> None:
    async with (
        client(server) as batch,
        batch._pipeline.stream(
            BatchRequest("Tasks_GetTaskFile", "GET", "/jobs/j/tasks/t/files/out.txt")
        ) as response,
    ):
        body = await response.aread()
    assert b'"method": "GET"' in body or b'"method":"GET"' in body


async def test_connection_refused_is_not_sent() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    from batchaio import RetryPolicy

    async with BatchClient(
        f"http://127.0.0.1:{port}",
        SharedKeyCredential("acct", KEY),
        allow_insecure_http=True,
        transport=AiohttpTransport(),
        retry=RetryPolicy(max_attempts=2, backoff_base=0.001, backoff_cap=0.001),
    ) as batch:
        with pytest.raises(RequestNotSentError) as info:
            await batch._pipeline.send(BatchRequest("Nodes_RebootNode", "POST", "/pools/p/nodes/n/reboot"))
    assert info.value.attempts == 2
    assert info.value.outcome_unknown is False


@pytest.fixture(scope="module")
def emulator_endpoint():
    from batchaio.emulator import Emulator

    emulator = Emulator()
    try:
        yield emulator.start(), emulator.account, emulator.key
    finally:
        emulator.stop()


async def test_every_method_passes_the_emulators_shared_key_check(emulator_endpoint) -> None:
    endpoint, account, key = emulator_endpoint
    async with BatchClient(
        endpoint, SharedKeyCredential(account, key), allow_insecure_http=True, transport=AiohttpTransport()
    ) as batch:
        send = batch._pipeline.send
        created = await send(
            BatchRequest(
                "Jobs_CreateJob", "POST", "/jobs", content=b'{"id":"aio-job","poolInfo":{"poolId":"p"}}'
            )
        )
        got = await send(BatchRequest("Jobs_GetJob", "GET", "/jobs/aio-job"))
        terminated = await send(BatchRequest("Jobs_TerminateJob", "POST", "/jobs/aio-job/terminate"))
        with pytest.raises(NotFoundError) as missing:  # authentication is checked before the lookup
            await send(BatchRequest("JobSchedules_JobScheduleExists", "HEAD", "/jobschedules/none"))
        deleted = await send(BatchRequest("Jobs_DeleteJob", "DELETE", "/jobs/aio-job"))
    assert created.status_code == 201
    assert got.json()["id"] == "aio-job"
    assert terminated.status_code == 202
    assert missing.value.status_code == 404
    assert deleted.status_code == 202


async def test_a_bodiless_post_carries_no_content_type(server: str) -> None:
    async with client(server) as batch:
        got = await batch._pipeline.send(BatchRequest("Jobs_TerminateJob", "POST", "/jobs/j/terminate"))
    assert got.json()["content_length"] == "0"
    assert got.json()["content_type"] is None


def test_under_trio_the_first_request_says_asyncio_only() -> None:
    trio = pytest.importorskip("trio")

    async def main() -> None:
        async with client("http://127.0.0.1:9") as batch:
            await batch._pipeline.send(BatchRequest("Jobs_GetJob", "GET", "/jobs/j"))

    with pytest.raises(RuntimeError, match="asyncio only"):
        trio.run(main)


@pytest.mark.parametrize(
    ("raised", "failure"),
    [
        (aiohttp.ConnectionTimeoutError("pool or connect"), "NOT_SENT"),
        (aiohttp.ClientConnectorError(None, OSError(111, "refused")), "NOT_SENT"),  # type: ignore[arg-type]
        (aiohttp.SocketTimeoutError("sock_read"), "OUTCOME_UNKNOWN"),
        (aiohttp.ServerDisconnectedError(), "OUTCOME_UNKNOWN"),
        (aiohttp.ClientPayloadError("truncated"), "OUTCOME_UNKNOWN"),
        (aiohttp.ClientOSError(104, "reset"), "OUTCOME_UNKNOWN"),
        (aiohttp.InvalidURL("x"), "FATAL"),
    ],
)
def test_aiohttp_errors_keep_their_retry_classification(raised, failure) -> None:
    from batchaio._retry import TransportFailure
    from batchaio.transports import _classify

    assert _classify(aiohttp, raised) is TransportFailure[failure]


async def test_a_partly_read_stream_closes_its_connection_instead_of_reusing_it() -> None:
    peers: list[int] = []

    async def big(request: web.Request) -> web.StreamResponse:
        peers.append(request.transport.get_extra_info("peername")[1])
        response = web.StreamResponse()
        response.content_length = 2_000_000
        await response.prepare(request)
        for _ in range(20):
            await response.write(b"x" * 100_000)
        return response

    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", big)
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server()
    try:
        async with BatchClient(
            f"http://127.0.0.1:{test_server.port}",
            SharedKeyCredential("acct", KEY),
            allow_insecure_http=True,
            transport=AiohttpTransport(),
        ) as batch:
            request = BatchRequest("Tasks_GetTaskFile", "GET", "/f")
            async with batch._pipeline.stream(request) as response:
                async for _ in response.aiter_bytes():
                    break
            whole = await batch._pipeline.send(request)
    finally:
        await test_server.close()
    assert len(whole.content) == 2_000_000
    assert len(peers) == 2 and peers[0] != peers[1]


async def test_closing_the_client_fails_calls_in_flight_with_a_batchaio_error() -> None:
    import asyncio

    from batchaio.errors import ClientClosedError

    started = asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        started.set()
        await asyncio.sleep(30)
        return web.json_response({})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", slow)
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server()
    batch = client(f"http://127.0.0.1:{test_server.port}")
    try:
        call = asyncio.ensure_future(batch._pipeline.send(BatchRequest("Jobs_GetJob", "GET", "/jobs/j")))
        await asyncio.wait_for(started.wait(), 10)
        await batch.aclose()
        with pytest.raises(ClientClosedError):
            await asyncio.wait_for(call, 10)
        with pytest.raises(ClientClosedError, match="not sent"):
            await batch._pipeline.send(BatchRequest("Jobs_GetJob", "GET", "/jobs/j"))
    finally:
        await test_server.close()


@pytest.mark.parametrize(
    "raised",
    [
        aiohttp.InvalidURL("https://acct.batch.azure.com/jobs?$filter=SECRET1"),
        aiohttp.ClientResponseError(
            aiohttp.RequestInfo(  # type: ignore[call-arg]
                url=yarl.URL("https://acct.batch.azure.com/jobs?$filter=SECRET1"),
                method="GET",
                headers=CIMultiDictProxy(CIMultiDict()),
                real_url=yarl.URL("https://acct.batch.azure.com/jobs?$filter=SECRET1"),
            ),
            (),
            status=500,
            message="bad",
        ),
    ],
)
def test_aiohttp_error_texts_are_redacted_in_the_failure_and_its_cause(raised: BaseException) -> None:
    from batchaio.transports import _failed

    failed = _failed(aiohttp, raised)
    assert "SECRET1" in str(raised)
    assert failed.__cause__ is not None and failed.__suppress_context__
    assert "SECRET1" not in f"{failed} {failed.text} {failed.__cause__}"
    assert type(raised).__name__ in str(failed.__cause__)


async def test_an_aiohttp_body_past_the_cap_is_refused(server: str) -> None:
    from batchaio.errors import ResponseParseError

    async with BatchClient(
        server,
        SharedKeyCredential("acct", KEY),
        allow_insecure_http=True,
        transport=AiohttpTransport(),
        max_response_bytes=20,
    ) as batch:
        with pytest.raises(ResponseParseError, match="larger than 20 bytes"):
            await batch._pipeline.send(BatchRequest("Jobs_GetJob", "GET", "/jobs/j"))


@pytest.mark.parametrize("stream", [False, True])
async def test_the_calls_deadline_runs_out_as_deadline_exceeded(stream: bool) -> None:
    import asyncio

    from batchaio import RetryPolicy
    from batchaio.errors import DeadlineExceededError

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.json_response({})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", slow)
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server()
    try:
        async with BatchClient(
            f"http://127.0.0.1:{test_server.port}",
            SharedKeyCredential("acct", KEY),
            allow_insecure_http=True,
            transport=AiohttpTransport(),
            retry=RetryPolicy(deadline=0.3),
        ) as batch:
            request = BatchRequest("Jobs_GetJob", "GET", "/jobs/j")
            with pytest.raises(DeadlineExceededError) as info:
                if stream:
                    async with batch._pipeline.stream(request):
                        pass
                else:
                    await batch._pipeline.send(request)
    finally:
        await test_server.close()
    assert info.value.outcome_unknown is False and info.value.attempts == 1
