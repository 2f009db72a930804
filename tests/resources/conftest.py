"""A BatchClient on a respx-mocked endpoint, with retries that do not wait."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import pytest
import respx

from batchaio._client import BatchClient
from batchaio._retry import RetryPolicy
from batchaio.auth import SharedKeyCredential

ENDPOINT = "https://acct.westeurope.batch.azure.com"


@pytest.fixture
async def client() -> AsyncIterator[BatchClient]:
    credential = SharedKeyCredential("acct", base64.b64encode(b"k" * 32).decode())
    async with BatchClient(
        ENDPOINT, credential, retry=RetryPolicy(max_attempts=3, backoff_base=0.0, backoff_cap=0.0)
    ) as batch:
        yield batch


@pytest.fixture
def mock() -> respx.MockRouter:
    with respx.mock(base_url=ENDPOINT, assert_all_called=False) as router:
        yield router
