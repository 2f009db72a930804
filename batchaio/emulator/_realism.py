"""Behaviours of the real service that slow a test down or make it fail on purpose: each off by default.

``Realism()`` is the fast emulator; ``Realism.everything()`` (``--realistic``) turns every switch on. Each
switch models one documented behaviour that user code can notice:

- ``node_startup``: new nodes pass through ``creating`` and ``starting`` (and ``waitingForStartTask`` when the
  pool's start task has ``waitForSuccess``) before they are ``idle`` and take tasks; their extensions are
  ``Creating`` meanwhile, and the pool's ``allocationState`` is ``resizing`` while a node is ``creating``.
- ``throttling``: more than ``requests_per_second`` requests per second to the account (over a sliding
  window of one second) are answered 429 ``TooManyRequests`` with ``Retry-After``, as the service does.
- ``core_quota``: a resize (or a new pool's target) that would take the account's dedicated or low-priority
  cores past its quota is accepted, as by the service, but allocates only the nodes that fit and reports a
  ``resizeErrors`` entry ``AccountCoreQuotaReached`` (``AccountLowPriorityCoreQuotaReached``).
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, fields, replace
from typing import Any

__all__ = ["RateLimiter", "Realism", "vm_cores"]


@dataclass(frozen=True)
class Realism:
    """Which realistic behaviours are on, and their timings and limits."""

    node_startup: bool = False
    throttling: bool = False
    core_quota: bool = False
    # Seconds a new node spends in each start-up state (short: tests should not wait for minutes); a start
    # task takes ``start_task_seconds`` more than its simulated duration.
    node_creating_seconds: float = 0.3
    node_starting_seconds: float = 0.3
    start_task_seconds: float = 0.2
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
        if any(value < 0 for value in timings):
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
