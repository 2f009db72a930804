"""Hand-written base of the generated :class:`batchaio.resources.tasks.Tasks` (next to
:class:`~batchaio.resources._task_extensions.TaskExtensions`): the workflow helpers on tasks, watching them
complete and reporting why they failed."""

from __future__ import annotations

from collections.abc import Sequence

from batchaio import _constants as C
from batchaio import _failures
from batchaio._failures import FailureReport
from batchaio._tracing import traced
from batchaio._watch import TaskWatch, WatchPosition
from batchaio._workflow_api import groups
from batchaio.resources._base import Resource

__all__ = ["TaskWorkflow"]


class TaskWorkflow(Resource):
    """Task helpers built on the public operations: :meth:`watch` and :meth:`failure_report`."""

    def watch(
        self,
        job_id: str,
        *,
        poll_interval: float = C.WATCH_POLL_INTERVAL,
        select: Sequence[str] | None = None,
        overlap: float = C.WATCH_OVERLAP,
        position: WatchPosition | None = None,
    ) -> TaskWatch:
        """Yield each task of the job once each time it reaches ``completed``, as a ``BatchTask``::

            async for task in client.tasks.watch("job-1", select=["id", "executionInfo"]):
                print(task.id, task.execution_info.exit_code)

        It starts with the tasks already completed, then polls ``jobs.get_task_counts`` every
        ``poll_interval`` seconds and lists tasks only when the counts of completed tasks moved, and then only
        those completed at or after the watermark (the latest ``stateTransitionTime`` the service reported)
        minus ``overlap`` seconds, so a completion reported late is not missed; the ones seen again are
        skipped. A task reactivated and completed again is yielded again. ``select`` trims the bodies (the
        watch adds ``id``, ``state`` and ``stateTransitionTime``). It ends when no task of the job is active
        or running and every completion has been yielded: start it after the tasks are added.

        Throttling and server errors that outlast the client's retries wait (``Retry-After`` honoured) and
        poll again; other errors are raised. The returned :class:`~batchaio.TaskWatch` has a ``position``;
        ``watch(job_id, position=saved)`` goes on from it without yielding a task twice.
        """
        return TaskWatch(
            groups(self._pipeline, self._defaults),
            job_id,
            poll_interval=poll_interval,
            overlap=overlap,
            select=select,
            position=position,
        )

    @traced("tasks.failure_report", job_id="jobId")
    async def failure_report(
        self,
        job_id: str,
        *,
        tail_bytes: int = C.FAILURE_TAIL_BYTES,
        max_examples: int = C.FAILURE_MAX_EXAMPLES,
        concurrency: int = C.FAILURE_DOWNLOAD_CONCURRENCY,
    ) -> FailureReport:
        """Group the job's failed tasks by kind of failure, with examples and the tail of their stderr.

        Lists the completed tasks whose result is a failure (one listing with ``$select``), groups them by
        failure code and exit code (a task that exited 0 but failed to upload its output files is a
        failure too), and for the first ``max_examples`` of each group downloads the last ``tail_bytes``
        bytes of ``stderr.txt`` (``fileuploaderr.txt`` when the upload failed) with ranged requests,
        ``concurrency`` at a time. A tail that cannot be read (the node is gone) is ``None``.
        """
        return await _failures.failure_report(
            groups(self._pipeline, self._defaults).tasks,
            job_id,
            tail_bytes=tail_bytes,
            max_examples=max_examples,
            concurrency=concurrency,
        )
