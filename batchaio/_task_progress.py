"""``TaskProgress``: how many tasks of a job are in each state, as one immutable value."""

from __future__ import annotations

import attrs

from batchaio.models import BatchTaskCountsResult

__all__ = ["TaskProgress"]


@attrs.frozen
class TaskProgress:
    """Task counts of a job: ``active``, ``running`` and ``completed``; of the completed, ``succeeded`` and
    ``failed``. The service computes them (``jobs.get_task_counts``); they may lag a few seconds behind."""

    active: int = 0
    running: int = 0
    completed: int = 0
    succeeded: int = 0
    failed: int = 0

    @classmethod
    def from_counts(cls, result: BatchTaskCountsResult) -> TaskProgress:
        """The progress reported by ``jobs.get_task_counts``."""
        counts = result.task_counts
        if counts is None:
            return cls()
        return cls(
            active=counts.active or 0,
            running=counts.running or 0,
            completed=counts.completed or 0,
            succeeded=counts.succeeded or 0,
            failed=counts.failed or 0,
        )

    @property
    def total(self) -> int:
        """Every task of the job, whatever its state."""
        return self.active + self.running + self.completed

    @property
    def unfinished(self) -> int:
        """Tasks not yet completed (active or running)."""
        return self.active + self.running

    def __str__(self) -> str:
        return (
            f"{self.completed}/{self.total} completed ({self.succeeded} succeeded, {self.failed} failed), "
            f"{self.running} running, {self.active} active"
        )
