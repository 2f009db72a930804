"""The in-memory state of an emulated Batch account and the service semantics that act on it.

Everything is plain JSON dicts plus a few bookkeeping fields. Task states are derived from timestamps when
they are read (``start``/``end`` set once a task is scheduled). In simulated mode a ``PoolScheduler`` per pool
assigns those timestamps lazily, within the pool's slots, whenever a job's tasks are read or changed: no
background loop is needed. In ``execute`` mode the runner sets ``start`` and ``end`` as real processes start
and stop.
"""

from __future__ import annotations

import copy
import hashlib
import math
import random
import re
import time
from collections.abc import Iterator
from typing import Any, Generic, TypeVar

from batchaio.emulator import _constants as C
from batchaio.emulator._executor import kill_group, simulate, upload_failure
from batchaio.emulator._nodes import is_windows
from batchaio.emulator._realism import (
    Realism,
    Recurrence,
    next_scheduled_job,
    nodes_within_quota,
    plan_preemption,
    plan_start_up,
    vm_cores,
)
from batchaio.emulator._scheduler import PoolScheduler, required_slots, succeeded_by, succeeded_in_range
from batchaio.emulator._wire import ServiceError, new_etag, parse_duration, parse_time

__all__ = [
    "NODE_STARTUP_STATES",
    "Certificate",
    "Collection",
    "Entity",
    "Job",
    "JobSchedule",
    "Node",
    "Pool",
    "StartTaskRun",
    "Store",
    "TaskRecord",
    "task_state",
    "valid_id",
]

_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def valid_id(value: object) -> bool:
    """Whether ``value`` is a valid Batch id (1-64 letters, digits, hyphens, underscores)."""
    return isinstance(value, str) and _ID.match(value) is not None


class Entity:
    """A stored resource: its JSON document and the system fields the service maintains."""

    __slots__ = (
        "created",
        "deleting_until",
        "doc",
        "etag",
        "id",
        "last_modified",
        "previous_state",
        "previous_state_time",
        "removed",
        "seq",
        "state",
        "state_time",
    )

    def __init__(self, entity_id: str, doc: dict[str, Any], now: float, state: str = "active") -> None:
        self.id = entity_id
        self.doc = doc
        self.seq = 0
        self.created = now
        self.etag = new_etag()
        self.last_modified = now
        self.state = state
        self.state_time = now
        self.previous_state: str | None = None
        self.previous_state_time: float | None = None
        self.deleting_until: float | None = None
        self.removed = False

    def touch(self, now: float) -> None:
        """Record a modification: new ETag and Last-Modified."""
        self.etag = new_etag()
        self.last_modified = now

    def set_state(self, state: str, now: float) -> None:
        """Move to ``state``, remembering the previous one."""
        if state != self.state:
            self.previous_state, self.previous_state_time = self.state, self.state_time
            self.state, self.state_time = state, now


E = TypeVar("E", bound=Entity)


class Collection(Generic[E]):
    """Entities by case-insensitive id, plus an append-only order for stable paging (``$skiptoken``)."""

    def __init__(self) -> None:
        self.items: dict[str, E] = {}
        self.order: list[E] = []

    def __len__(self) -> int:
        return len(self.items)

    def add(self, entity: E) -> E:
        entity.seq = len(self.order)
        self.items[entity.id.lower()] = entity
        self.order.append(entity)
        return entity

    def find(self, entity_id: str, now: float) -> E | None:
        entity = self.items.get(entity_id.lower())
        if entity is not None and entity.deleting_until is not None and now >= entity.deleting_until:
            self.remove(entity)
            return None
        return entity

    def remove(self, entity: E) -> None:
        entity.removed = True
        if self.items.get(entity.id.lower()) is entity:
            del self.items[entity.id.lower()]

    def scan(self, start: int, now: float) -> Iterator[tuple[int, E]]:
        """Live entities from position ``start`` of the order, with their positions."""
        order = self.order
        for position in range(start, len(order)):
            entity = order[position]
            if entity.removed:
                continue
            if entity.deleting_until is not None and now >= entity.deleting_until:
                self.remove(entity)
                continue
            yield position, entity


class TaskRecord(Entity):
    """A task. ``start``/``end`` are ``None`` until it is scheduled / known to end."""

    __slots__ = (
        "attempts",
        "deleted_files",
        "duration",
        "end",
        "exit_code",
        "failure",
        "generation",
        "job_id",
        "node_id",
        "not_before",
        "on_windows",
        "pool_id",
        "process_group",
        "requeue_count",
        "start",
        "waiting_for",
    )

    def __init__(self, task_id: str, doc: dict[str, Any], now: float, job_id: str) -> None:
        super().__init__(task_id, doc, now)
        self.job_id = job_id
        self.not_before = now
        self.start: float | None = None
        self.end: float | None = None
        self.exit_code: int | None = None
        self.duration = 0.0
        self.attempts = 1
        self.failure: dict[str, Any] | None = None
        self.node_id: str | None = None
        self.pool_id: str | None = None
        self.on_windows = False  # set when scheduled on a node of a Windows pool
        self.requeue_count = 0
        self.deleted_files: set[str] | None = None
        self.process_group: int | None = None
        self.generation = 0
        self.waiting_for: set[str] | None = None


def task_state(task: TaskRecord, now: float) -> str:
    """The state of ``task`` at ``now``: active, running or completed."""
    if task.end is not None and now >= task.end:
        return "completed"
    if task.start is not None and now >= task.start:
        return "running"
    return "active"


def task_succeeded(task: TaskRecord, now: float) -> bool:
    """Whether ``task`` has completed with exit code 0."""
    return task_state(task, now) == "completed" and task.exit_code == 0 and task.failure is None


class Job(Entity):
    """A job and its tasks."""

    __slots__ = (
        "dependents",
        "disabled",
        "discarded",
        "discarded_ids",
        "enabled_at",
        "end_time",
        "parked",
        "range_waits",
        "schedule_id",
        "task_order",
        "tasks",
        "terminate_reason",
    )

    def __init__(self, job_id: str, doc: dict[str, Any], now: float) -> None:
        super().__init__(job_id, doc, now)
        self.tasks: Collection[TaskRecord] = Collection()
        self.enabled_at = now
        self.disabled = False
        self.end_time: float | None = None
        self.terminate_reason: str | None = None
        self.schedule_id: str | None = None
        self.discarded = 0
        self.discarded_ids: set[str] = set()
        # Tasks waiting for a dependency (by its lower-case id), with the generation they were queued in.
        self.dependents: dict[str, list[tuple[TaskRecord, int]]] = {}
        # Tasks waiting for an id range: [task, generation, start, end, tasks still to succeed, key].
        self.range_waits: list[list[Any]] = []
        # Tasks taken out of their pool's queue while the job is disabled.
        self.parked: list[tuple[Job, TaskRecord, int]] = []

    @property
    def pool_id(self) -> str | None:
        pool_info = self.doc.get("poolInfo") or {}
        value = pool_info.get("poolId")
        return value if isinstance(value, str) else None

    @property
    def scheduler_key(self) -> str:
        """Which pool's slots the job's tasks take: its pool's id, or its own auto pool."""
        pool_id = self.pool_id
        return pool_id.lower() if pool_id is not None else f"auto-pool:{self.id.lower()}"


class JobSchedule(Entity):
    """A job schedule; it creates one job when created (recurrence is not modelled)."""

    __slots__ = ("end_time", "job_count", "next_due", "recent_job_id")

    def __init__(self, schedule_id: str, doc: dict[str, Any], now: float) -> None:
        super().__init__(schedule_id, doc, now)
        # ``Realism.schedule_recurrence``: when the next job is due (``None``: no more jobs).
        self.next_due: float | None = None
        self.job_count = 0
        self.recent_job_id: str | None = None
        self.end_time: float | None = None


# The states of a node between its allocation and its first idle moment (``Realism.node_startup``).
NODE_STARTUP_STATES = ("creating", "starting", "waitingforstarttask")


class StartTaskRun:
    """The simulated run of a pool's start task on one node, decided when the node is allocated."""

    __slots__ = ("attempts", "end", "exit_code", "start", "wait_for_success")

    def __init__(self, start_task: dict[str, Any], now: float) -> None:
        outcome = simulate(str(start_task.get("commandLine", "")))
        retries = start_task.get("maxTaskRetryCount")
        retries = retries if isinstance(retries, int) and not isinstance(retries, bool) else 0
        self.exit_code = outcome.exit_code
        self.attempts = 1 if outcome.exit_code == 0 else 1 + min(max(retries, 0), C.MAX_START_TASK_RETRIES)
        self.start = now
        self.end = now + (outcome.duration or 0.0) * self.attempts
        if outcome.exit_code != 0 and retries < 0:
            self.end = math.inf  # retried without limit: it never ends
        self.wait_for_success = start_task.get("waitForSuccess") is not False

    def state(self, now: float) -> str:
        return "running" if now < self.end else "completed"


class Node(Entity):
    """A simulated compute node.

    ``booting_at`` and ``booted_at`` end its start-up states ``creating`` and ``starting``; they equal
    ``created`` unless ``Realism.node_startup`` is on. Its start task (if any) starts at ``booted_at``."""

    __slots__ = (
        "booted_at",
        "booting_at",
        "busy_from",
        "busy_until",
        "extensions",
        "index",
        "ip_address",
        "is_dedicated",
        "pool_id",
        "preempt_at",
        "preempted_from",
        "preempted_until",
        "scheduling_state",
        "start_task",
        "state_until",
        "tasks_run",
        "tasks_succeeded",
        "transient_state",
        "users",
        "windows",
    )

    def __init__(self, node_id: str, pool_id: str, is_dedicated: bool, now: float, index: int) -> None:
        super().__init__(node_id, {}, now, state="idle")
        self.pool_id = pool_id
        # The node's place in its pool (lowest free when allocated): its endpoint names and ports.
        self.index = index
        self.is_dedicated = is_dedicated
        self.scheduling_state = "enabled"
        self.transient_state: str | None = None
        self.state_until = 0.0
        self.busy_from = 0.0
        self.busy_until = 0.0
        self.tasks_run = 0
        self.tasks_succeeded = 0
        self.ip_address = f"10.0.{index // 250}.{index % 250 + 4}"
        self.users: dict[str, dict[str, Any]] = {}
        self.extensions: list[dict[str, Any]] = []
        self.start_task: StartTaskRun | None = None
        self.windows = False
        self.booting_at = self.booted_at = now
        # ``Realism.preemption`` (spot nodes): preempted over [preempted_from, preempted_until);
        # ``preempt_at`` is that moment until the tasks running then are requeued.
        self.preempt_at: float | None = None
        self.preempted_from = self.preempted_until = math.inf

    @property
    def ready_at(self) -> float:
        """When the node can first run tasks: once started, and its start task succeeded if tasks wait."""
        run = self.start_task
        return run.end if run is not None and run.wait_for_success else self.booted_at

    def current_state(self, now: float) -> str:
        """The node state at ``now``."""
        if now < self.booted_at:
            return "creating" if now < self.booting_at else "starting"
        if self.transient_state is not None:
            if now < self.state_until:
                return self.transient_state
            if self.transient_state in ("deallocating",):
                return "deallocated"
            self.transient_state = None
        if self.state == "deallocated":
            return "deallocated"
        if self.preempted_from <= now < self.preempted_until:
            return "preempted"
        run = self.start_task
        if run is not None and run.wait_for_success:
            if now < run.end:
                return "waitingforstarttask"
            if run.exit_code != 0:
                return "starttaskfailed"
        if self.busy_from <= now < self.busy_until:
            return "running"
        return "idle"


class Pool(Entity):
    """A pool with its simulated nodes."""

    __slots__ = ("autoscale_run", "node_serial", "nodes", "resize_errors")

    def __init__(self, pool_id: str, doc: dict[str, Any], now: float) -> None:
        super().__init__(pool_id, doc, now)
        self.nodes: Collection[Node] = Collection()
        self.node_serial = 0
        self.autoscale_run: dict[str, Any] | None = None
        self.resize_errors: list[dict[str, Any]] = []

    def live_nodes(self, now: float) -> list[Node]:
        return [node for _, node in self.nodes.scan(0, now)]


class Certificate(Entity):
    """A certificate (``thumbprintAlgorithm``-``thumbprint`` is its id)."""

    __slots__ = ()


_AUTOSCALE_ASSIGNMENT = re.compile(r"^\s*\$(\w+)\s*=\s*(.+?)\s*$")


def evaluate_formula(formula: str) -> tuple[dict[str, str], str | None]:
    """Evaluate a trivial autoscale formula: assignments of integer literals to ``$Variables``.

    Returns the assigned values and an error message (``None`` when the formula is understood).
    """
    values: dict[str, str] = {}
    for statement in formula.split(";"):
        if not statement.strip():
            continue
        match = _AUTOSCALE_ASSIGNMENT.match(statement)
        if match is None:
            return values, f"unsupported statement: {statement.strip()}"
        name, expression = match.groups()
        expression = expression.strip()
        if re.fullmatch(r"-?\d+", expression) or (
            re.fullmatch(r"\w+", expression) and name == "NodeDeallocationOption"
        ):
            values[name] = expression
        elif expression.startswith("$") and expression[1:] in values:
            values[name] = values[expression[1:]]
        else:
            return values, f"unsupported expression for ${name}: {expression}"
    return values, None


class Store:
    """The whole account: pools, jobs, job schedules, certificates, applications.

    ``simulate`` decides whether tasks are scheduled from the clock (True) or by the real executor (False).
    """

    def __init__(
        self,
        *,
        simulate: bool = True,
        task_duration: tuple[float, float] = C.SIMULATED_TASK_SECONDS,
        discard_tasks: bool = False,
        delete_delay: float = 0.2,
        seed: int | None = None,
        applications: list[dict[str, Any]] | None = None,
        realism: Realism | None = None,
    ) -> None:
        self.simulate = simulate
        self.realism = realism or Realism()
        self.task_duration = task_duration
        self.discard_tasks = discard_tasks
        self.delete_delay = delete_delay
        self.seed = seed
        self.random = random.Random(seed)
        self.pools: Collection[Pool] = Collection()
        self.jobs: Collection[Job] = Collection()
        self.schedules: Collection[JobSchedule] = Collection()
        self.certificates: Collection[Certificate] = Collection()
        self.applications: list[dict[str, Any]] = applications or [
            {"id": "emulator-app", "displayName": "Emulator application", "versions": ["1.0"]}
        ]
        self.pending: list[tuple[Job, TaskRecord]] = []
        self.schedulers: dict[str, PoolScheduler] = {}
        # ``Realism.task_count_lag``: per job (lower-case id), the job, when its counts were taken, and them.
        self.count_snapshots: dict[str, tuple[Job, float, dict[str, dict[str, int]]]] = {}

    # ---- lookups -------------------------------------------------------------------------------------

    def pool(self, pool_id: str, now: float) -> Pool:
        pool = self.pools.find(pool_id, now)
        if pool is None:
            raise ServiceError("PoolNotFound")
        return pool

    def job(self, job_id: str, now: float) -> Job:
        self.catch_up_schedules(now)
        job = self.jobs.find(job_id, now)
        if job is None:
            raise ServiceError("JobNotFound")
        self.refresh_job(job, now)
        return job

    def schedule(self, schedule_id: str, now: float) -> JobSchedule:
        self.catch_up_schedules(now)
        schedule = self.schedules.find(schedule_id, now)
        if schedule is None:
            raise ServiceError("JobScheduleNotFound")
        return schedule

    def node(self, pool_id: str, node_id: str, now: float) -> tuple[Pool, Node]:
        pool = self.pool(pool_id, now)
        self.advance_pool(pool.id.lower(), now)
        node = pool.nodes.find(node_id, now)
        if node is None:
            raise ServiceError("NodeNotFound")
        return pool, node

    def task(self, job: Job, task_id: str, now: float) -> TaskRecord:
        task = job.tasks.find(task_id, now)
        if task is None:
            raise ServiceError("TaskNotFound")
        self.resolve(job, task, now)
        return task

    # ---- pools ---------------------------------------------------------------------------------------

    def create_pool(self, doc: dict[str, Any], now: float) -> Pool:
        existing = self.pools.find(doc["id"], now)
        if existing is not None:
            raise ServiceError("PoolBeingDeleted" if existing.deleting_until is not None else "PoolExists")
        doc.setdefault("resizeTimeout", "PT15M")
        doc.setdefault("enableInterNodeCommunication", False)
        doc.setdefault("taskSlotsPerNode", C.TASK_SLOTS_PER_NODE_DEFAULT)
        doc.setdefault("taskSchedulingPolicy", {"nodeFillType": "spread"})
        self.advance_pool(doc["id"].lower(), now)
        pool = self.pools.add(Pool(doc["id"], doc, now))
        scheduler = self.schedulers.get(pool.id.lower())
        if scheduler is not None:
            scheduler.retry_oversized()
        if doc.get("enableAutoScale"):
            doc.setdefault("autoScaleEvaluationInterval", "PT15M")
            self.run_autoscale(pool, doc.get("autoScaleFormula") or "", now, apply=True)
        else:
            doc["enableAutoScale"] = False
            self.resize_pool(
                pool,
                int(doc.get("targetDedicatedNodes") or 0),
                int(doc.get("targetLowPriorityNodes") or 0),
                now,
            )
        return pool

    def resize_pool(
        self, pool: Pool, dedicated: int, low_priority: int, now: float, deallocation: str = "requeue"
    ) -> None:
        """Resize ``pool``; the tasks running on nodes it loses are requeued unless ``deallocation`` (the
        request's ``nodeDeallocationOption``) is ``taskcompletion`` or ``retaineddata`` (they finish). At most
        ``C.MAX_NODES_PER_POOL`` nodes of each kind: past that the pool stops short with a quota resize
        error, as the service does at the account's quota."""
        if dedicated < 0 or low_priority < 0:
            raise ServiceError("InvalidPropertyValue", values=[("Reason", "Node counts cannot be negative")])
        self.advance_pool(pool.id.lower(), now)
        pool.doc["targetDedicatedNodes"] = dedicated
        pool.doc["targetLowPriorityNodes"] = low_priority
        nodes = pool.live_nodes(now)
        pool.resize_errors = [error for error in pool.resize_errors if "CoreQuota" not in error["code"]]
        pool.resize_errors += [
            _quota_error(code, target)
            for code, target in (
                ("AccountCoreQuotaReached", dedicated),
                ("AccountLowPriorityCoreQuotaReached", low_priority),
            )
            if target > C.MAX_NODES_PER_POOL
        ]
        dedicated, low_priority = (
            min(dedicated, C.MAX_NODES_PER_POOL),
            min(low_priority, C.MAX_NODES_PER_POOL),
        )
        for is_dedicated, target in ((True, dedicated), (False, low_priority)):
            group = [node for node in nodes if node.is_dedicated == is_dedicated]
            target, quota_error = self._within_quota(pool, is_dedicated, target, now)
            if quota_error is not None:
                pool.resize_errors.append(quota_error)
            for node in group[target:]:
                self.deallocate_node(node, deallocation, now)
                pool.nodes.remove(node)
            for index in _free_indices(pool, target - len(group), now):
                pool.nodes.add(self._new_node(pool, is_dedicated, index, now))
        self.capacity_changed(pool.id)
        pool.touch(now)

    def _new_node(self, pool: Pool, is_dedicated: bool, index: int, now: float) -> Node:
        """A node allocated to ``pool`` at ``now``: its extensions, start task, start-up and preemption."""
        pool.node_serial += 1
        digest = hashlib.sha256(f"{pool.id}/{pool.node_serial}".encode()).hexdigest()
        node = Node(f"tvmps_{digest}_{'d' if is_dedicated else 'p'}", pool.id, is_dedicated, now, index)
        node.windows = is_windows(pool.doc)
        node.booting_at, node.booted_at = plan_start_up(self.realism, now)
        configuration = pool.doc.get("virtualMachineConfiguration") or {}
        node.extensions = [dict(extension) for extension in configuration.get("extensions") or []]
        start_task = pool.doc.get("startTask")
        if isinstance(start_task, dict) and start_task.get("commandLine"):
            node.start_task = StartTaskRun(start_task, node.booted_at)
            if self.realism.node_startup:
                node.start_task.end += self.realism.start_task_seconds
        if not is_dedicated and self.realism.preemption:
            node.preempted_from, node.preempted_until = plan_preemption(self.realism, node.ready_at)
            node.preempt_at = node.preempted_from
        return node

    def _within_quota(
        self, pool: Pool, dedicated: bool, target: int, now: float
    ) -> tuple[int, dict[str, Any] | None]:
        """How many such nodes ``pool`` may hold within the account cores (``Realism.core_quota``)."""
        if not self.realism.core_quota:
            return target, None
        elsewhere = sum(
            vm_cores(str(other.doc.get("vmSize", "")))
            for _, other in self.pools.scan(0, now)
            if other is not pool and other.deleting_until is None
            for node in other.live_nodes(now)
            if node.is_dedicated == dedicated
        )
        per_node = vm_cores(str(pool.doc.get("vmSize", "")))
        return nodes_within_quota(self.realism, per_node, elsewhere, target, dedicated)

    def run_autoscale(self, pool: Pool, formula: str, now: float, *, apply: bool) -> dict[str, Any]:
        values, error = evaluate_formula(formula)
        run: dict[str, Any] = {"timestamp": now}
        if error is None:
            dedicated = values.setdefault("TargetDedicatedNodes", values.get("TargetDedicated", "0"))
            low = values.setdefault("TargetLowPriorityNodes", "0")
            values.setdefault("NodeDeallocationOption", "requeue")
            run["results"] = ";".join(
                f"${name}={values[name]}"
                for name in ("TargetDedicatedNodes", "TargetLowPriorityNodes", "NodeDeallocationOption")
            )
            if apply:
                self.resize_pool(pool, max(0, int(dedicated)), max(0, int(low)), now)
        else:
            run["error"] = {
                "code": "InvalidAutoScaleFormula",
                "message": "The autoscale formula could not be evaluated.",
                "values": [{"name": "Reason", "value": error}],
            }
        if apply:
            pool.autoscale_run = run
        return run

    def delete_pool(self, pool: Pool, now: float) -> None:
        if pool.deleting_until is not None:
            raise ServiceError("PoolBeingDeleted")
        self.advance_pool(pool.id.lower(), now)
        pool.set_state("deleting", now)
        pool.deleting_until = now + self.delete_delay
        pool.touch(now)

    # ---- jobs ----------------------------------------------------------------------------------------

    def create_job(self, doc: dict[str, Any], now: float, schedule_id: str | None = None) -> Job:
        existing = self.jobs.find(doc["id"], now)
        if existing is not None:
            raise ServiceError("JobBeingDeleted" if existing.deleting_until is not None else "JobExists")
        doc.setdefault("usesTaskDependencies", False)
        doc.setdefault("priority", 0)
        doc.setdefault("allowTaskPreemption", False)
        doc.setdefault("maxParallelTasks", -1)
        doc.setdefault("onAllTasksComplete", "noaction")
        doc.setdefault("onTaskFailure", "noaction")
        constraints = doc.setdefault("constraints", {})
        constraints.setdefault("maxWallClockTime", C.UNBOUNDED_DURATION)
        constraints.setdefault("maxTaskRetryCount", 0)
        job = self.jobs.add(Job(doc["id"], doc, now))
        job.schedule_id = schedule_id
        return job

    def refresh_job(self, job: Job, now: float) -> None:
        """Complete a job whose tasks are all done when ``onAllTasksComplete`` asks for it."""
        if job.state != "active" or str(job.doc.get("onAllTasksComplete", "")).lower() != "terminatejob":
            return
        if len(job.tasks) == 0 and job.discarded == 0:
            return
        last_end = 0.0
        self.sync(job, now)
        for _, task in job.tasks.scan(0, now):
            if task_state(task, now) != "completed":
                return
            last_end = max(last_end, task.end or now)
        job.set_state("completed", last_end)
        job.end_time = last_end
        job.terminate_reason = "AllTasksComplete"

    def disable_job(self, job: Job, option: str, now: float) -> None:
        if job.state in ("disabled", "disabling"):
            raise ServiceError("JobDisabled")
        if job.state != "active":
            raise ServiceError("JobNotActive")
        option = option.lower()
        self.sync(job, now)
        job.disabled = True
        for _, task in job.tasks.scan(0, now):
            if task_state(task, now) != "running":
                continue
            if option == "requeue":
                self.stop_process(task)
                self._release(job, task)
                task.start = task.end = None
                task.requeue_count += 1
                if self.simulate:
                    self._scheduler(job, now).enqueue(job, task, [])
                else:
                    task.exit_code = None
                    self.pending.append((job, task))
            elif option == "terminate":
                self._terminate_task(job, task, now)
        job.set_state("disabled", now)
        job.touch(now)

    def enable_job(self, job: Job, now: float) -> None:
        if job.state not in ("disabled", "disabling"):
            raise ServiceError("JobNotActive")
        self.sync(job, now)
        job.disabled = False
        if self.simulate:
            self._scheduler(job, now).resume(job.parked)
        job.parked = []
        job.enabled_at = now
        job.set_state("active", now)
        job.touch(now)

    def terminate_job(self, job: Job, reason: str | None, now: float) -> None:
        if job.state in ("completed", "terminating"):
            raise ServiceError("JobCompleted")
        if job.state == "deleting":
            raise ServiceError("JobBeingDeleted")
        self.sync(job, now)
        for _, task in job.tasks.scan(0, now):
            if task_state(task, now) != "completed":
                self._terminate_task(job, task, now)
        job.set_state("completed", now)
        job.end_time = now
        job.terminate_reason = reason or "UserTerminate"
        job.touch(now)

    def delete_job(self, job: Job, now: float) -> None:
        if job.deleting_until is not None:
            raise ServiceError("JobBeingDeleted")
        self.sync(job, now)
        for _, task in job.tasks.scan(0, now):
            if task_state(task, now) != "completed":
                self._terminate_task(job, task, now)
        job.set_state("deleting", now)
        job.deleting_until = now + self.delete_delay
        job.touch(now)

    # ---- job schedules ---------------------------------------------------------------------------------

    def create_schedule(self, doc: dict[str, Any], now: float) -> JobSchedule:
        existing = self.schedules.find(doc["id"], now)
        if existing is not None:
            raise ServiceError(
                "JobScheduleBeingDeleted" if existing.deleting_until is not None else "JobScheduleExists"
            )
        schedule = self.schedules.add(JobSchedule(doc["id"], doc, now))
        if self.realism.schedule_recurrence:
            not_until = _recurrence(schedule).not_until
            schedule.next_due = max(now, not_until) if not_until is not None else now
            self.catch_up_schedules(now)
        else:
            self.start_scheduled_job(schedule, now)
        return schedule

    def catch_up_schedules(self, now: float) -> None:
        """Create the jobs the active schedules owe by ``now`` (``Realism.schedule_recurrence``); complete a
        schedule once ``doNotRunAfter`` has passed and it has no active job."""
        if not self.realism.schedule_recurrence:
            return
        for _, schedule in self.schedules.scan(0, now):
            recurrence = _recurrence(schedule)
            while schedule.state == "active" and schedule.next_due is not None and schedule.next_due <= now:
                active, end = self._recent_job(schedule, now)
                create_at, following = next_scheduled_job(recurrence, schedule.next_due, end, active, now)
                if create_at is None and following == schedule.next_due:
                    break  # waiting for the previous job
                schedule.next_due = following
                if create_at is not None:
                    self._create_scheduled_job(schedule, create_at)
            not_after = recurrence.not_after
            if schedule.state == "active" and not_after is not None and now > not_after:
                active, end = self._recent_job(schedule, now)
                if not active:
                    schedule.next_due = None
                    schedule.set_state("completed", max(not_after, end or not_after))
                    schedule.end_time = schedule.state_time

    def _recent_job(self, schedule: JobSchedule, now: float) -> tuple[bool, float | None]:
        """Whether the schedule's most recent job is still active, and when it ended."""
        previous = self.jobs.find(schedule.recent_job_id, now) if schedule.recent_job_id else None
        if previous is None:
            return False, None
        self.refresh_job(previous, now)
        return previous.state not in ("completed", "deleting"), previous.end_time

    def start_scheduled_job(self, schedule: JobSchedule, now: float) -> None:
        configuration = schedule.doc.get("schedule") or {}
        not_until = configuration.get("doNotRunUntil")
        if not_until is not None:
            return
        self._create_scheduled_job(schedule, now)

    def _create_scheduled_job(self, schedule: JobSchedule, now: float) -> None:
        schedule.job_count += 1
        job_doc = copy.deepcopy(schedule.doc.get("jobSpecification") or {})
        job_doc["id"] = f"{schedule.id}:job-{schedule.job_count}"
        job = self.create_job(job_doc, now, schedule_id=schedule.id)
        schedule.recent_job_id = job.id
        manager = job_doc.get("jobManagerTask")
        if isinstance(manager, dict) and valid_id(manager.get("id")) and manager.get("commandLine"):
            self.add_task(job, {"id": manager["id"], "commandLine": manager["commandLine"]}, now)

    def schedule_jobs(self, schedule: JobSchedule, now: float) -> list[Job]:
        return [job for _, job in self.jobs.scan(0, now) if job.schedule_id == schedule.id]

    def terminate_schedule(self, schedule: JobSchedule, now: float) -> None:
        if schedule.state in ("completed", "terminating"):
            raise ServiceError("JobScheduleCompleted")
        if schedule.deleting_until is not None:
            raise ServiceError("JobScheduleBeingDeleted")
        for job in self.schedule_jobs(schedule, now):
            if job.state not in ("completed", "deleting"):
                self.terminate_job(job, "UserTerminate", now)
        schedule.set_state("completed", now)
        schedule.end_time = now
        schedule.touch(now)

    def delete_schedule(self, schedule: JobSchedule, now: float) -> None:
        if schedule.deleting_until is not None:
            raise ServiceError("JobScheduleBeingDeleted")
        for job in self.schedule_jobs(schedule, now):
            if job.deleting_until is None:
                self.delete_job(job, now)
        schedule.set_state("deleting", now)
        schedule.deleting_until = now + self.delete_delay
        schedule.touch(now)

    # ---- tasks ---------------------------------------------------------------------------------------

    def check_can_add_tasks(self, job: Job) -> None:
        if job.deleting_until is not None:
            raise ServiceError("JobBeingDeleted")
        if job.state in ("completed", "terminating"):
            raise ServiceError("JobCompleted")

    def task_exists(self, job: Job, task_id: str, now: float) -> bool:
        return job.tasks.find(task_id, now) is not None or task_id.lower() in job.discarded_ids

    def add_task(self, job: Job, doc: dict[str, Any], now: float) -> TaskRecord | None:
        """Add a task (its id and command line already validated); ``None`` when tasks are discarded."""
        if self.task_exists(job, doc["id"], now):
            raise ServiceError("TaskExists")
        if self.discard_tasks:
            job.discarded += 1
            job.discarded_ids.add(doc["id"].lower())
            return None
        doc.setdefault("requiredSlots", 1)
        doc.setdefault("userIdentity", {"autoUser": {"scope": "pool", "elevationLevel": "nonadmin"}})
        constraints = doc.setdefault("constraints", {})
        constraints.setdefault("maxWallClockTime", C.UNBOUNDED_DURATION)
        constraints.setdefault("retentionTime", C.DEFAULT_RETENTION)
        constraints.setdefault(
            "maxTaskRetryCount", (job.doc.get("constraints") or {}).get("maxTaskRetryCount", 0)
        )
        task = job.tasks.add(TaskRecord(doc["id"], doc, now, job.id))
        self._plan(task)
        self._queue(job, task, now)
        return task

    def _queue(self, job: Job, task: TaskRecord, now: float) -> None:
        """Hand a new or reactivated task to its pool's scheduler (or to the runner in execute mode)."""
        if not self.simulate:
            self.pending.append((job, task))
            return
        scheduler = self._scheduler(job, now)
        self.sync(job, now)
        scheduler.enqueue(job, task, self.dependency_ids(job, task), self.dependency_ranges(job, task))

    def _plan(self, task: TaskRecord) -> None:
        """Decide a simulated task's exit code and duration from its command line."""
        if not self.simulate:
            return
        outcome = simulate(str(task.doc.get("commandLine", "")))
        task.exit_code = outcome.exit_code
        low, high = self.task_duration
        task.duration = outcome.duration if outcome.duration is not None else self.random.uniform(low, high)
        retries = int((task.doc.get("constraints") or {}).get("maxTaskRetryCount") or 0)
        task.attempts = 1 if outcome.exit_code == 0 else 1 + (3 if retries < 0 else retries)
        task.failure = upload_failure(task.doc, outcome.exit_code)

    def dependency_ids(self, job: Job, task: TaskRecord) -> list[str]:
        """The ids ``task`` names in ``dependsOn.taskIds``."""
        depends_on = task.doc.get("dependsOn")
        if not depends_on or not job.doc.get("usesTaskDependencies"):
            return []
        return [str(value) for value in depends_on.get("taskIds") or []]

    def dependency_ranges(self, job: Job, task: TaskRecord) -> list[tuple[int, int]]:
        """The ``dependsOn.taskIdRanges`` of ``task`` as ``(start, end)``, never expanded."""
        depends_on = task.doc.get("dependsOn")
        if not depends_on or not job.doc.get("usesTaskDependencies"):
            return []
        return [(int(r["start"]), int(r["end"])) for r in depends_on.get("taskIdRanges") or []]

    def dependencies_met(self, job: Job, task: TaskRecord, now: float) -> bool:
        """Whether every task ``task`` depends on exists and has succeeded (asked by the runner)."""
        for dependency_id in self.dependency_ids(job, task):
            dependency = job.tasks.find(dependency_id, now)
            if dependency is None or not succeeded_by(dependency, now):
                return False
        return all(
            succeeded_in_range(job, start, end, now) == end - start + 1
            for start, end in self.dependency_ranges(job, task)
        )

    def _scheduler(self, job: Job, now: float) -> PoolScheduler:
        key = job.scheduler_key
        scheduler = self.schedulers.get(key)
        if scheduler is None:
            scheduler = self.schedulers[key] = PoolScheduler(now, job_policies=self.realism.job_scheduling)
        return scheduler

    def slots(self, key: str, now: float) -> tuple[dict[str, tuple[Node | None, int]], int]:
        """The slots each schedulable node of pool ``key`` offers, and the slots per node."""
        if key.startswith("auto-pool:"):
            job = self.jobs.items.get(key.partition(":")[2])
            specification = ((job.doc.get("poolInfo") or {}) if job is not None else {}).get(
                "autoPoolSpecification"
            ) or {}
            pool_doc = specification.get("pool") or {}
            per_node = _positive(pool_doc.get("taskSlotsPerNode"), C.TASK_SLOTS_PER_NODE_DEFAULT)
            count = sum(
                min(_positive(pool_doc.get(name), 0), C.MAX_NODES_PER_POOL)
                for name in ("targetDedicatedNodes", "targetLowPriorityNodes")
            )
            return {f"tvmps_{key[10:]}_{index}_d": (None, per_node) for index in range(count)}, per_node
        pool = self.pools.find(key, now)
        if pool is None or pool.deleting_until is not None:
            return {}, C.TASK_SLOTS_PER_NODE_DEFAULT
        per_node = _positive(pool.doc.get("taskSlotsPerNode"), C.TASK_SLOTS_PER_NODE_DEFAULT)
        return {
            node.id: (node, per_node)
            for node in pool.live_nodes(now)
            if node.scheduling_state == "enabled" and node.current_state(now) in ("idle", "running")
        }, per_node

    def advance_pool(self, key: str, now: float) -> None:
        """Bring the simulated tasks of pool ``key`` (lower-case id) up to ``now``."""
        scheduler = self.schedulers.get(key)
        if scheduler is None or (now <= scheduler.clock and not scheduler.dirty):
            return
        if self.realism.preemption:
            self._preempt(key, scheduler, now)
        slots, per_node = self.slots(key, now)
        scheduler.advance(now, slots, per_node)

    def _preempt(self, key: str, scheduler: PoolScheduler, now: float) -> None:
        """Preempt the spot nodes of pool ``key`` due by ``now``, requeueing the tasks they ran then."""
        pool = self.pools.find(key, now)
        due = sorted(
            (node.preempt_at, node.seq, node)
            for node in (pool.live_nodes(now) if pool is not None else [])
            if node.preempt_at is not None and node.preempt_at <= now
        )
        for moment, _, node in due:
            node.preempt_at = None
            if moment > scheduler.clock:
                slots, per_node = self.slots(key, moment)
                scheduler.advance(moment, slots, per_node)
            self.requeue_tasks_on(node, moment)

    def deallocate_node(self, node: Node, option: str, now: float) -> None:
        """What becomes of the tasks running on a node leaving its pool (``nodeDeallocationOption``):
        ``requeue`` (the default) puts them back in the queue, ``terminate`` ends them; ``taskcompletion``
        and ``retaineddata`` let them finish. Call after the pool was advanced to ``now``."""
        option = option.lower()
        if option == "requeue":
            self.requeue_tasks_on(node, now)
        elif option == "terminate":
            scheduler = self.schedulers.get(node.pool_id.lower())
            for job, task in scheduler.running_on(node.id, now) if scheduler is not None else []:
                self._terminate_task(job, task, now)

    def requeue_tasks_on(self, node: Node, at: float) -> None:
        """Put the tasks running on ``node`` at ``at`` back in the queue (it was preempted or removed).

        Call after the node's pool was advanced to ``at``; a no-op when tasks are executed for real."""
        scheduler = self.schedulers.get(node.pool_id.lower())
        if scheduler is None or not self.simulate:
            return
        for job, task in scheduler.running_on(node.id, at):
            scheduler.release(task)
            task.start = task.end = None
            task.node_id = None
            task.requeue_count += 1
            task.touch(at)
            scheduler.enqueue(job, task, [])

    def sync(self, job: Job, now: float) -> None:
        """Bring the simulated tasks of ``job``'s pool up to ``now``."""
        if self.simulate:
            self.advance_pool(job.scheduler_key, now)

    def capacity_changed(self, pool_id: str) -> None:
        """Note that pool ``pool_id`` gained or lost slots (after ``advance_pool``)."""
        scheduler = self.schedulers.get(pool_id.lower())
        if scheduler is not None:
            scheduler.dirty = True

    def resolve(self, job: Job, task: TaskRecord, now: float) -> None:
        """Bring ``task`` (and every task sharing its pool) up to ``now``."""
        self.sync(job, now)

    def _release(self, job: Job, task: TaskRecord) -> None:
        """Invalidate ``task``'s place in its scheduler, freeing its slots if it runs (after ``sync``)."""
        scheduler = self.schedulers.get(job.scheduler_key)
        if scheduler is not None:
            scheduler.release(task)
        else:
            task.generation += 1

    def stop_process(self, task: TaskRecord) -> None:
        """Kill the process group of an executed task, if it runs (a no-op in simulated mode)."""
        if task.process_group is not None:
            kill_group(task.process_group)
            task.process_group = None

    def stop_all_processes(self) -> None:
        """Kill the process group of every executed task still running."""
        for job in list(self.jobs.order):
            for task in job.tasks.order:
                self.stop_process(task)

    def _terminate_task(self, job: Job, task: TaskRecord, now: float) -> None:
        self.stop_process(task)
        self.sync(job, now)
        self._release(job, task)
        was_running = task.start is not None and now >= task.start
        if not was_running:
            task.start = None
        task.end = now
        task.exit_code = None if not was_running else task.exit_code
        task.failure = {
            "category": "usererror",
            "code": "TaskEnded",
            "message": "Task Was Ended by User Request",
        }
        task.touch(now)

    def terminate_task(self, job: Job, task: TaskRecord, now: float) -> None:
        self.sync(job, now)
        if task_state(task, now) == "completed":
            raise ServiceError("TaskCompleted")
        self._terminate_task(job, task, now)

    def reactivate_task(self, job: Job, task: TaskRecord, now: float) -> None:
        self.sync(job, now)
        state = task_state(task, now)
        if state != "completed":
            raise ServiceError("TaskNotCompleted")
        if task.exit_code == 0 and task.failure is None:
            raise ServiceError("TaskNotFailed")
        task.start = task.end = None
        task.failure = None
        task.not_before = now
        task.generation += 1
        self._plan(task)
        task.touch(now)
        if not self.simulate:
            task.exit_code = None
        self._queue(job, task, now)

    def delete_task(self, job: Job, task: TaskRecord, now: float) -> None:
        self.sync(job, now)
        if task_state(task, now) != "completed":
            self._terminate_task(job, task, now)
        task.generation += 1
        job.tasks.remove(task)

    def task_counts(self, job: Job, now: float) -> dict[str, dict[str, int]]:
        """The job's task counts; with ``Realism.task_count_lag`` a snapshot up to that many seconds old."""
        if not self.realism.task_count_lag:
            return self._exact_task_counts(job, now)
        key = job.id.lower()
        cached = self.count_snapshots.get(key)
        if cached is None or cached[0] is not job or now - cached[1] >= self.realism.task_count_lag_seconds:
            cached = self.count_snapshots[key] = (job, now, self._exact_task_counts(job, now))
        return copy.deepcopy(cached[2])

    def _exact_task_counts(self, job: Job, now: float) -> dict[str, dict[str, int]]:
        counts = {"active": 0, "running": 0, "completed": 0, "succeeded": 0, "failed": 0}
        slots = dict(counts)
        self.sync(job, now)
        for _, task in job.tasks.scan(0, now):
            state = task_state(task, now)
            required = required_slots(task)
            names = [state]
            if state == "completed":
                names.append("succeeded" if task.exit_code == 0 and task.failure is None else "failed")
            for name in names:
                counts[name] += 1
                slots[name] += required
        for table in (counts, slots):
            table["completed"] += job.discarded
            table["succeeded"] += job.discarded
        return {"taskCounts": counts, "taskSlotCounts": slots}

    def wall_clock_limit(self, task: TaskRecord) -> float | None:
        text = (task.doc.get("constraints") or {}).get("maxWallClockTime")
        if not text or text == C.UNBOUNDED_DURATION:
            return None
        return parse_duration(str(text))

    # ---- certificates -------------------------------------------------------------------------------

    def certificate(self, algorithm: str, thumbprint: str, now: float) -> Certificate:
        certificate = self.certificates.find(f"{algorithm}-{thumbprint}", now)
        if certificate is None:
            raise ServiceError("CertificateNotFound")
        return certificate


def _quota_error(code: str, target: int) -> dict[str, Any]:
    kind = "low-priority " if "LowPriority" in code else ""
    return {
        "code": code,
        "message": f"The specified account has reached its {kind}core quota; the pool was not fully resized.",
        "values": [
            {"name": "TargetNodes", "value": str(target)},
            {"name": "MaxNodes", "value": str(C.MAX_NODES_PER_POOL)},
        ],
    }


def _recurrence(schedule: JobSchedule) -> Recurrence:
    """A schedule's ``schedule`` settings in seconds."""
    configuration = schedule.doc.get("schedule") or {}

    def moment(name: str) -> float | None:
        value = configuration.get(name)
        return parse_time(value) if isinstance(value, str) else None

    def seconds(name: str) -> float | None:
        value = configuration.get(name)
        return parse_duration(value) if isinstance(value, str) else None

    return Recurrence(
        moment("doNotRunUntil"),
        moment("doNotRunAfter"),
        seconds("recurrenceInterval"),
        seconds("startWindow"),
    )


def _free_indices(pool: Pool, count: int, now: float) -> list[int]:
    """The ``count`` lowest node indices no live node of ``pool`` holds."""
    if count <= 0:
        return []
    taken = {node.index for node in pool.live_nodes(now)}
    free = (index for index in range(len(taken) + count) if index not in taken)
    return [next(free) for _ in range(count)]


def _positive(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else default


def now() -> float:
    """The emulator clock."""
    return time.time()
