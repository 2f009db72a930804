"""``tasks.watch`` driven through respx: a listing that reports a completion late, ties split across
listings, throttling that outlasts the client's retries, what each request asks for."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
import respx

from batchaio import BatchClient, NotFoundError, RetryPolicy, SharedKeyCredential
from batchaio.emulator._odata import parse_filter

ENDPOINT = "https://acct.westeurope.batch.azure.com"
T0 = datetime(2024, 7, 1, 12, 0, 0, tzinfo=timezone.utc)


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


@pytest.fixture
async def client() -> AsyncIterator[BatchClient]:
    credential = SharedKeyCredential("acct", base64.b64encode(b"k" * 32).decode())
    async with BatchClient(ENDPOINT, credential, retry=RetryPolicy.no_retries()) as batch:
        yield batch


class FakeJob:
    """A job whose tasks, counts and clock follow a script of rounds: round ``r`` is what the service shows
    at its ``r``-th task-counts poll (the listings after that poll see the same round)."""

    def __init__(self, rounds: list[dict[str, Any]]) -> None:
        self.rounds = rounds
        self.round = -1
        self.filters: list[str] = []
        self.selects: list[str | None] = []
        self.bodies_read = 0

    def counts(self, request: httpx.Request) -> httpx.Response:
        self.round = min(self.round + 1, len(self.rounds) - 1)
        current = self.rounds[self.round]
        if current.get("throttle"):
            return httpx.Response(429, headers={"Retry-After": "0.01"}, json={"code": "TooManyRequests"})
        tasks = current["tasks"]
        done = [t for t in tasks if t["state"] == "completed"]
        counts = {
            "active": sum(t["state"] == "active" for t in tasks),
            "running": sum(t["state"] == "running" for t in tasks),
            "completed": len(done),
            "succeeded": len(done),
            "failed": 0,
        }
        slots = dict.fromkeys(counts, 0)
        date = format_datetime(T0 + timedelta(seconds=current["clock"]), usegmt=True)
        return httpx.Response(
            200, headers={"Date": date}, json={"taskCounts": counts, "taskSlotCounts": slots}
        )

    def listing(self, request: httpx.Request) -> httpx.Response:
        flt = request.url.params.get("$filter", "")
        self.filters.append(flt)
        self.selects.append(request.url.params.get("$select"))
        visible = self.rounds[self.round]["tasks"]
        predicate = parse_filter(flt) if flt else (lambda item: True)
        value = [t for t in visible if predicate(t)]
        if "maxresults" in request.url.params and flt.startswith("state ne"):
            value = value[:1]
        elif "state ne" not in flt:
            self.bodies_read += len(value)
        return httpx.Response(200, json={"value": value})


def completed(task_id: str, seconds: float) -> dict[str, Any]:
    return {"id": task_id, "state": "completed", "stateTransitionTime": at(seconds)}


def running(task_id: str) -> dict[str, Any]:
    return {"id": task_id, "state": "running", "stateTransitionTime": at(0)}


def mock(job: FakeJob) -> respx.MockRouter:
    router = respx.mock(base_url=ENDPOINT, assert_all_called=False)
    router.get("/jobs/j/taskcounts").mock(side_effect=job.counts)
    router.get("/jobs/j/tasks").mock(side_effect=job.listing)
    return router


async def watched(client: BatchClient, **options: Any) -> list[str]:
    return [task.id or "" async for task in client.tasks.watch("j", poll_interval=0.001, **options)]


async def test_a_completion_reported_late_within_the_overlap_is_yielded(client: BatchClient) -> None:
    """ "b" completes at 11 s but the service lists it only from the third round, after "c" at 14 s was
    listed and the watermark passed 11 s: the overlap (5 s) brings it back."""
    job = FakeJob(
        [
            {"clock": 10, "tasks": [completed("a", 9), running("b"), running("c"), running("d")]},
            {"clock": 15, "tasks": [completed("a", 9), running("b"), completed("c", 14), running("d")]},
            {"clock": 16, "tasks": [completed("a", 9), completed("b", 11), completed("c", 14), running("d")]},
            {
                "clock": 20,
                "tasks": [completed("a", 9), completed("b", 11), completed("c", 14), completed("d", 19)],
            },
        ]
    )
    with mock(job):
        assert await watched(client) == ["a", "c", "b", "d"]
    assert job.filters[0] == "state eq 'completed'"
    assert (
        "stateTransitionTime ge datetime'2024-07-01T12:00:04Z'" in job.filters[1]
    )  # watermark 9 s, minus 5 s


async def test_a_completion_reported_later_than_the_overlap_is_missed_by_design(client: BatchClient) -> None:
    job = FakeJob(
        [
            {"clock": 30, "tasks": [running("b"), completed("c", 29), running("d")]},
            {"clock": 31, "tasks": [completed("b", 11), completed("c", 29), completed("d", 30)]},
        ]
    )
    with mock(job):
        assert await watched(client, overlap=5) == ["c", "d"]
    with mock(FakeJob(job.rounds)):
        assert await watched(client, overlap=30) == ["c", "b", "d"]


async def test_ties_with_the_watermark_are_listed_again_and_yielded_once(client: BatchClient) -> None:
    job = FakeJob(
        [
            {"clock": 11, "tasks": [completed("a", 10), running("b"), running("c")]},
            {"clock": 12, "tasks": [completed("a", 10), completed("b", 10), running("c")]},
            {"clock": 13, "tasks": [completed("a", 10), completed("b", 10), completed("c", 10)]},
        ]
    )
    with mock(job):
        assert await watched(client, overlap=0) == ["a", "b", "c"]
    later = [flt for flt in job.filters if flt.startswith("(state eq")]
    assert later and all("ge datetime'2024-07-01T12:00:10Z'" in flt for flt in later)


async def test_the_watch_lists_only_when_the_counts_moved(client: BatchClient) -> None:
    still = {"clock": 10, "tasks": [completed("a", 9), running("b")]}
    job = FakeJob(
        [still, still, still, still, {"clock": 20, "tasks": [completed("a", 9), completed("b", 19)]}]
    )
    with mock(job):
        assert await watched(client) == ["a", "b"]
    listings = [flt for flt in job.filters if flt.startswith("(state eq") or flt == "state eq 'completed'"]
    assert (
        len(listings) == 2
    )  # the first listing and the final one; three polls without movement listed nothing
    assert job.bodies_read == 3


async def test_throttling_that_outlasts_the_retries_waits_and_polls_again(client: BatchClient) -> None:
    job = FakeJob(
        [
            {"clock": 10, "tasks": [completed("a", 9), running("b")]},
            {"throttle": True},
            {"throttle": True},
            {"clock": 20, "tasks": [completed("a", 9), completed("b", 19)]},
        ]
    )
    with mock(job):
        assert await watched(client) == ["a", "b"]


async def test_select_adds_what_the_watch_needs(client: BatchClient) -> None:
    job = FakeJob([{"clock": 10, "tasks": [completed("a", 9)]}])
    with mock(job):
        assert await watched(client, select=["executionInfo"]) == ["a"]
    assert job.selects[-1] == "executionInfo,id,state,stateTransitionTime"


async def test_other_errors_are_raised(client: BatchClient) -> None:
    with respx.mock(base_url=ENDPOINT) as router:
        router.get("/jobs/nope/taskcounts").respond(
            404, json={"code": "JobNotFound", "message": {"lang": "en-US", "value": "no such job"}}
        )
        with pytest.raises(NotFoundError):
            async for _ in client.tasks.watch("nope", poll_interval=0.001):
                pass
