"""HTTPS and Entra tokens: the emulator over TLS, driven by batchaio and by Microsoft's azure-batch."""

from __future__ import annotations

import base64
import os
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from batchaio import BatchClient, models
from batchaio.emulator import Emulator
from batchaio.emulator._auth import check_bearer_token
from batchaio.emulator._tls import generate_self_signed
from batchaio.emulator._wire import ServiceError

AUDIENCE = "https://batch.core.windows.net/"


def unsigned_jwt(**claims: Any) -> str:
    """A test JWT with ``alg: none`` (header.payload. with an empty signature)."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(orjson.dumps(value)).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


class FakeToken:
    def __init__(self, token: str, expires_on: int) -> None:
        self.token = token
        self.expires_on = expires_on


class AsyncTestCredential:
    """An ``azure.identity.aio``-shaped credential handing out unsigned JWTs for the scope's resource."""

    def __init__(self) -> None:
        self.scopes: list[str] = []

    async def get_token(self, *scopes: str, **kwargs: Any) -> FakeToken:
        self.scopes.extend(scopes)
        audience = scopes[0].removesuffix(".default")
        expires = int(time.time()) + 3600
        return FakeToken(unsigned_jwt(aud=audience, exp=expires), expires)


class SyncTestCredential:
    """An ``azure.core`` ``TokenCredential`` handing out unsigned JWTs (for Microsoft's azure-batch)."""

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        expires = int(time.time()) + 3600
        return AccessToken(unsigned_jwt(aud=scopes[0].removesuffix(".default"), exp=expires), expires)


@pytest.fixture
def tls_emulator() -> Iterator[Emulator]:
    emulator = Emulator(tls=True, allow_bearer=True, bearer_audience=AUDIENCE, task_duration=(0.01, 0.02))
    emulator.start()
    yield emulator
    emulator.close()


def test_generated_certificate_is_trusted_for_loopback_only_through_its_own_file(tmp_path: Path) -> None:
    """The certificate names localhost, 127.0.0.1 and ::1; a client trusting that file verifies it."""
    files = generate_self_signed(tmp_path)
    from cryptography import x509

    certificate = x509.load_pem_x509_certificate(files.cert_file.read_bytes())
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert {str(ip) for ip in names.get_values_for_type(x509.IPAddress)} >= {"127.0.0.1", "::1"}
    assert oct(files.key_file.stat().st_mode & 0o777) == "0o600"
    files.client_context()  # loads as a trust anchor


async def test_batchaio_with_an_entra_token_over_tls(tls_emulator: Emulator) -> None:
    """BatchClient sends Entra tokens only over https; the emulator accepts them there, for its audience."""
    assert tls_emulator.endpoint is not None and tls_emulator.endpoint.startswith("https://127.0.0.1:")
    assert tls_emulator.tls is not None
    credential = AsyncTestCredential()
    transport = httpx.AsyncHTTPTransport(verify=tls_emulator.tls.client_context())
    async with BatchClient(tls_emulator.endpoint, credential, transport=transport) as client:
        await client.pools.create(models.BatchPoolCreateContent(id="p", vm_size="standard_d2s_v3"))
        assert (await client.pools.get("p")).id == "p"
    assert credential.scopes == ["https://batch.core.windows.net//.default"]


async def test_untrusted_certificate_is_refused(tls_emulator: Emulator) -> None:
    """Without trusting the emulator's certificate the TLS handshake fails (nothing is sent)."""
    assert tls_emulator.endpoint is not None
    async with httpx.AsyncClient(verify=ssl.create_default_context()) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"{tls_emulator.endpoint}/pools?api-version=2024-07-01.20.0")


async def test_a_token_for_another_audience_is_refused(tls_emulator: Emulator) -> None:
    """With ``bearer_audience`` set, a token requested for another resource is answered 403
    ``AuthenticationFailed`` (as the service answers a token of the wrong audience)."""
    assert tls_emulator.endpoint is not None and tls_emulator.tls is not None
    wrong = unsigned_jwt(aud="https://management.azure.com/", exp=int(time.time()) + 60)
    async with httpx.AsyncClient(verify=tls_emulator.tls.client_context()) as client:
        url = f"{tls_emulator.endpoint}/pools?api-version=2024-07-01.20.0"
        refused = await client.get(url, headers={"Authorization": f"Bearer {wrong}"})
        assert refused.status_code == 403 and refused.json()["code"] == "AuthenticationFailed"
        right = unsigned_jwt(aud=AUDIENCE.rstrip("/"), exp=int(time.time()) + 60)
        assert (await client.get(url, headers={"Authorization": f"Bearer {right}"})).status_code == 200


@pytest.mark.parametrize(
    "token",
    [
        "not-a-jwt",
        unsigned_jwt(aud="https://batch.core.windows.net/", exp=1),
        unsigned_jwt(aud="https://batch.core.windows.net/", nbf=time.time() + 3600),
        unsigned_jwt(aud=["https://storage.azure.com/"]),
    ],
)
def test_check_bearer_token_refuses_malformed_expired_early_and_foreign_tokens(token: str) -> None:
    with pytest.raises(ServiceError):
        check_bearer_token(token, AUDIENCE, time.time())


def test_microsoft_azure_batch_over_tls_with_a_token_credential(tls_emulator: Emulator) -> None:
    """Microsoft's azure-batch 15.0.0b2 with a ``TokenCredential`` (its bearer policy insists on https)."""
    pytest.importorskip("azure.batch")
    from azure.batch import BatchClient as AzureBatchClient
    from azure.batch import models as azure_models

    assert tls_emulator.endpoint is not None and tls_emulator.tls is not None
    client = AzureBatchClient(
        tls_emulator.endpoint, SyncTestCredential(), connection_verify=str(tls_emulator.tls.cert_file)
    )
    client.create_pool(
        azure_models.BatchPoolCreateContent(id="p", vm_size="standard_d2s_v3", target_dedicated_nodes=1)
    )
    client.create_job(
        azure_models.BatchJobCreateContent(id="j", pool_info=azure_models.BatchPoolInfo(pool_id="p"))
    )
    client.create_task("j", azure_models.BatchTaskCreateContent(id="t", command_line="echo over tls"))
    for _ in range(200):
        if client.get_task("j", "t").state == azure_models.BatchTaskState.COMPLETED:
            break
        time.sleep(0.02)
    assert b"".join(client.get_task_file("j", "t", "stdout.txt")) == b"over tls\n"


def test_cli_tls_prints_the_certificate_and_how_to_trust_it() -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "batchaio.emulator", "--port", "0", "--tls", "--allow-bearer"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None and process.stderr is not None
        lines = dict(process.stdout.readline().strip().split("=", 1) for _ in range(4))
        assert lines["BATCH_ENDPOINT"].startswith("https://127.0.0.1:")
        ca_file = lines["BATCH_EMULATOR_CA_FILE"]
        assert "SSL_CERT_FILE=" in process.stderr.readline() + process.stderr.readline()
        token = unsigned_jwt(aud=AUDIENCE)
        for _ in range(100):
            try:
                response = httpx.get(
                    f"{lines['BATCH_ENDPOINT']}/pools?api-version=2024-07-01.20.0",
                    headers={"Authorization": f"Bearer {token}"},
                    verify=ssl.create_default_context(cafile=ca_file),
                )
                break
            except httpx.ConnectError:
                time.sleep(0.05)
        assert response.status_code == 200
    finally:
        process.terminate()
        process.wait(10)
    assert not Path(ca_file).exists()


async def test_asyncio_serve_over_tls_with_given_files(tmp_path: Path) -> None:
    """``cert_file``/``key_file`` serve HTTPS with your own certificate (kept after ``close()``)."""
    files = generate_self_signed(tmp_path)
    emulator = Emulator(cert_file=files.cert_file, key_file=files.key_file, require_auth=False)
    async with (
        emulator.serve() as endpoint,
        httpx.AsyncClient(verify=files.client_context()) as client,
    ):
        assert endpoint.startswith("https://")
        assert (await client.get(f"{endpoint}/pools?api-version=2024-07-01.20.0")).status_code == 200
    emulator.close()
    assert files.cert_file.exists()
    with pytest.raises(ValueError, match="go together"):
        Emulator(cert_file=files.cert_file)
