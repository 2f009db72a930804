"""``batchaio._tracing``: span names, kinds, attributes and nesting, seen by the in-memory exporter."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

pytest.importorskip("opentelemetry.sdk")

import base64

import httpx
import respx
from opentelemetry import context, trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from batchaio import BatchClient, NotFoundError, RetryPolicy, SharedKeyCredential, _tracing
from batchaio.models import BatchTaskCreateContent


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """A tracer provider set for the test only, exporting to memory."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", provider)
    yield exporter
    provider.shutdown()


def by_name(exporter: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    return {span.name: span for span in exporter.get_finished_spans()}


def test_off_without_a_tracer_provider() -> None:
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    assert not _tracing.tracing_enabled()
    with (
        _tracing.call_span("BatchClient.jobs.get", {"jobId": "j"}),
        _tracing.attempt_span("GET", "https://a.b/jobs/j", client_request_id="c", resend_count=0) as span,
    ):
        span.response(200, {})
    assert span is _tracing._NO_ATTEMPT


def test_a_provider_named_in_the_environment_is_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    """While no provider is set, the off check skips get_tracer_provider() unless the environment names one
    (OTEL_PYTHON_TRACER_PROVIDER, which opentelemetry then loads)."""
    assert not _tracing.tracing_enabled()
    provider = TracerProvider()
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", None)
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)
    assert not _tracing.tracing_enabled()
    monkeypatch.setattr(_tracing, "_provider_in_environment", True)
    assert _tracing.tracing_enabled()


def test_call_span_with_an_attempt_under_it(spans: InMemorySpanExporter) -> None:
    url = "https://acct.westeurope.batch.azure.com/jobs/j1/tasks/t1?api-version=2024-07-01.20.0&$select=id"
    ids = {"jobId": "j1", "taskId": "t1", "other": "x"}
    with (
        _tracing.call_span("BatchClient.tasks.get", ids),
        _tracing.attempt_span("GET", url, client_request_id="cid", resend_count=0) as attempt,
    ):
        attempt.response(200, {"request-id": "rid", "authorization": "secret"})
    recorded = by_name(spans)
    call, http = recorded["BatchClient.tasks.get"], recorded["GET"]
    assert call.kind is SpanKind.INTERNAL and http.kind is SpanKind.CLIENT
    assert http.parent is not None and http.parent.span_id == call.context.span_id
    assert dict(call.attributes or {}) == {
        "az.namespace": "Microsoft.Batch",
        "az.batch.job.id": "j1",
        "az.batch.task.id": "t1",
    }
    assert dict(http.attributes or {}) == {
        "az.namespace": "Microsoft.Batch",
        "http.request.method": "GET",
        "url.full": "https://acct.westeurope.batch.azure.com/jobs/j1/tasks/t1?api-version=REDACTED&$select=REDACTED",
        "server.address": "acct.westeurope.batch.azure.com",
        "server.port": 443,
        "az.client_request_id": "cid",
        "http.response.status_code": 200,
        "az.service_request_id": "rid",
    }
    assert call.status.status_code is StatusCode.UNSET


def test_an_error_status_and_a_failed_call(spans: InMemorySpanExporter) -> None:
    with pytest.raises(NotFoundError), _tracing.call_span("BatchClient.jobs.get", {"jobId": "j"}):
        with _tracing.attempt_span(
            "GET", "http://127.0.0.1:8765/jobs/j", client_request_id="c", resend_count=0
        ) as a:
            a.response(404, {"request-id": "r"})
        raise NotFoundError(404, code="JobNotFound")
    recorded = by_name(spans)
    assert recorded["GET"].attributes["error.type"] == "404"  # type: ignore[index]
    assert recorded["GET"].attributes["server.port"] == 8765  # type: ignore[index]
    assert recorded["GET"].status.status_code is StatusCode.ERROR
    call = recorded["BatchClient.jobs.get"]
    assert call.attributes["error.type"] == "batchaio.errors.NotFoundError"  # type: ignore[index]
    assert call.status.status_code is StatusCode.ERROR
    assert call.events == ()


def test_a_retried_attempt_counts_its_resends(spans: InMemorySpanExporter) -> None:
    with _tracing.call_span("BatchClient.pools.get", {"poolId": "p"}):
        for attempt in range(2):
            with _tracing.attempt_span(
                "GET", "https://h/pools/p", client_request_id="c", resend_count=attempt
            ) as a:
                if attempt == 0:
                    a.failure(ConnectionResetError())
                else:
                    a.response(200, {})
    attempts = [span for span in spans.get_finished_spans() if span.kind is SpanKind.CLIENT]
    assert [dict(span.attributes or {}).get("http.request.resend_count") for span in attempts] == [None, 1]
    assert attempts[0].attributes["error.type"] == "builtins.ConnectionResetError"  # type: ignore[index]


def test_nested_calls_make_one_call_span(spans: InMemorySpanExporter) -> None:
    with _tracing.call_span("BatchClient.tasks.add_many", {"jobId": "j"}):
        for _ in range(3):
            url = "https://h/jobs/j/addtaskcollection"
            with (
                _tracing.call_span("BatchClient.tasks.add_collection", {"jobId": "j"}),
                _tracing.attempt_span("POST", url, client_request_id="c", resend_count=0),
            ):
                pass
    names = [span.name for span in spans.get_finished_spans()]
    assert names == ["POST", "POST", "POST", "BatchClient.tasks.add_many"]


def test_http_instrumentation_is_suppressed_inside_an_attempt(spans: InMemorySpanExporter) -> None:
    key = context._SUPPRESS_HTTP_INSTRUMENTATION_KEY
    with _tracing.attempt_span("GET", "https://h/x", client_request_id="c", resend_count=0):
        assert context.get_value(key) is True
    assert context.get_value(key) is None


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://h/p", "https://h/p"),
        ("https://h:444/p?sig=abc&se=2024", "https://h:444/p?sig=REDACTED&se=REDACTED"),
        ("https://user:pw@h/p?a=", "https://h/p?a=REDACTED"),
        ("http://[::1]:8/p?x=1", "http://[::1]:8/p?x=REDACTED"),
    ],
)
def test_redacted_url(url: str, expected: str) -> None:
    assert _tracing.redacted_url(url) == expected


# --- through the client (respx) ---------------------------------------------------------------------------

ENDPOINT = "https://acct.westeurope.batch.azure.com"
KEY = base64.b64encode(b"k" * 32).decode()
TASK = {"id": "t1", "state": "active", "url": "https://acct.westeurope.batch.azure.com/jobs/j1/tasks/t1"}


@pytest.fixture
async def client() -> AsyncIterator[BatchClient]:
    retry = RetryPolicy(max_attempts=3, backoff_base=0.0, backoff_cap=0.0)
    async with BatchClient(ENDPOINT, SharedKeyCredential("acct", KEY), retry=retry) as batch:
        yield batch


def tree(exporter: InMemorySpanExporter) -> list[tuple[str, str, str | None]]:
    """(name, kind, parent name) of every finished span, in the order they ended."""
    finished = exporter.get_finished_spans()
    names = {span.context.span_id: span.name for span in finished}
    return [
        (span.name, span.kind.name, names.get(span.parent.span_id) if span.parent else None)
        for span in finished
    ]


def no_secret_in(exporter: InMemorySpanExporter) -> None:
    for span in exporter.get_finished_spans():
        for name, value in (span.attributes or {}).items():
            text = str(value)
            assert KEY not in text and "SharedKey" not in text and "sig=" not in text, (name, text)
            if name == "url.full" and "?" in text:
                assert all(item.endswith("=REDACTED") for item in text.split("?", 1)[1].split("&")), text


async def test_a_plain_call(spans: InMemorySpanExporter, client: BatchClient) -> None:
    with respx.mock(base_url=ENDPOINT) as mock:
        mock.get("/jobs/j1/tasks/t1").respond(200, json=TASK, headers={"request-id": "rid-1"})
        await client.tasks.get("j1", "t1", select=["id", "state"])
    assert tree(spans) == [
        ("GET", "CLIENT", "BatchClient.tasks.get"),
        ("BatchClient.tasks.get", "INTERNAL", None),
    ]
    call, http = by_name(spans)["BatchClient.tasks.get"], by_name(spans)["GET"]
    assert call.attributes == {
        "az.namespace": "Microsoft.Batch",
        "az.batch.job.id": "j1",
        "az.batch.task.id": "t1",
    }
    attributes = dict(http.attributes or {})
    assert attributes["http.response.status_code"] == 200
    assert attributes["az.service_request_id"] == "rid-1"
    assert attributes["az.client_request_id"]
    assert attributes["url.full"].startswith(f"{ENDPOINT}/jobs/j1/tasks/t1?api-version=REDACTED")  # type: ignore[union-attr]
    assert "http.request.resend_count" not in attributes
    no_secret_in(spans)


async def test_a_failing_call(spans: InMemorySpanExporter, client: BatchClient) -> None:
    error = {
        "code": "JobNotFound",
        "message": {"lang": "en-US", "value": "The specified job does not exist."},
    }
    with respx.mock(base_url=ENDPOINT) as mock:
        mock.get("/jobs/nope").respond(404, json=error, headers={"request-id": "rid-2"})
        with pytest.raises(NotFoundError):
            await client.jobs.get("nope")
    call, http = by_name(spans)["BatchClient.jobs.get"], by_name(spans)["GET"]
    assert http.attributes["error.type"] == "404"  # type: ignore[index]
    assert http.status.status_code is StatusCode.ERROR
    assert call.attributes["error.type"] == "batchaio.errors.NotFoundError"  # type: ignore[index]
    assert call.status.status_code is StatusCode.ERROR
    no_secret_in(spans)


async def test_a_retried_call_has_two_attempt_spans(spans: InMemorySpanExporter, client: BatchClient) -> None:
    with respx.mock(base_url=ENDPOINT) as mock:
        mock.get("/pools/p1").mock(
            side_effect=[
                httpx.Response(503, headers={"retry-after": "0"}),
                httpx.Response(200, json={"id": "p1"}),
            ]
        )
        await client.pools.get("p1")
    attempts = [span for span in spans.get_finished_spans() if span.kind is SpanKind.CLIENT]
    assert [dict(span.attributes or {}).get("http.request.resend_count") for span in attempts] == [None, 1]
    assert [dict(span.attributes or {})["http.response.status_code"] for span in attempts] == [503, 200]
    assert by_name(spans)["BatchClient.pools.get"].status.status_code is StatusCode.UNSET
    assert len({dict(span.attributes or {})["az.client_request_id"] for span in attempts}) == 1


async def test_a_connection_failure_is_an_error_type(
    spans: InMemorySpanExporter, client: BatchClient
) -> None:
    with respx.mock(base_url=ENDPOINT) as mock:
        mock.get("/pools/p1").mock(
            side_effect=[httpx.ConnectError("refused"), httpx.Response(200, json={"id": "p1"})]
        )
        await client.pools.get("p1")
    first = next(span for span in spans.get_finished_spans() if span.kind is SpanKind.CLIENT)
    assert first.status.status_code is StatusCode.ERROR
    assert "error.type" in (first.attributes or {})
    assert "http.response.status_code" not in (first.attributes or {})


async def test_a_bulk_run_is_one_span_with_a_client_span_per_request(
    spans: InMemorySpanExporter, client: BatchClient
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        tasks = httpx.Response(200, content=request.content).json()["value"]
        values = [{"status": "success", "taskId": task["id"]} for task in tasks]
        return httpx.Response(200, json={"value": values})

    with respx.mock(base_url=ENDPOINT) as mock:
        mock.post("/jobs/j1/addtaskcollection").mock(side_effect=answer)
        tasks = (BatchTaskCreateContent(id=f"t{n}", command_line="echo") for n in range(250))
        report = await client.tasks.add_many("j1", tasks, concurrency=2)
    assert report.created == 250
    shape = tree(spans)
    assert shape[-1] == ("BatchClient.tasks.add_many", "INTERNAL", None)
    assert shape[:-1] == [("POST", "CLIENT", "BatchClient.tasks.add_many")] * 3
    assert by_name(spans)["BatchClient.tasks.add_many"].attributes["az.batch.job.id"] == "j1"  # type: ignore[index]
    no_secret_in(spans)


async def test_a_listing_has_a_span_per_page(spans: InMemorySpanExporter, client: BatchClient) -> None:
    next_link = f"{ENDPOINT}/jobs/j1/tasks?api-version=2024-07-01.20.0&$skiptoken=secret-token"
    with respx.mock(base_url=ENDPOINT) as mock:
        mock.get("/jobs/j1/tasks").mock(
            side_effect=[
                httpx.Response(200, json={"value": [TASK], "odata.nextLink": next_link}),
                httpx.Response(200, json={"value": [TASK]}),
            ]
        )
        assert len([task async for task in client.tasks.list("j1")]) == 2
    assert (
        tree(spans)
        == [
            ("GET", "CLIENT", "BatchClient.tasks.list"),
            ("BatchClient.tasks.list", "INTERNAL", None),
        ]
        * 2
    )
    assert all("secret-token" not in str(span.attributes) for span in spans.get_finished_spans())
    no_secret_in(spans)


async def test_no_spans_without_a_provider(client: BatchClient) -> None:
    with respx.mock(base_url=ENDPOINT) as mock:
        mock.get("/pools/p1").respond(200, json={"id": "p1"})
        await client.pools.get("p1")
    assert not _tracing.tracing_enabled()


async def test_httpx_instrumentation_does_not_double_the_attempt_spans(spans: InMemorySpanExporter) -> None:
    instrumentation = pytest.importorskip("opentelemetry.instrumentation.httpx")
    instrumentor = instrumentation.HTTPXClientInstrumentor()
    instrumentor.instrument()
    try:
        async with BatchClient(ENDPOINT, SharedKeyCredential("acct", KEY)) as client:
            with respx.mock(base_url=ENDPOINT) as mock:
                mock.get("/pools/p1").respond(200, json={"id": "p1"})
                await client.pools.get("p1")
            async with httpx.AsyncClient() as plain:  # the instrumentation is active outside batchaio
                with respx.mock() as mock:
                    mock.get("https://example.test/").respond(200)
                    await plain.get("https://example.test/")
    finally:
        instrumentor.uninstrument()
    kinds = [(span.name, span.kind.name) for span in spans.get_finished_spans()]
    assert kinds == [("GET", "CLIENT"), ("BatchClient.pools.get", "INTERNAL"), ("GET", "CLIENT")]
    assert spans.get_finished_spans()[2].attributes.get("az.namespace") is None  # type: ignore[union-attr]
