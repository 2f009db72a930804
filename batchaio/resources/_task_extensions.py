"""Hand-written base of the generated :class:`batchaio.resources.tasks.Tasks`: task methods that are not one
REST operation (streaming bulk submission) live here, so regenerating the operations never touches them."""

from __future__ import annotations

import random

from batchaio import _bulk
from batchaio import _constants as C
from batchaio._bulk import TaskSource
from batchaio._bulk_options import BulkOptions, ProgressCallback
from batchaio._bulk_report import BulkAddReport
from batchaio._bulk_stream import BulkAddStream
from batchaio._retry import RetryPolicy
from batchaio._tracing import traced
from batchaio.resources._base import Resource

__all__ = ["TaskExtensions"]


class TaskExtensions(Resource):
    """Task methods built on top of the REST operations of :class:`~batchaio.resources.tasks.Tasks`."""

    @traced("tasks.add_many", job_id="jobId")
    async def add_many(
        self,
        job_id: str,
        tasks: TaskSource,
        *,
        concurrency: int = C.BULK_DEFAULT_CONCURRENCY,
        chunk_size: int = C.BULK_MAX_TASKS_PER_CHUNK,
        max_chunk_bytes: int = C.BULK_MAX_CHUNK_BYTES,
        retry: RetryPolicy | None = None,
        max_attempts: int | None = None,
        max_failures_kept: int = C.BULK_MAX_FAILURES_KEPT,
        deadline: float | None = None,
        stop_grace: float = C.BULK_STOP_GRACE,
        progress: ProgressCallback | None = None,
        server_timeout: int | None = None,
        rng: random.Random | None = None,
    ) -> BulkAddReport:
        """Add any number of tasks to a job, ``chunk_size`` per request, ``concurrency`` requests at a time.

        ``tasks`` is any iterable or async iterable of :class:`~batchaio.models.BatchTaskCreateContent`, read
        lazily: about ``(concurrency + 1) * chunk_size`` tasks are held at once. Each request carries at most
        ``chunk_size`` (<= 100) tasks and ``max_chunk_bytes`` encoded bytes; a 413 halves it.

        Throttling (429, 503), 5xx, resets and timeouts, and per-task ``servererror`` results are retried with
        jittered backoff (``Retry-After`` honoured), on the terms of ``retry`` (default: the client's
        :class:`~batchaio.RetryPolicy`): its ``backoff_base``, ``backoff_cap``, ``retry_after_cap`` and
        ``rng`` shape the waits. Each task rides in at most ``max_attempts`` requests; by default one when the
        policy makes no retries (``RetryPolicy.no_retries()``), otherwise the larger of the policy's
        ``max_attempts`` and 10, since a bulk run must outlast throttling a single call would give up on.
        Each retried chunk is logged at INFO on the ``batchaio`` logger. The policy's ``deadline`` bounds each
        request, as it bounds any call; the run has no overall deadline unless ``deadline`` is given, as a
        million tasks can take hours.
        ``TaskExists`` counts as created when an earlier attempt carrying the task may have landed, as
        already existing otherwise. Invalid tasks, duplicate IDs among the tasks in flight (compared without
        case), tasks too large for one request and ``clienterror`` results fail alone; the rest go on.

        Returns a :class:`~batchaio.BulkAddReport` (counts, failures, timings); its ``failures`` list keeps
        the first ``max_failures_kept`` failures (``failures_dropped`` counts the rest; ``failed`` counts
        all). ``progress`` (a function or an ``async def``, awaited) is called with the live report after each
        answer and once at the end, also when the run is cancelled; if it raises, the run stops as for any
        other failure.

        Raises :class:`~batchaio.BulkAddDeadlineExceeded` when ``deadline`` (seconds for the whole run)
        passes; :class:`~batchaio.BulkAddRefusedError` when the service refuses the job itself
        (``JobNotFound``, bad credentials), which is also of the refusal's class
        (:class:`~batchaio.NotFoundError`...); :class:`~batchaio.BulkAddUnreachableError` when no request
        reached the service and a chunk failed unsent as often as one call tries (every task read is then
        pending); :class:`~batchaio.BulkAddError` when reading ``tasks`` raises or ``progress`` raises. All
        carry the report. A run stopping early sends nothing more and gives the requests in flight
        ``stop_grace`` seconds to finish. Nothing is sent if ``job_id`` or an option is invalid
        (:class:`~batchaio.ValidationError`).
        """
        options = BulkOptions.from_arguments(locals())
        return await _bulk.submit_to_job(self._pipeline, job_id, tasks, options, self._defaults)

    def iter_add(
        self,
        job_id: str,
        tasks: TaskSource,
        *,
        concurrency: int = C.BULK_DEFAULT_CONCURRENCY,
        chunk_size: int = C.BULK_MAX_TASKS_PER_CHUNK,
        max_chunk_bytes: int = C.BULK_MAX_CHUNK_BYTES,
        retry: RetryPolicy | None = None,
        max_attempts: int | None = None,
        max_failures_kept: int = C.BULK_MAX_FAILURES_KEPT,
        deadline: float | None = None,
        stop_grace: float = C.BULK_STOP_GRACE,
        progress: ProgressCallback | None = None,
        server_timeout: int | None = None,
        rng: random.Random | None = None,
    ) -> BulkAddStream:
        """Like :meth:`add_many`, yielding each task's :class:`~batchaio.TaskOutcome` as soon as it is known::

            async with client.tasks.iter_add("job-1", tasks) as stream:
                async for outcome in stream:
                    if not outcome.ok:
                        print(outcome.task_id, outcome.status, outcome.failure)
            print(stream.report)

        Iterate inside ``async with`` (iterating without it raises :class:`RuntimeError`): leaving the block
        early (``break``, an exception) stops the submission cleanly, requests in flight reported in doubt.
        Every task read gets exactly one outcome: if the run stops early (``deadline``, the service refusing
        the job, the input raising), the unsettled ones are yielded as ``IN_DOUBT`` (a request carrying them
        may have landed) or ``PENDING`` (not created by this run), then the error :meth:`add_many` would
        raise is raised. A slow consumer slows the submission down rather than growing memory.
        """
        options = BulkOptions.from_arguments(locals())
        return _bulk.stream_to_job(self._pipeline, job_id, tasks, options, self._defaults)
