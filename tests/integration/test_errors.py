"""How service errors reach the caller over HTTP: classes, Batch error codes, request ids, authentication."""

from __future__ import annotations

import pytest

from batchaio import (
    AuthenticationError,
    BatchClient,
    ConflictError,
    NotFoundError,
    PreconditionFailedError,
    models,
)
from batchaio.emulator import Emulator

from .conftest import POOL_ID, connect

pytestmark = pytest.mark.integration


async def test_missing_job_is_not_found_with_code_and_request_ids(client: BatchClient) -> None:
    with pytest.raises(NotFoundError) as caught:
        await client.jobs.get("no-such-job", client_request_id="3f2c0e4a-0000-4000-8000-000000000001")
    error = caught.value
    assert (error.status_code, error.code) == (404, "JobNotFound")
    assert error.message
    assert error.request_id
    assert error.client_request_id == "3f2c0e4a-0000-4000-8000-000000000001"
    assert "JobNotFound" in str(error)


async def test_existing_job_is_a_conflict(client: BatchClient, job_id: str) -> None:
    with pytest.raises(ConflictError) as caught:
        await client.jobs.create(
            models.BatchJobCreateContent(id=job_id, pool_info=models.BatchPoolInfo(pool_id=POOL_ID))
        )
    assert (caught.value.status_code, caught.value.code) == (409, "JobExists")
    assert caught.value.request_id


async def test_stale_if_match_is_a_failed_precondition(client: BatchClient, job_id: str) -> None:
    before = await client.jobs.get(job_id)
    updated = await client.jobs.update(job_id, models.BatchJobUpdateContent(priority=5))
    assert updated.etag and updated.etag != before.e_tag

    with pytest.raises(PreconditionFailedError) as caught:
        await client.jobs.update(job_id, models.BatchJobUpdateContent(priority=6), if_match=before.e_tag)
    assert caught.value.status_code == 412
    assert caught.value.code == "ConditionNotMet"
    assert (await client.jobs.get(job_id)).priority == 5

    await client.jobs.update(job_id, models.BatchJobUpdateContent(priority=7), if_match=updated.etag)
    assert (await client.jobs.get(job_id)).priority == 7


async def test_wrong_key_is_an_authentication_error_without_the_key(emulator: Emulator) -> None:
    wrong_key = "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXk="
    async with connect(emulator, key=wrong_key) as client:
        with pytest.raises(AuthenticationError) as caught:
            await client.pools.exists("anything")
        with pytest.raises(AuthenticationError) as caught_get:
            await client.jobs.get("anything")
    assert caught.value.status_code == 403
    assert caught_get.value.status_code == 403
    assert caught_get.value.code == "AuthenticationFailed"
    assert wrong_key not in str(caught_get.value) + repr(caught_get.value)
