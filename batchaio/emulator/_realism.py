"""Behaviours of the real service that slow a test down or make it fail on purpose: each off by default.

``Realism()`` is the fast emulator; ``Realism.everything()`` (``--realistic``) turns every switch on. Each
switch models one documented behaviour that user code can notice:

- ``node_startup``: new nodes pass through ``creating`` and ``starting`` (and ``waitingForStartTask`` when the
  pool's start task has ``waitForSuccess``) before they are ``idle`` and take tasks; their extensions are
  ``Creating`` meanwhile, and the pool's ``allocationState`` is ``resizing`` while a node is ``creating``.
- ``throttling``: more than ``requests_per_second`` requests per second to the account (over a sliding
  window of one second) are answered 429 ``TooManyRequests`` with ``Retry-After``, as the service does.
- ``task_count_lag``: "Get Task Counts" answers a snapshot of the job's counts taken up to
  ``task_count_lag_seconds`` earlier; listing the tasks stays exact, as with the service.
- ``preemption``: every spot (low-priority) node is ``preempted`` ``preempt_after_seconds`` after it is
  ready, for ``preempted_seconds``; the tasks running on it then go back to the queue (``requeueCount`` + 1),
  as the service requeues the tasks of preempted nodes.
- ``job_scheduling``: a pool's queue takes the tasks of higher-``priority`` jobs first (the priority a job
  had when its task was queued), and runs at most ``maxParallelTasks`` tasks of a job at once.
- ``schedule_recurrence``: job schedules create their jobs as the service does (``doNotRunUntil``,
  ``doNotRunAfter``, ``recurrenceInterval``, ``startWindow``, one active job at a time), checked whenever a
  job or schedule is read; without it a schedule creates one job when it is created.
- ``core_quota``: a resize (or a new pool's target) that would take the account's dedicated or low-priority
  cores past its quota is accepted, as by the service, but allocates only the nodes that fit and reports a
  ``resizeErrors`` entry ``AccountCoreQuotaReached`` (``AccountLowPriorityCoreQuotaReached``).
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, fields, replace
from typing import Any

__all__ = ["RateLimiter", "Realism", "Recurrence", "next_scheduled_job", "vm_cores"]


@dataclass(frozen=True)
class Realism:
    """Which realistic behaviours are on, and their timings and limits."""

    node_startup: bool = False
    throttling: bool = False
    core_quota: bool = False
    task_count_lag: bool = False
    preemption: bool = False
    job_scheduling: bool = False
    schedule_recurrence: bool = False
    # Seconds a new node spends in each start-up state (short: tests should not wait for minutes); a start
    # task takes ``start_task_seconds`` more than its simulated duration.
    node_creating_seconds: float = 0.3
    node_starting_seconds: float = 0.3
    start_task_seconds: float = 0.2
    # Spot/low-priority nodes are preempted this long after they are ready, and recovered after that long.
    preempt_after_seconds: float = 1.0
    preempted_seconds: float = 1.0
    # How old the task counts of a job may be (the service's "may not always be up to date").
    task_count_lag_seconds: float = 1.0
    # Requests per second per account before the service throttles, and the Retry-After it asks for.
    requests_per_second: int = 200
    retry_after_seconds: int = 1
    # The account's core quotas (a new Batch account: 500 dedicated, 500 low-priority/spot cores).
    dedicated_core_quota: int = 500
    low_priority_core_quota: int = 500

    @classmethod
    def everything(cls, **changes: object) -> Realism:
        """Every switch on (``--realistic``), with optional changes."""
        switches = {item.name: True for item in fields(cls) if item.type in ("bool", bool)}
        return replace(cls(**switches), **changes)  # type: ignore[arg-type]

    def __post_init__(self) -> None:
        timings = (self.node_creating_seconds, self.node_starting_seconds, self.start_task_seconds)
        delays = (self.task_count_lag_seconds, self.preempt_after_seconds, self.preempted_seconds)
        if any(value < 0 for value in (*timings, *delays)):
            raise ValueError("node start-up timings must not be negative")
        if self.requests_per_second < 1 or self.retry_after_seconds < 0:
            raise ValueError("requests_per_second must be at least 1 and retry_after_seconds not negative")
        if self.dedicated_core_quota < 0 or self.low_priority_core_quota < 0:
            raise ValueError("core quotas must not be negative")


class RateLimiter:
    """Counts requests over a sliding window of one second; ``admit`` says whether one more is allowed."""

    def __init__(self, per_second: int) -> None:
        self.per_second = per_second
        self._times: deque[float] = deque()

    def admit(self, now: float) -> bool:
        times = self._times
        while times and times[0] <= now - 1.0:
            times.popleft()
        if len(times) >= self.per_second:
            return False
        times.append(now)
        return True


_CORES = re.compile(r"^(?:standard_|basic_)?[a-z]+?(\d+)", re.IGNORECASE)


def vm_cores(vm_size: str) -> int:
    """The vCPUs of a VM size, read from its name (``Standard_D2s_v3`` has 2); 1 when the name says none."""
    match = _CORES.match(vm_size.strip())
    return max(1, int(match.group(1))) if match else 1


def plan_start_up(realism: Realism, now: float) -> tuple[float, float]:
    """When a node allocated at ``now`` leaves ``creating`` and ``starting`` (its start task runs next)."""
    if not realism.node_startup:
        return now, now
    booting = now + realism.node_creating_seconds
    return booting, booting + realism.node_starting_seconds


def plan_preemption(realism: Realism, ready_at: float) -> tuple[float, float]:
    """When a spot node ready at ``ready_at`` is preempted and when it is back (``Realism.preemption``)."""
    start = ready_at + realism.preempt_after_seconds
    return start, start + realism.preempted_seconds


def nodes_within_quota(
    realism: Realism, cores_per_node: int, cores_elsewhere: int, wanted: int, dedicated: bool
) -> tuple[int, dict[str, Any] | None]:
    """How many of ``wanted`` nodes fit in the account's core quota, and the resize error when not all do.

    ``cores_elsewhere``: the cores of that kind the account's other pools hold."""
    if not realism.core_quota:
        return wanted, None
    quota = realism.dedicated_core_quota if dedicated else realism.low_priority_core_quota
    fits = max(0, (quota - cores_elsewhere) // cores_per_node)
    if wanted <= fits:
        return wanted, None
    kind = "" if dedicated else "LowPriority"
    error: dict[str, Any] = {
        "code": f"Account{kind}CoreQuotaReached",
        "message": f"The specified account has reached its {'dedicated' if dedicated else 'low-priority'} "
        "core quota",
        "values": [
            {"name": "Reason", "value": f"{wanted} nodes need {wanted * cores_per_node} cores"},
            {"name": "Quota", "value": str(quota)},
        ],
    }
    return fits, error


@dataclass(frozen=True)
class Recurrence:
    """A job schedule's ``schedule`` as seconds since the epoch and durations in seconds."""

    not_until: float | None = None
    not_after: float | None = None
    interval: float | None = None
    start_window: float | None = None


def next_scheduled_job(
    recurrence: Recurrence, due: float, previous_end: float | None, previous_active: bool, now: float
) -> tuple[float | None, float | None]:
    """Decide a schedule's next job: ``(create at, next due)``; ``create at`` is ``None`` when no job is
    created for the occurrence ``due`` (yet, or ever), ``next due`` is ``None`` when none follows.

    Rules (REST reference, Schedule): a schedule has at most one active job; a job due while the previous
    one runs is created when that one completes, unless ``startWindow`` has passed by then (the occurrence is
    lost); no job is created before ``doNotRunUntil`` or after ``doNotRunAfter``; without
    ``recurrenceInterval`` there is one job."""
    following = due + recurrence.interval if recurrence.interval else None
    if recurrence.not_after is not None and due > recurrence.not_after:
        return None, None
    if previous_active:
        if recurrence.start_window is not None and now - due > recurrence.start_window:
            return None, following  # the window passed while the previous job ran: skip this one
        return None, due  # wait for the previous job
    moment = max(due, previous_end or due)
    if recurrence.not_after is not None and moment > recurrence.not_after:
        return None, None
    if recurrence.start_window is not None and moment - due > recurrence.start_window:
        return None, following
    return moment, following
