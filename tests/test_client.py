"""BatchClient configuration, lifecycle and security switches."""

from __future__ import annotations

import importlib.util
from typing import Any

import httpx
import pytest
import respx

from batchaio import BatchClient, Limits, RetryPolicy, SharedKeyCredential, Timeout
from batchaio._config import NOT_GIVEN
from batchaio._transport import BatchRequest
from batchaio.errors import ValidationError

KEY = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
ENDPOINT = "https://acct.westus2.batch.azure.com"


def credential() -> SharedKeyCredential:
    return SharedKeyCredential("acct", KEY)


async def test_context_manager_closes_the_http_client() -> None:
    async with BatchClient(ENDPOINT, credential()) as client:
        assert not client.is_closed
    assert client.is_closed
    assert client._transport.is_closed
    await client.aclose()


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://acct.westus2.batch.azure.com",
        "ftp://x",
        "acct.westus2.batch.azure.com",
        "https://",
        "https://a b",
    ],
)
def test_bad_or_insecure_endpoints_are_refused(endpoint: str) -> None:
    with pytest.raises(ValidationError) as info:
        BatchClient(endpoint, credential())
    assert info.value.field == "endpoint"


@pytest.mark.parametrize(
    "endpoint", ["https://u:p@a.example", "https://a.example/?x=1", "https://a.example/#f"]
)
def test_endpoint_must_not_carry_credentials_query_or_fragment(endpoint: str) -> None:
    with pytest.raises(ValidationError):
        BatchClient(endpoint, credential())


async def test_plain_http_is_allowed_only_with_the_flag() -> None:
    router = respx.MockRouter(assert_all_called=False)
    route = router.get(url__startswith="http://127.0.0.1:8123/jobs").mock(return_value=httpx.Response(200))
    async with BatchClient(
        "http://127.0.0.1:8123/",
        credential(),
        allow_insecure_http=True,
        transport=httpx.MockTransport(router.async_handler),
    ) as client:
        assert client.endpoint == "http://127.0.0.1:8123"
        await client._pipeline.send(BatchRequest("Jobs_ListJobs", "GET", "/jobs"))
    assert route.calls.last.request.headers["authorization"].startswith("SharedKey acct:")


def test_credential_must_be_usable() -> None:
    with pytest.raises(ValidationError):
        BatchClient(ENDPOINT, object())  # type: ignore[arg-type]


@pytest.mark.skipif(importlib.util.find_spec("h2") is not None, reason="h2 is installed")
def test_http2_without_h2_is_a_clear_error() -> None:
    with pytest.raises(ImportError, match="h2"):
        BatchClient(ENDPOINT, credential(), http2=True)


def test_timeouts_resolve_against_the_defaults() -> None:
    client = BatchClient(ENDPOINT, credential(), timeout=Timeout(read=5.0, pool=None))
    assert client.timeout == Timeout(connect=10.0, read=5.0, write=60.0, pool=None)
    assert client._transport.client.timeout == httpx.Timeout(connect=10.0, read=5.0, write=60.0, pool=None)
    assert BatchClient(ENDPOINT, credential(), timeout=3).timeout == Timeout.of(3)
    assert BatchClient(ENDPOINT, credential(), timeout=None).timeout == Timeout.of(None)


@pytest.mark.parametrize("value", [0, -1, "5", True])
def test_bad_timeouts_are_refused(value: Any) -> None:
    with pytest.raises((ValueError, TypeError)):
        Timeout(read=value)


def test_not_given_is_distinct_from_none() -> None:
    assert NOT_GIVEN is not None
    assert not NOT_GIVEN
    assert repr(NOT_GIVEN) == "NOT_GIVEN"
    assert Timeout().read is NOT_GIVEN
    assert Timeout(read=None).resolve(Timeout.of(7)).read is None
    assert Timeout().resolve(Timeout.of(7)).read == 7


async def test_per_call_timeout_overrides_the_client_timeout() -> None:
    router = respx.MockRouter(assert_all_called=False)
    route = router.get(url__startswith=f"{ENDPOINT}/jobs").mock(return_value=httpx.Response(200))
    async with BatchClient(
        ENDPOINT, credential(), timeout=20, transport=httpx.MockTransport(router.async_handler)
    ) as client:
        await client._pipeline.send(BatchRequest("Jobs_ListJobs", "GET", "/jobs"))
        await client._pipeline.send(BatchRequest("Jobs_ListJobs", "GET", "/jobs", timeout=Timeout(read=2.0)))
    first, second = (call.request.extensions["timeout"] for call in route.calls)
    assert first == {"connect": 20, "read": 20, "write": 20, "pool": 20}
    assert second == {"connect": 20, "read": 2.0, "write": 20, "pool": 20}


def test_limits_and_retry_are_kept() -> None:
    policy = RetryPolicy(max_attempts=2)
    client = BatchClient(ENDPOINT, credential(), limits=Limits(max_connections=7), retry=policy)
    assert client.limits.max_connections == 7
    assert client._pipeline.retry is policy
    with pytest.raises(ValueError):
        Limits(max_connections=-1)


def test_repr_never_shows_the_key() -> None:
    client = BatchClient(ENDPOINT, credential())
    assert KEY not in repr(client)
    assert "acct" in repr(client)


def test_client_runs_under_trio() -> None:
    import trio

    router = respx.MockRouter(assert_all_called=False)
    router.get(url__startswith=f"{ENDPOINT}/jobs").mock(return_value=httpx.Response(200, json={"value": []}))

    async def main() -> Any:
        async with BatchClient(
            ENDPOINT, credential(), transport=httpx.MockTransport(router.async_handler)
        ) as c:
            return (await c._pipeline.send(BatchRequest("Jobs_ListJobs", "GET", "/jobs"))).json()

    assert trio.run(main) == {"value": []}


async def test_httpx_request_logs_show_no_query_values(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    caplog.set_level(logging.INFO, logger="httpx")
    router = respx.MockRouter(assert_all_called=False, base_url=ENDPOINT)
    router.get("/jobs/j/tasks").mock(return_value=httpx.Response(200, json={"value": []}))
    async with BatchClient(
        ENDPOINT, credential(), transport=httpx.MockTransport(router.async_handler)
    ) as client:
        await client._pipeline.send(
            BatchRequest(
                "Tasks_ListTasks", "GET", "/jobs/j/tasks", query={"$filter": "id eq 'secret-sig=abc'"}
            )
        )
    lines = [record.getMessage() for record in caplog.records if record.name == "httpx"]
    assert lines, "httpx logged nothing"
    assert any("/jobs/j/tasks?" in line for line in lines)
    assert not any("secret" in line for line in lines)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"max_connections": 0}, ValueError),
        ({"max_connections": -1}, ValueError),
        ({"max_connections": 10.5}, ValidationError),
        ({"max_connections": 10.0}, ValidationError),
        ({"max_connections": True}, ValidationError),
        ({"max_keepalive_connections": -1}, ValueError),
        ({"max_keepalive_connections": 2.0}, ValidationError),
        ({"keepalive_expiry": -1.0}, ValueError),
        ({"keepalive_expiry": float("nan")}, ValueError),
        ({"keepalive_expiry": "30"}, ValidationError),
    ],
)
def test_limits_refuse_counts_that_would_stall_every_call(kwargs: dict[str, Any], error: type) -> None:
    with pytest.raises(error):
        Limits(**kwargs)


def test_limits_accept_none_and_no_keepalive() -> None:
    limits = Limits(max_connections=None, max_keepalive_connections=0, keepalive_expiry=0)
    assert limits.as_httpx().max_keepalive_connections == 0


@pytest.mark.parametrize(
    "endpoint", ["http://127.0.0.1:8765/jobs", "https://a.example/base/", "https://a.example/%2F"]
)
def test_an_endpoint_with_a_path_is_refused(endpoint: str) -> None:
    with pytest.raises(ValidationError) as info:
        BatchClient(endpoint, credential(), allow_insecure_http=True)
    assert info.value.field == "endpoint"
    assert "without a path" in str(info.value)


async def test_an_endpoint_with_only_a_trailing_slash_is_the_account_root() -> None:
    async with BatchClient(ENDPOINT + "/", credential()) as client:
        assert client.endpoint == ENDPOINT


ENV = {"BATCH_ENDPOINT": ENDPOINT, "BATCH_ACCOUNT_NAME": "acct", "BATCH_ACCOUNT_KEY": KEY}


async def test_from_env_reads_endpoint_account_and_key() -> None:
    router = respx.MockRouter(assert_all_called=True)
    route = router.head(url__startswith=f"{ENDPOINT}/pools/p1").mock(return_value=httpx.Response(200))
    with router:
        async with BatchClient.from_env(environ=ENV, retry=RetryPolicy.no_retries()) as client:
            assert client.endpoint == ENDPOINT
            assert isinstance(client.credential, SharedKeyCredential)
            assert client.credential.account_name == "acct"
            assert client.retry.max_attempts == 1
            assert await client.pools.exists("p1")
        assert route.calls.last.request.headers["authorization"].startswith("SharedKey acct:")


async def test_from_env_reads_os_environ_and_takes_a_credential(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BATCH_ENDPOINT", ENDPOINT)
    monkeypatch.delenv("BATCH_ACCOUNT_NAME", raising=False)
    monkeypatch.delenv("BATCH_ACCOUNT_KEY", raising=False)
    given = SharedKeyCredential("other", KEY)
    async with BatchClient.from_env(credential=given) as client:
        assert client.credential is given


@pytest.mark.parametrize("missing", ["BATCH_ENDPOINT", "BATCH_ACCOUNT_NAME", "BATCH_ACCOUNT_KEY"])
def test_from_env_names_a_missing_variable(missing: str) -> None:
    environ = {**ENV, missing: " "}
    with pytest.raises(ValidationError) as info:
        BatchClient.from_env(environ=environ)
    assert info.value.field == missing
    assert missing in str(info.value)
    assert KEY not in str(info.value)
