"""Fixtures for the emulator's own tests: an emulator and an httpx client signing with Shared Key."""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator
from email.utils import formatdate

import httpx
import pytest

from batchaio._shared_key import shared_key_signature
from batchaio.emulator import Emulator
from batchaio.emulator.pytest_plugin import batch_emulator, batch_emulator_credentials  # noqa: F401

API = "2024-07-01.20.0"


class SharedKeyAuth(httpx.Auth):
    """Signs every request as the Batch service expects (fresh ocp-date, Content-Length 0 on empty bodies)."""

    def __init__(self, account: str, key: str, *, add_api_version: bool = True) -> None:
        self.account = account
        self.key = key
        self.add_api_version = add_api_version

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self.add_api_version and "api-version" not in request.url.params:
            request.url = request.url.copy_add_param("api-version", API)
        request.headers["ocp-date"] = formatdate(usegmt=True)
        if request.method not in ("GET", "HEAD") and "content-length" not in request.headers:
            request.headers["Content-Length"] = "0"
        request.headers["Authorization"] = shared_key_signature(
            request.method, str(request.url), request.headers, self.account, self.key
        )
        yield request


def make_client(emu: Emulator, base_url: str = "http://emulator.local") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=emu.app) if not base_url.startswith("http://127.") else None
    return httpx.AsyncClient(
        transport=transport,
        base_url=base_url,
        auth=SharedKeyAuth(emu.account, emu.key),
    )


@pytest.fixture
def emu() -> Generator[Emulator, None, None]:
    emulator = Emulator(task_duration=(0.01, 0.03), delete_delay=0.05, seed=1)
    yield emulator
    emulator.close()


@pytest.fixture
async def client(emu: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(emu) as http:
        yield http
