"""A FastAPI backend that submits and follows Azure Batch tasks through one shared ``BatchClient``.

One client lives for the application's lifetime (opened in the lifespan, closed at shutdown) and reaches the
endpoints through a dependency, so every request shares its connection pool. batchaio errors become HTTP
answers in one exception handler: a missing job is a 404, a conflict a 409, throttling a 503 with
``Retry-After``, bad input a 422, anything else from Batch a 502.

Run it against the local emulator::

    python -m batchaio.emulator --port 8765 &   # prints the BATCH_* variables to export
    export BATCH_ENDPOINT=http://127.0.0.1:8765 BATCH_ACCOUNT_NAME=... BATCH_ACCOUNT_KEY=...
    uvicorn examples.fastapi_app:app

then ``curl -X POST localhost:8000/jobs/job-1 -H 'content-type: application/json' -d '{"pool_id": "p"}'``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Annotated

import orjson
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

import batchaio
from batchaio import BatchClient
from batchaio import filters as f
from batchaio.models import BatchJobCreateContent, BatchPoolInfo, BatchTaskCreateContent

STATUS_FOR_ERROR: list[tuple[type[batchaio.BatchaioError], int]] = [
    (batchaio.NotFoundError, 404),
    (batchaio.ConflictError, 409),
    (batchaio.ThrottledError, 503),
    (batchaio.ValidationError, 422),
    (batchaio.BadRequestError, 422),
    (batchaio.TransportError, 504),
]
"""The HTTP status this backend answers for each kind of batchaio error (first match wins; else 502)."""


def client_from_environment() -> BatchClient:
    """A client of the account that the BATCH_ENDPOINT and BATCH_ACCOUNT_* variables name (plain http only
    for the local emulator)."""
    loopback = os.environ.get("BATCH_ENDPOINT", "").startswith(("http://127.0.0.1", "http://localhost"))
    return BatchClient.from_env(allow_insecure_http=loopback)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the one client of the application and close it at shutdown."""
    async with client_from_environment() as client:
        app.state.batch = client
        yield


app = FastAPI(title="batchaio example backend", lifespan=lifespan)


def batch_client(request: Request) -> BatchClient:
    """The dependency that hands the application's client to an endpoint."""
    client: BatchClient = request.app.state.batch
    return client


Batch = Annotated[BatchClient, Depends(batch_client)]


@app.exception_handler(batchaio.BatchaioError)
async def batch_error_handler(request: Request, exc: batchaio.BatchaioError) -> JSONResponse:
    """Answer a batchaio error with the matching HTTP status and the Batch code and request id."""
    status = next((status for kind, status in STATUS_FOR_ERROR if isinstance(exc, kind)), 502)
    body: dict[str, object] = {"error": type(exc).__name__}
    headers: dict[str, str] = {}
    if isinstance(exc, batchaio.BatchStatusError):
        body.update(code=exc.code, message=exc.message, request_id=exc.request_id)
        if exc.retry_after is not None:
            headers["Retry-After"] = str(max(1, round(exc.retry_after)))
    elif isinstance(exc, batchaio.ValidationError):
        body.update(message=str(exc))
    return JSONResponse(body, status_code=status, headers=headers)


class JobIn(BaseModel):
    """The body of ``POST /jobs/{job_id}``."""

    pool_id: str


class TaskIn(BaseModel):
    """One task of a submission."""

    id: str
    command_line: str


class SubmissionIn(BaseModel):
    """The body of ``POST /jobs/{job_id}/tasks``: explicit tasks, or ``count`` generated ones."""

    tasks: list[TaskIn] = Field(default_factory=list)
    count: int = Field(default=0, ge=0, le=1_000_000)
    command_line: str = "echo {n}"


@app.post("/jobs/{job_id}", status_code=201)
async def create_job(job_id: str, job: JobIn, client: Batch) -> dict[str, str]:
    """Create a job on an existing pool."""
    await client.jobs.create(BatchJobCreateContent(id=job_id, pool_info=BatchPoolInfo(pool_id=job.pool_id)))
    return {"id": job_id}


@app.post("/jobs/{job_id}/tasks")
async def submit_tasks(job_id: str, submission: SubmissionIn, client: Batch) -> dict[str, object]:
    """Submit the tasks with ``add_many`` (generated ones are made lazily) and return the counts."""

    def tasks() -> Iterator[BatchTaskCreateContent]:
        for task in submission.tasks:
            yield BatchTaskCreateContent(id=task.id, command_line=task.command_line)
        for n in range(submission.count):
            yield BatchTaskCreateContent(id=f"task-{n}", command_line=submission.command_line.format(n=n))

    report = await client.tasks.add_many(job_id, tasks(), concurrency=8)
    return {
        "created": report.created,
        "existing": report.existing,
        "failed": report.failed,
        "failures": [
            {"task_id": f.task_id, "code": f.code, "message": f.message} for f in report.failures[:100]
        ],
    }


@app.get("/jobs/{job_id}/tasks")
async def stream_tasks(job_id: str, client: Batch, state: str | None = None) -> StreamingResponse:
    """Stream the job's tasks as NDJSON, one page in memory at a time.

    The first page is fetched before the answer starts, so a missing job is still a clean 404.
    """
    select = ["id", "state", "executionInfo"]
    pages = client.tasks.list(job_id, select=select, filter=f.eq("state", state) if state else None).pages()
    first = await anext(pages)

    async def lines() -> AsyncIterator[bytes]:
        page = first
        while True:
            for task in page.items:
                yield orjson.dumps(batchaio.converter.unstructure(task)) + b"\n"
            try:
                page = await anext(pages)
            except StopAsyncIteration:
                return

    return StreamingResponse(lines(), media_type="application/x-ndjson")


@app.get("/jobs/{job_id}/progress")
async def progress(job_id: str, client: Batch) -> dict[str, int]:
    """The job's task counts: one small request, not a listing."""
    counts = (await client.jobs.get_task_counts(job_id)).task_counts
    states = ("active", "running", "completed", "succeeded", "failed")
    return {state: (getattr(counts, state, None) or 0) for state in states}
