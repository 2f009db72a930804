"""Credentials: Shared Key vectors and secrecy, Entra token caching, single flight and claims challenges."""

from __future__ import annotations

import base64
import random
import time
from typing import Any

import anyio
import attrs
import httpx
import pytest
import respx

from batchaio import BatchClient, RetryPolicy, SharedKeyCredential
from batchaio._transport import BatchRequest
from batchaio.auth import TokenCredentialAuth, claims_from_challenge, shared_key_signature
from batchaio.errors import AuthenticationError, CredentialError, ValidationError

ZERO_KEY = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
FIXED_KEY = "YmF0Y2hhaW8tZml4ZWQtdGVzdC1rZXktMDEyMzQ1Njc4OQ=="
DATE = "Mon, 01 Jan 2024 00:00:00 GMT"
HOST = "https://testaccount.westus2.batch.azure.com"

VECTORS = [
    (
        ZERO_KEY,
        "GET",
        f"{HOST}/jobs?api-version=2025-06-01&maxresults=10&%24filter=state%20eq%20%27active%27&%24select=id%2Cstate",
        {
            "ocp-date": DATE,
            "Accept": "application/json",
            "client-request-id": "00000000-0000-0000-0000-000000000001",
        },
        "SharedKey testaccount:3q4qxZzK85y/XHkjW6QIyGB7nITwD9EqzO/1Gm3gdC0=",
    ),
    (
        FIXED_KEY,
        "POST",
        f"{HOST}/jobs/job-1/addtaskcollection?api-version=2025-06-01&timeOut=30",
        {
            "Content-Length": "123",
            "ocp-date": DATE,
            "Content-Type": "application/json; odata=minimalmetadata",
        },
        "SharedKey testaccount:4CdT4did5kxIcNK7bw6g0IBcBzsjPQwA/leJTGbF/tk=",
    ),
    (
        ZERO_KEY,
        "POST",
        f"{HOST}/jobs/job-1/terminate?api-version=2025-06-01",
        {"ocp-date": DATE},
        "SharedKey testaccount:Z6ATX/lkEON49mtjdySAEK+IH2wCdQjRtri6nBticdU=",
    ),
]


@pytest.mark.parametrize(("key", "method", "url", "headers", "expected"), VECTORS)
def test_signature_vectors(key: str, method: str, url: str, headers: dict[str, str], expected: str) -> None:
    assert shared_key_signature(method, url, headers, "testaccount", key) == expected
    assert SharedKeyCredential("testaccount", key).sign(method, url, headers) == expected


def test_signature_changes_with_any_signed_part() -> None:
    key, method, url, headers, expected = VECTORS[0]
    credential = SharedKeyCredential("testaccount", key)
    assert credential.sign(method, url, {**headers, "ocp-date": "Tue, 02 Jan 2024 00:00:00 GMT"}) != expected
    assert credential.sign(method, url.replace("maxresults=10", "maxresults=11"), headers) != expected
    assert SharedKeyCredential("testaccount", FIXED_KEY).sign(method, url, headers) != expected


def test_credential_repr_and_str_hide_the_key() -> None:
    credential = SharedKeyCredential("testaccount", FIXED_KEY)
    for text in (repr(credential), str(credential), repr([credential])):
        assert FIXED_KEY not in text
        assert "testaccount" in text
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(credential)


@pytest.mark.parametrize("key", ["not base64 at all!!", "c2VjcmV0LWtleQ", "", "   "])
def test_bad_key_is_refused_at_construction_without_echoing_it(key: str) -> None:
    with pytest.raises(ValidationError) as info:
        SharedKeyCredential("testaccount", key)
    assert info.value.field == "key"
    if key.strip():
        assert key not in str(info.value)


@pytest.mark.parametrize("name", ["", "a b", "acct:x", "a\nb", "-lead", "x" * 65])
def test_bad_account_name_is_refused(name: str) -> None:
    with pytest.raises(ValidationError):
        SharedKeyCredential(name, ZERO_KEY)


# --- Microsoft Entra tokens ---------------------------------------------------------------------------------


@attrs.frozen
class Token:
    token: str
    expires_on: int


class FakeCredential:
    """An azure-identity-like credential that counts its calls."""

    def __init__(self, lifetime: float = 3600.0) -> None:
        self.calls: list[tuple[tuple[str, ...], dict[str, Any]]] = []
        self.lifetime = lifetime

    async def get_token(self, *scopes: str, claims: str | None = None, **kwargs: Any) -> Token:
        self.calls.append((scopes, {"claims": claims, **kwargs}))
        await anyio.sleep(0.01)
        return Token(f"token-{len(self.calls)}", int(time.time() + self.lifetime))


async def test_fifty_concurrent_first_calls_fetch_one_token() -> None:
    credential = FakeCredential()
    auth = TokenCredentialAuth(credential)
    tokens: list[str] = []

    async def one() -> None:
        tokens.append(await auth.token())

    async with anyio.create_task_group() as group:
        for _ in range(50):
            group.start_soon(one)
    assert len(credential.calls) == 1
    assert set(tokens) == {"token-1"}
    assert credential.calls[0][0] == ("https://batch.core.windows.net//.default",)


async def test_token_is_refreshed_minutes_before_expiry_with_jitter() -> None:
    now = [1_000_000.0]
    credential = FakeCredential()

    async def get_token(*scopes: str, **kwargs: Any) -> Token:
        credential.calls.append((scopes, kwargs))
        return Token(f"token-{len(credential.calls)}", int(now[0] + 3600))

    credential.get_token = get_token  # type: ignore[method-assign]
    auth = TokenCredentialAuth(credential, rng=random.Random(1), clock=lambda: now[0])
    assert await auth.token() == "token-1"
    now[0] += 3600 - 360 - 1  # before margin + jitter: still cached
    assert await auth.token() == "token-1"
    now[0] += 362 - 300 + 1  # inside the 5-minute margin: refreshed
    assert await auth.token() == "token-2"
    assert len(credential.calls) == 2


async def test_short_lived_tokens_are_not_fetched_on_every_call() -> None:
    credential = FakeCredential(lifetime=60)
    auth = TokenCredentialAuth(credential)
    for _ in range(5):
        await auth.token()
    assert len(credential.calls) == 1


async def test_token_scope_is_configurable_for_other_clouds() -> None:
    credential = FakeCredential()
    router = respx.MockRouter(assert_all_called=False)
    route = router.get(url__startswith="https://acct.chinaeast.batch.chinacloudapi.cn/jobs").mock(
        return_value=httpx.Response(200, json={})
    )
    scope = "https://batch.chinacloudapi.cn/.default"
    async with BatchClient(
        "https://acct.chinaeast.batch.chinacloudapi.cn",
        credential,
        token_scope=scope,
        transport=httpx.MockTransport(router.async_handler),
    ) as client:
        await client._pipeline.send(BatchRequest("Jobs_ListJobs", "GET", "/jobs"))
    assert credential.calls[0][0] == (scope,)
    assert route.calls.last.request.headers["authorization"] == "Bearer token-1"


def _challenge(claims: str) -> str:
    encoded = base64.b64encode(claims.encode()).decode().rstrip("=")
    uri = "https://login.microsoftonline.com/x"
    return f'Bearer authorization_uri="{uri}", error="insufficient_claims", claims="{encoded}"'


async def test_claims_challenge_is_answered_once_with_a_claims_token() -> None:
    claims = '{"access_token":{"nbf":{"essential":true,"value":"1700000000"}}}'
    credential = FakeCredential()
    router = respx.MockRouter(assert_all_called=False)
    route = router.get(f"{HOST}/jobs/j1").mock(
        side_effect=[
            httpx.Response(401, headers={"WWW-Authenticate": _challenge(claims)}),
            httpx.Response(200, json={"id": "j1"}),
        ]
    )
    async with BatchClient(HOST, credential, transport=httpx.MockTransport(router.async_handler)) as client:
        response = await client._pipeline.send(BatchRequest("Jobs_GetJob", "GET", "/jobs/j1"))
    assert response.json() == {"id": "j1"}
    assert [call[1]["claims"] for call in credential.calls] == [None, claims]
    assert [c.request.headers["authorization"] for c in route.calls] == ["Bearer token-1", "Bearer token-2"]


async def test_a_second_claims_challenge_is_an_error() -> None:
    credential = FakeCredential()
    router = respx.MockRouter(assert_all_called=False)
    route = router.get(f"{HOST}/jobs/j1").mock(
        return_value=httpx.Response(
            401,
            headers={"WWW-Authenticate": _challenge('{"a":1}')},
            json={"code": "AuthenticationFailed", "message": {"value": "no"}},
        )
    )
    async with BatchClient(
        HOST, credential, transport=httpx.MockTransport(router.async_handler), retry=RetryPolicy()
    ) as client:
        with pytest.raises(AuthenticationError) as info:
            await client._pipeline.send(BatchRequest("Jobs_GetJob", "GET", "/jobs/j1"))
    assert route.call_count == 2
    assert info.value.code == "AuthenticationFailed"
    assert "token-" not in str(info.value)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ('Bearer realm="", error="invalid_token"', None),
        ('Basic realm="x", claims="eyJhIjoxfQ"', None),
        ('Bearer claims="eyJhIjoxfQ"', '{"a":1}'),
        ('Bearer claims="eyJhIjoxfQ=="', '{"a":1}'),
        ('Bearer claims="%%%"', None),
    ],
)
def test_claims_are_parsed_from_the_challenge(header: str | None, expected: str | None) -> None:
    assert claims_from_challenge(header) == expected


def test_tokens_are_refused_over_plain_http_even_when_http_is_allowed() -> None:
    with pytest.raises(ValidationError, match="https"):
        BatchClient("http://127.0.0.1:8000", FakeCredential(), allow_insecure_http=True)


async def test_token_auth_refuses_to_authorize_a_plain_http_request() -> None:
    auth = TokenCredentialAuth(FakeCredential())
    with pytest.raises(ValidationError):
        await auth.authorization("GET", "http://acct.batch.azure.com/jobs", {})


async def test_fifty_concurrent_claims_challenges_fetch_one_claims_token() -> None:
    claims = '{"access_token":{"nbf":{"essential":true,"value":"1700000000"}}}'
    credential = FakeCredential()
    router = respx.MockRouter(assert_all_called=False)

    def answer(request: httpx.Request) -> httpx.Response:
        if request.headers["authorization"] == "Bearer token-1":
            return httpx.Response(401, headers={"WWW-Authenticate": _challenge(claims)})
        return httpx.Response(200, json={})

    router.get(f"{HOST}/jobs/j1").mock(side_effect=answer)
    statuses: list[int] = []
    async with BatchClient(HOST, credential, transport=httpx.MockTransport(router.async_handler)) as client:

        async def one() -> None:
            response = await client._pipeline.send(BatchRequest("Jobs_GetJob", "GET", "/jobs/j1"))
            statuses.append(response.status_code)

        async with anyio.create_task_group() as group:
            for _ in range(50):
                group.start_soon(one)
    assert statuses == [200] * 50
    assert [call[1]["claims"] for call in credential.calls] == [None, claims]


async def test_concurrent_challenges_without_their_requests_fetch_once_per_claims_value() -> None:
    credential = FakeCredential()
    auth = TokenCredentialAuth(credential)
    first = {"www-authenticate": _challenge('{"a":1}')}
    second = {"www-authenticate": _challenge('{"b":2}')}
    async with anyio.create_task_group() as group:
        for _ in range(25):
            group.start_soon(auth.on_challenge, None, first)
    async with anyio.create_task_group() as group:
        for _ in range(25):
            group.start_soon(auth.on_challenge, None, second)
    assert [call[1]["claims"] for call in credential.calls] == ['{"a":1}', '{"b":2}']


async def test_a_plain_401_fetches_a_fresh_token_and_retries_once() -> None:
    credential = FakeCredential()
    router = respx.MockRouter(assert_all_called=False)
    route = router.get(f"{HOST}/jobs/j1").mock(
        side_effect=[
            httpx.Response(401, json={"code": "InvalidAuthenticationToken"}),
            httpx.Response(200, json={}),
        ]
    )
    async with BatchClient(HOST, credential, transport=httpx.MockTransport(router.async_handler)) as client:
        response = await client._pipeline.send(BatchRequest("Jobs_GetJob", "GET", "/jobs/j1"))
    assert response.status_code == 200
    assert [call[1]["claims"] for call in credential.calls] == [None, None]
    assert [c.request.headers["authorization"] for c in route.calls] == ["Bearer token-1", "Bearer token-2"]


async def test_a_second_plain_401_is_an_error() -> None:
    credential = FakeCredential()
    router = respx.MockRouter(assert_all_called=False)
    route = router.get(f"{HOST}/jobs/j1").mock(
        return_value=httpx.Response(401, json={"code": "InvalidAuthenticationToken"})
    )
    async with BatchClient(HOST, credential, transport=httpx.MockTransport(router.async_handler)) as client:
        with pytest.raises(AuthenticationError):
            await client._pipeline.send(BatchRequest("Jobs_GetJob", "GET", "/jobs/j1"))
    assert route.call_count == 2
    assert len(credential.calls) == 2


async def test_a_failed_refresh_keeps_a_token_with_enough_time_left(monkeypatch: pytest.MonkeyPatch) -> None:
    from batchaio import _constants

    now = [1_000_000.0]
    outcomes: list[Token | Exception] = [Token("token-1", int(now[0] + 600)), RuntimeError("idp down")]

    class Flaky:
        async def get_token(self, *scopes: str, **kwargs: Any) -> Token:
            outcome = outcomes.pop(0)
            if isinstance(outcome, Exception):
                raise outcome
            return outcome

    auth = TokenCredentialAuth(Flaky(), clock=lambda: now[0])
    assert await auth.token() == "token-1"
    now[0] += 500  # due for refresh, 100 s left
    monkeypatch.setattr(_constants, "TOKEN_MIN_REMAINING_AFTER_FAILED_REFRESH", 120.0)
    outcomes.append(RuntimeError("idp down"))
    with pytest.raises(CredentialError) as info:
        await auth.token()
    assert isinstance(info.value.__cause__, RuntimeError)
    monkeypatch.setattr(_constants, "TOKEN_MIN_REMAINING_AFTER_FAILED_REFRESH", 60.0)
    assert await auth.token() == "token-1"


@pytest.mark.parametrize("name", ["acct\n", "acct\r\n", "\nacct", "ac ct", "acct\x00"])
def test_account_names_with_control_characters_are_refused(name: str) -> None:
    with pytest.raises(ValidationError) as info:
        SharedKeyCredential(name, ZERO_KEY)
    assert info.value.field == "account_name"


async def test_a_credential_that_raises_is_wrapped_with_its_cause_and_nothing_is_sent() -> None:
    class Broken:
        async def get_token(self, *scopes: str, **kwargs: Any) -> Token:
            raise OSError("the identity endpoint at https://login.example/t?code=SECRET is down")

    router = respx.MockRouter(assert_all_called=False)
    route = router.get(f"{HOST}/jobs/j1").mock(return_value=httpx.Response(200, json={}))
    async with BatchClient(HOST, Broken(), transport=httpx.MockTransport(router.async_handler)) as client:
        with pytest.raises(CredentialError) as info:
            await client._pipeline.send(BatchRequest("Jobs_GetJob", "GET", "/jobs/j1"))
    assert isinstance(info.value.__cause__, OSError)
    assert "Broken" in str(info.value) and "SECRET" not in str(info.value)
    assert not route.called


async def test_the_client_does_not_close_a_credential_it_was_given() -> None:
    class Closable(FakeCredential):
        closed = False

        async def close(self) -> None:
            self.closed = True

    credential = Closable()
    async with BatchClient(HOST, credential):
        pass
    assert credential.closed is False
