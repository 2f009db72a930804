"""A scripted stand-in for ``addtaskcollection`` that records every task it creates.

Faults are decided by a seeded generator keyed on the request's content and how often that content was seen,
so a run is reproducible whatever order concurrent requests arrive in.
"""

from __future__ import annotations

import random
import zlib
from collections import Counter
from collections.abc import Iterator
from typing import Any

import attrs
import httpx
import orjson

from batchaio import _bulk
from batchaio._bulk_options import BulkOptions
from batchaio._bulk_report import BulkAddReport
from batchaio._bulk_stream import BulkAddStream
from batchaio.errors import OutcomeUnknownError, error_class_for_status
from batchaio.models import BatchTaskCreateContent


async def add_many(send: _bulk.SendChunk, tasks: _bulk.TaskSource, **options: Any) -> BulkAddReport:
    """The engine's ``add_many`` with the options given as keywords (checked by :class:`BulkOptions`)."""
    return await _bulk.add_many(send, tasks, BulkOptions(**options))


def iter_add(send: _bulk.SendChunk, tasks: _bulk.TaskSource, **options: Any) -> BulkAddStream:
    """The engine's ``iter_add`` with the options given as keywords."""
    return _bulk.iter_add(send, tasks, BulkOptions(**options))


def make_tasks(count: int, prefix: str = "task") -> Iterator[BatchTaskCreateContent]:
    for number in range(count):
        yield BatchTaskCreateContent(id=f"{prefix}-{number}", command_line=f"echo {number}")


@attrs.define
class Faults:
    """Probabilities of each fault, per request (``server_error`` per task)."""

    busy_with_retry_after: float = 0.0  # 503 ServerBusy, Retry-After: 1
    throttled_no_retry_after: float = 0.0  # 429 without Retry-After
    reset_before_apply: float = 0.0
    reset_after_apply: float = 0.0
    server_error: float = 0.0  # per task: servererror result
    server_error_after_apply: float = 0.5  # of those, the share where the task was created anyway


class Reset(Exception):
    """The connection dropped; ``applied`` says whether the server had processed the request."""

    def __init__(self, applied: bool) -> None:
        super().__init__("connection reset")
        self.applied = applied


@attrs.define
class ErrorStatus(Exception):
    status: int
    code: str
    headers: dict[str, str] = attrs.field(factory=dict)


class FakeBatchService:
    """Applies ``{"value": [...]}`` bodies to an in-memory job, with seeded faults."""

    def __init__(self, faults: Faults | None = None, *, seed: int = 0, max_body: int = 1_048_576) -> None:
        self.faults = faults or Faults()
        self.seed = seed
        self.max_body = max_body
        self.tasks: dict[str, dict[str, Any]] = {}  # lower-cased id -> task as created
        self.creations: Counter[str] = Counter()  # lower-cased id -> times created (must stay 1)
        self.seen: Counter[bytes] = Counter()
        self.sent_ids: set[str] = set()
        self.requests = 0
        self.statuses: Counter[int] = Counter()
        # Per task ID, actions for its next attempts: "omit" (create, leave out of the results),
        # "servererror", "clienterror", "status:<text>" (create, answer that status), "busy" (503 for the
        # whole request).
        self.scripts: dict[str, list[str]] = {}

    def _rng(self, body: bytes) -> random.Random:
        self.seen[body] += 1
        return random.Random(f"{self.seed}:{zlib.crc32(body)}:{self.seen[body]}")

    def handle(self, body: bytes) -> bytes:
        """Process one request body; return the 200 content or raise :class:`Reset` / :class:`ErrorStatus`."""
        self.requests += 1
        if len(body) > self.max_body:
            raise ErrorStatus(413, "RequestBodyTooLarge")
        tasks = orjson.loads(body)["value"]
        assert 1 <= len(tasks) <= 100, len(tasks)
        for task in tasks:
            self.sent_ids.add(task["id"])
        rng = self._rng(body)
        for task in tasks:
            script = self.scripts.get(task["id"])
            if script and script[0] == "busy":
                script.pop(0)
                raise ErrorStatus(503, "ServerBusy")
        faults = self.faults
        roll = rng.random()
        if roll < faults.busy_with_retry_after:
            raise ErrorStatus(503, "ServerBusy", {"Retry-After": "1"})
        roll -= faults.busy_with_retry_after
        if roll < faults.throttled_no_retry_after:
            raise ErrorStatus(429, "TooManyRequests")
        roll -= faults.throttled_no_retry_after
        if roll < faults.reset_before_apply:
            raise Reset(applied=False)
        roll -= faults.reset_before_apply
        reset_after = roll < faults.reset_after_apply
        results = [result for task in tasks if (result := self._apply(task, rng)) is not None]
        if reset_after:
            raise Reset(applied=True)
        rng.shuffle(results)
        return orjson.dumps({"odata.metadata": "https://x/$metadata#taskaddresult", "value": results})

    def _apply(self, task: dict[str, Any], rng: random.Random) -> dict[str, Any] | None:
        task_id: str = task["id"]
        key = task_id.lower()
        script = self.scripts.get(task_id)
        action = script.pop(0) if script else None
        if action == "omit":
            self._create(key, task)
            return None
        if action == "servererror":
            return _error_result(task_id, "servererror", "InternalError", "try again")
        if action == "clienterror":
            result = _error_result(task_id, "clienterror", "InvalidPropertyValue", "commandLine is bad")
            result["error"]["values"] = [{"key": "PropertyName", "value": "commandLine"}]
            return result
        if action is not None and action.startswith("status:"):
            self._create(key, task)
            return {"status": action.removeprefix("status:"), "taskId": task_id}
        if rng.random() < self.faults.server_error:
            if rng.random() < self.faults.server_error_after_apply and key not in self.tasks:
                self._create(key, task)
            return _error_result(task_id, "servererror", "InternalError", "try again")
        if key in self.tasks:
            return _error_result(task_id, "ClientError", "TaskExists", "The specified task already exists.")
        self._create(key, task)
        return {
            "status": "Success",
            "taskId": task_id,
            "eTag": "0x8DC9B2F8F1E5A3C",
            "lastModified": "2024-07-01T10:15:30.1234567Z",
            "location": f"https://acct.region.batch.azure.com/jobs/job-1/tasks/{task_id}",
        }

    def _create(self, key: str, task: dict[str, Any]) -> None:
        self.tasks[key] = task
        self.creations[key] += 1

    # --- adapters ------------------------------------------------------------------------------------------

    async def send_chunk(self, body: bytes) -> bytes:
        """The engine's ``SendChunk``: errors raised as batchaio exceptions."""
        try:
            return self.handle(body)
        except Reset:
            # Before or after the server applied it, a reset after sending looks the same to the client.
            raise OutcomeUnknownError("connection reset by peer", attempts=1) from None
        except ErrorStatus as error:
            self.statuses[error.status] += 1
            retry_after = float(error.headers["Retry-After"]) if "Retry-After" in error.headers else None
            cls = error_class_for_status(error.status)
            raise cls(error.status, code=error.code, message="fake", retry_after=retry_after) from None

    def http_handler(self, request: httpx.Request) -> httpx.Response:
        """An httpx handler (for respx or ``httpx.MockTransport``): resets become ``httpx.ReadError``."""
        assert request.url.path.endswith("/addtaskcollection"), request.url.path
        try:
            content = self.handle(request.content)
        except Reset:
            raise httpx.ReadError("connection reset by peer", request=request) from None
        except ErrorStatus as error:
            self.statuses[error.status] += 1
            body = {"code": error.code, "message": {"lang": "en-US", "value": "fake"}}
            return httpx.Response(error.status, headers=error.headers, content=orjson.dumps(body))
        return httpx.Response(200, content=content, headers={"content-type": "application/json"})

    def assert_exactly_once(self, expected_ids: set[str]) -> None:
        twice = {key: count for key, count in self.creations.items() if count > 1}
        assert not twice, f"created more than once: {twice}"
        assert set(self.tasks) == {task_id.lower() for task_id in expected_ids}


def _error_result(task_id: str, status: str, code: str, message: str) -> dict[str, Any]:
    return {
        "status": status,
        "taskId": task_id,
        "error": {"code": code, "message": {"lang": "en-US", "value": message}, "values": []},
    }
