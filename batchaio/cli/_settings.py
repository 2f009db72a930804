"""Where the command line connects and how it signs in: options, or the environment variables the emulator
prints (``BATCH_ENDPOINT``, ``BATCH_ACCOUNT_NAME``, ``BATCH_ACCOUNT_KEY``).

:func:`resolve_settings` decides (pure); :func:`open_client` makes the client (thin).
"""

from __future__ import annotations

import contextlib
import importlib
import ipaddress
import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal

from batchaio._client import ENV_ACCOUNT_KEY, ENV_ACCOUNT_NAME, ENV_ENDPOINT, BatchClient
from batchaio.auth import SharedKeyCredential
from batchaio.cli._errors import CliError

__all__ = ["Auth", "Settings", "is_loopback", "open_client", "resolve_settings"]

Auth = Literal["shared-key", "entra"]
# The variables BatchClient.from_env() reads and the emulator prints.
ENDPOINT_VARIABLE = ENV_ENDPOINT
ACCOUNT_VARIABLE = ENV_ACCOUNT_NAME
KEY_VARIABLE = ENV_ACCOUNT_KEY
# Batch account hosts are <account>.<region>.batch.<cloud domain>: the account name is the first label.
_BATCH_HOST_MARKER = ".batch."


@dataclass(frozen=True)
class Settings:
    """A resolved connection: endpoint, how to authenticate, and whether plain http is allowed (loopback)."""

    endpoint: str
    auth: Auth
    account: str | None = None
    key: str | None = field(default=None, repr=False)
    insecure_http: bool = False


def is_loopback(host: str) -> bool:
    """``localhost``, ``127.x.x.x`` and ``::1``: the only hosts plain http may be used with."""
    host = host.strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _account_from_host(host: str) -> str | None:
    if _BATCH_HOST_MARKER in host.lower():
        return host.split(".", 1)[0] or None
    return None


def _check_endpoint(endpoint: str | None) -> tuple[str, str, bool]:
    """``(endpoint, host, plain http)`` of an http(s) URL; plain http only to a loopback host."""
    if not endpoint:
        raise CliError(
            f"no endpoint: give --endpoint or set {ENDPOINT_VARIABLE} "
            "(python -m batchaio.emulator prints the variables of a local emulator)"
        )
    parts = urllib.parse.urlsplit(endpoint)
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not host:
        raise CliError(
            f"--endpoint {endpoint!r} is not an http(s) URL such as https://acct.region.batch.azure.com"
        )
    insecure = parts.scheme == "http"
    if insecure and not is_loopback(host):
        raise CliError(
            f"--endpoint {endpoint!r}: plain http:// is only allowed for loopback hosts (a local emulator); "
            "use https://"
        )
    return endpoint, host, insecure


def resolve_settings(endpoint: str | None, account: str | None, key: str | None, auth: Auth) -> Settings:
    """Check the options (or environment) and decide how to connect; :class:`CliError` says what is amiss."""
    endpoint, host, insecure = _check_endpoint(endpoint)
    if auth == "entra":
        if insecure:
            raise CliError("--auth entra sends Microsoft Entra tokens, which are only sent over https://")
        return Settings(endpoint=endpoint, auth=auth)
    account = account or _account_from_host(host)
    missing = [
        f"an account name (--account or {ACCOUNT_VARIABLE})" if not account else "",
        f"a key (--key or {KEY_VARIABLE})" if not key else "",
    ]
    if any(missing):
        raise CliError(f"Shared Key needs {' and '.join(m for m in missing if m)}, or use --auth entra")
    return Settings(endpoint=endpoint, auth=auth, account=account, key=key, insecure_http=insecure)


def _entra_credential() -> Any:
    try:
        identity = importlib.import_module("azure.identity.aio")
    except ImportError:
        raise CliError(
            "--auth entra needs azure-identity: pip install azure-identity (then sign in with az login, a "
            "managed identity or the AZURE_* environment variables)"
        ) from None
    return identity.DefaultAzureCredential()


@contextlib.asynccontextmanager
async def open_client(settings: Settings) -> AsyncIterator[BatchClient]:
    """A client for ``settings``; an Entra credential made here is closed here too."""
    if settings.auth == "entra":
        credential = _entra_credential()
        try:
            async with BatchClient(settings.endpoint, credential) as client:
                yield client
        finally:
            close = getattr(credential, "close", None)
            if close is not None:
                await close()
        return
    assert settings.account is not None and settings.key is not None
    shared_key = SharedKeyCredential(settings.account, settings.key)
    async with BatchClient(
        settings.endpoint, shared_key, allow_insecure_http=settings.insecure_http
    ) as client:
        yield client
