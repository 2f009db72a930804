"""``batchaio._tracing``: span names, kinds, attributes and nesting, seen by the in-memory exporter."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry import context, trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from batchaio import _tracing
from batchaio.errors import NotFoundError


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
