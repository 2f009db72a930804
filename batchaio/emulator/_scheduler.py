"""Capacity of simulated pools: which task runs when, on which node.

A pool runs at most ``nodes x taskSlotsPerNode`` slots at once; each task takes ``requiredSlots``. Tasks wait
in FIFO order (by the time they were added or reactivated) and start as slots free up. Nothing runs in the
background: a ``PoolScheduler`` replays the events (task ends) between its clock and ``now`` whenever the
state is read or about to change, assigning start and end times as it goes. Each task is pushed and popped a
bounded number of times, so reading the state of N tasks costs O(N log N) overall, however often it is read.

Tasks whose dependencies have not all succeeded are not queued; the end of a dependency wakes them. Heap
entries are invalidated, not removed, when a task is terminated, requeued, reactivated or deleted: each task
carries a ``generation`` that such changes bump.
"""

from __future__ import annotations

import heapq
import itertools
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from batchaio.emulator._state import Job, Node, TaskRecord

__all__ = ["PoolScheduler", "range_id", "required_slots", "succeeded_by", "succeeded_in_range"]


def required_slots(task: TaskRecord) -> int:
    """The slots ``task`` takes while it runs (``requiredSlots``, default 1)."""
    value = task.doc.get("requiredSlots")
    return value if isinstance(value, int) and value > 0 else 1


# A free slot map: node id -> (node, free slots); ``None`` node for capacity without node entities.
_Slots = dict[str, "tuple[Node | None, int]"]


class PoolScheduler:
    """The queue and the running set of one pool (by id: the pool may not exist, or not yet)."""

    def __init__(self, now: float, *, job_policies: bool = False) -> None:
        self.clock = now
        self.dirty = True
        # ``Realism.job_scheduling``: higher job ``priority`` first, at most ``maxParallelTasks`` per job.
        self.job_policies = job_policies
        # (key: queued at, or (-job priority, queued at); position in its job, tie, generation, job, task)
        self._ready: list[tuple[Any, int, int, int, Job, TaskRecord]] = []
        # (end, tie, generation, job, task, node id, slots)
        self._running: list[tuple[float, int, int, Job, TaskRecord, str, int]] = []
        self._used: dict[str, int] = {}
        self._oversized: list[tuple[Any, int, int, int, Job, TaskRecord]] = []
        self._tie = itertools.count()
        # Per job id (lower case): its tasks running now, and the queue entries held by its maxParallelTasks.
        self._job_running: dict[str, int] = {}
        self._held: dict[str, list[tuple[Any, int, int, int, Job, TaskRecord]]] = {}

    # ---- changes -------------------------------------------------------------------------------------

    def enqueue(
        self,
        job: Job,
        task: TaskRecord,
        dependency_ids: list[str],
        ranges: list[tuple[int, int]] | None = None,
    ) -> None:
        """Queue ``task`` (call after ``advance``); it waits for ``dependency_ids`` and every task of each id
        range in ``ranges`` to succeed first. Ranges are counted, never expanded into ids."""
        waiting: set[str] = set()
        for dependency_id in dependency_ids:
            key = dependency_id.lower()
            dependency = job.tasks.items.get(key)
            if dependency is None or not _succeeded_by(dependency, self.clock):
                waiting.add(key)
                job.dependents.setdefault(key, []).append((task, task.generation))
        for index, (start, end) in enumerate(ranges or []):
            remaining = end - start + 1 - succeeded_in_range(job, start, end, self.clock)
            if remaining > 0:
                key = f"#range-{index}"
                waiting.add(key)
                job.range_waits.append([task, task.generation, start, end, remaining, key])
        task.waiting_for = waiting or None
        if not waiting:
            self._push(job, task)

    def release(self, task: TaskRecord) -> None:
        """Free the slots of ``task`` now (it was running and is ended early); call after ``advance``."""
        if (
            task.node_id is not None
            and task.start is not None
            and (task.end is None or task.end > self.clock)
        ):
            self._used[task.node_id] = self._used.get(task.node_id, 0) - required_slots(task)
            self._job_stopped(task.job_id.lower())
        task.generation += 1
        self.dirty = True

    def resume(self, parked: list[tuple[Job, TaskRecord, int]]) -> None:
        """Queue again the tasks of a job that was disabled (call after ``advance``)."""
        for job, task, generation in parked:
            if generation == task.generation and task.start is None and not task.removed:
                self._push(job, task)

    def retry_oversized(self) -> None:
        """Queue again tasks that needed more slots than a node had (the pool was created again)."""
        for entry in self._oversized:
            heapq.heappush(self._ready, entry)
        self._oversized.clear()
        self.dirty = True

    def _push(self, job: Job, task: TaskRecord) -> None:
        key: Any = task.not_before
        if self.job_policies:
            priority = job.doc.get("priority")
            key = (-priority if isinstance(priority, int) else 0, task.not_before)
        heapq.heappush(self._ready, (key, task.seq, next(self._tie), task.generation, job, task))
        self.dirty = True

    def _at_parallel_limit(self, job: Job) -> bool:
        limit = job.doc.get("maxParallelTasks")
        if not self.job_policies or not isinstance(limit, int) or limit < 1:
            return False
        return self._job_running.get(job.id.lower(), 0) >= limit

    def _job_stopped(self, job_key: str) -> None:
        """A task of the job stopped running: count it, and let the entries its limit held compete again."""
        if job_key in self._job_running:
            self._job_running[job_key] -= 1
        for entry in self._held.pop(job_key, ()):
            heapq.heappush(self._ready, entry)

    def running_by_node(self, now: float) -> dict[str, tuple[int, int]]:
        """Per node id: the tasks running at ``now`` and the slots they take (call after ``advance``)."""
        counts: dict[str, tuple[int, int]] = {}
        for end, _, generation, _, task, node_id, need in self._running:
            if generation == task.generation and task.start is not None and task.start <= now < end:
                tasks, slots = counts.get(node_id, (0, 0))
                counts[node_id] = (tasks + 1, slots + need)
        return counts

    def running_on(self, node_id: str, at: float) -> list[tuple[Job, TaskRecord]]:
        """The tasks running on ``node_id`` at ``at`` (call after ``advance`` to ``at``)."""
        return [
            (job, task)
            for end, _, generation, job, task, running_node, _ in self._running
            if running_node == node_id
            and generation == task.generation
            and task.start is not None
            and task.start <= at < end
        ]

    # ---- time ------------------------------------------------------------------------------------------

    def advance(self, now: float, slots: _Slots, slots_per_node: int) -> None:
        """Replay starts and ends up to ``now`` with the pool's current capacity (``slots``)."""
        if now <= self.clock and not self.dirty:
            return
        now = max(now, self.clock)
        free = {
            node_id: [node, total - self._used.get(node_id, 0)] for node_id, (node, total) in slots.items()
        }
        order = list(free)
        cursor = 0
        moment = self.clock
        while True:
            cursor = self._fill(moment, free, order, cursor, slots_per_node)
            running = self._running
            if not running or running[0][0] > now:
                break
            moment = running[0][0]
            while running and running[0][0] <= moment:
                self._finish(heapq.heappop(running), free)
        self.clock = now
        self.dirty = False

    def _fill(
        self, moment: float, free: dict[str, list[Any]], order: list[str], cursor: int, per_node: int
    ) -> int:
        ready = self._ready
        while ready:
            entry = ready[0]
            _, _, _, generation, job, task = entry
            if generation != task.generation or task.removed or task.start is not None:
                heapq.heappop(ready)
                continue
            if job.disabled:
                heapq.heappop(ready)
                job.parked.append((job, task, generation))
                continue
            need = required_slots(task)
            if need > per_node:
                self._oversized.append(heapq.heappop(ready))
                continue
            if self._at_parallel_limit(job):
                self._held.setdefault(job.id.lower(), []).append(heapq.heappop(ready))
                continue
            chosen = None
            for step in range(len(order)):
                node_id = order[(cursor + step) % len(order)]
                if free[node_id][1] >= need:
                    chosen = node_id
                    cursor = (cursor + step + 1) % len(order)
                    break
            if chosen is None:
                return cursor
            heapq.heappop(ready)
            self._start(moment, job, task, chosen, free[chosen], need)
        return cursor

    def _start(
        self, moment: float, job: Job, task: TaskRecord, node_id: str, free: list[Any], need: int
    ) -> None:
        free[1] -= need
        self._used[node_id] = self._used.get(node_id, 0) + need
        self._job_running[job.id.lower()] = self._job_running.get(job.id.lower(), 0) + 1
        node: Node | None = free[0]
        # A node that became usable (its start task done) after ``moment`` starts the task when it did.
        moment = max(moment, node.ready_at) if node is not None else moment
        task.start = moment
        task.end = moment + task.duration * task.attempts
        task.node_id = node_id
        task.pool_id = job.pool_id
        task.on_windows = node is not None and node.windows
        if node is not None:
            node.tasks_run += 1
            if task.exit_code == 0 and task.failure is None:
                node.tasks_succeeded += 1
            if moment >= node.busy_until:
                node.busy_from = moment
            node.busy_until = max(node.busy_until, task.end)
        heapq.heappush(self._running, (task.end, next(self._tie), task.generation, job, task, node_id, need))

    def _finish(
        self, entry: tuple[float, int, int, Job, TaskRecord, str, int], free: dict[str, list[Any]]
    ) -> None:
        _, _, generation, job, task, node_id, need = entry
        if generation != task.generation:
            return  # ended early: release() freed its slots
        self._used[node_id] = self._used.get(node_id, 0) - need
        if node_id in free:
            free[node_id][1] += need
        self._job_stopped(job.id.lower())
        if task.exit_code != 0 or task.failure is not None:
            return
        for dependent, dependent_generation in job.dependents.pop(task.id.lower(), ()):
            self._satisfied(job, dependent, dependent_generation, task.id.lower())
        number = range_id(task.id)
        if number is not None and job.range_waits:
            self._count_in_ranges(job, number)

    def _count_in_ranges(self, job: Job, number: int) -> None:
        """Count the success of task ``number`` for every dependent waiting on a range that holds it."""
        live = []
        for entry in job.range_waits:
            dependent, generation, start, end, remaining, key = entry
            if generation != dependent.generation or dependent.waiting_for is None:
                continue
            if start <= number <= end:
                entry[4] = remaining = remaining - 1
                if remaining == 0:
                    self._satisfied(job, dependent, generation, key)
                    continue
            live.append(entry)
        job.range_waits[:] = live

    def _satisfied(self, job: Job, dependent: TaskRecord, generation: int, key: str) -> None:
        """Note that ``dependent`` no longer waits for ``key``; queue it once it waits for nothing."""
        if generation != dependent.generation or dependent.waiting_for is None:
            return
        dependent.waiting_for.discard(key)
        if not dependent.waiting_for:
            dependent.waiting_for = None
            self._push(job, dependent)


def range_id(task_id: str) -> int | None:
    """The number a task id stands for in ``taskIdRanges`` (``"7"``, not ``"007"``), or ``None``."""
    if not task_id.isdecimal() or not task_id.isascii() or str(int(task_id)) != task_id:
        return None
    return int(task_id)


def succeeded_in_range(job: Job, start: int, end: int, moment: float) -> int:
    """How many tasks of ``job`` with ids ``start``..``end`` had succeeded by ``moment``; costs the smaller of
    the range's size and the job's task count."""
    tasks = job.tasks.items
    if end - start + 1 <= len(tasks):
        found = (tasks.get(str(number)) for number in range(start, end + 1))
        return sum(1 for task in found if task is not None and _succeeded_by(task, moment))
    return sum(
        1
        for task in tasks.values()
        if (number := range_id(task.id)) is not None
        and start <= number <= end
        and _succeeded_by(task, moment)
    )


def succeeded_by(task: TaskRecord, moment: float) -> bool:
    """Whether ``task`` had completed successfully by ``moment``."""
    return _succeeded_by(task, moment)


def _succeeded_by(task: TaskRecord, moment: float) -> bool:
    return task.end is not None and task.end <= moment and task.exit_code == 0 and task.failure is None
