"""Where the command line connects and how it signs in: options or environment, http only on loopback."""

from __future__ import annotations

import sys
import types
from typing import Any

import pytest

from batchaio.cli._errors import CliError
from batchaio.cli._settings import Settings, is_loopback, open_client, resolve_settings

KEY = "a2V5LWZvci10ZXN0cw=="


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("LOCALHOST", True),
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("10.0.0.1", False),
        ("example.com", False),
        ("localhost.example.com", False),
        ("0.0.0.0", False),
    ],
)
def test_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize(
    ("endpoint", "account", "key", "auth", "expected"),
    [
        (
            "http://127.0.0.1:8765",
            "emulator",
            KEY,
            "shared-key",
            Settings("http://127.0.0.1:8765", "shared-key", "emulator", KEY, insecure_http=True),
        ),
        (
            "https://acct.westeurope.batch.azure.com",
            None,
            KEY,
            "shared-key",
            Settings("https://acct.westeurope.batch.azure.com", "shared-key", "acct", KEY),
        ),
        (
            "https://acct.westeurope.batch.azure.com",
            "other",
            KEY,
            "shared-key",
            Settings("https://acct.westeurope.batch.azure.com", "shared-key", "other", KEY),
        ),
        (
            "https://acct.westeurope.batch.azure.com",
            None,
            None,
            "entra",
            Settings("https://acct.westeurope.batch.azure.com", "entra"),
        ),
        (
            "http://[::1]:9",
            "a",
            KEY,
            "shared-key",
            Settings("http://[::1]:9", "shared-key", "a", KEY, insecure_http=True),
        ),
    ],
)
def test_resolved(endpoint: str, account: str | None, key: str | None, auth: Any, expected: Settings) -> None:
    assert resolve_settings(endpoint, account, key, auth) == expected


@pytest.mark.parametrize(
    ("endpoint", "account", "key", "auth", "message"),
    [
        (None, "a", KEY, "shared-key", "no endpoint: give --endpoint or set BATCH_ENDPOINT"),
        ("", "a", KEY, "shared-key", "no endpoint"),
        ("ftp://127.0.0.1", "a", KEY, "shared-key", "is not an http(s) URL"),
        ("127.0.0.1:8765", "a", KEY, "shared-key", "is not an http(s) URL"),
        ("http://acct.westeurope.batch.azure.com", "a", KEY, "shared-key", "only allowed for loopback hosts"),
        ("http://10.1.2.3:8765", "a", KEY, "shared-key", "only allowed for loopback hosts"),
        (
            "http://127.0.0.1:8765",
            None,
            KEY,
            "shared-key",
            "needs an account name (--account or BATCH_ACCOUNT_NAME)",
        ),
        ("http://127.0.0.1:8765", "a", None, "shared-key", "needs a key (--key or BATCH_ACCOUNT_KEY)"),
        (
            "https://example.com",
            None,
            None,
            "shared-key",
            "an account name (--account or BATCH_ACCOUNT_NAME) and a key",
        ),
        ("http://127.0.0.1:8765", None, None, "entra", "only sent over https"),
    ],
)
def test_refused(endpoint: str | None, account: str | None, key: str | None, auth: Any, message: str) -> None:
    with pytest.raises(CliError) as caught:
        resolve_settings(endpoint, account, key, auth)
    assert message in str(caught.value)
    assert caught.value.exit_code == 2


def test_the_key_is_not_in_the_settings_repr() -> None:
    settings = resolve_settings("http://127.0.0.1:1", "a", KEY, "shared-key")
    assert KEY not in repr(settings)


async def test_entra_without_azure_identity_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "azure.identity.aio", None)  # import fails
    settings = resolve_settings("https://acct.westeurope.batch.azure.com", None, None, "entra")
    with pytest.raises(CliError, match="pip install azure-identity"):
        async with open_client(settings):
            pass


async def test_entra_uses_default_azure_credential_and_closes_it(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[Any] = []

    class FakeCredential:
        closed = False

        def __init__(self) -> None:
            made.append(self)

        async def get_token(self, *scopes: str, **kwargs: Any) -> Any:
            raise AssertionError("no request is made in this test")

        async def close(self) -> None:
            self.closed = True

    module = types.ModuleType("azure.identity.aio")
    module.DefaultAzureCredential = FakeCredential  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "azure.identity.aio", module)
    settings = resolve_settings("https://acct.westeurope.batch.azure.com", None, None, "entra")
    async with open_client(settings) as client:
        assert client.credential is made[0]
    assert made[0].closed
