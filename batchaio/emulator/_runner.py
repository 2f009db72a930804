"""The background loop of ``execute`` mode: runs eligible tasks as local processes (bounded).

A task starts when its job is enabled, its dependencies have succeeded, its pool has a node with
``requiredSlots`` free slots (``nodes x taskSlotsPerNode`` in all) and fewer than ``max_processes`` run.
"""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path
from typing import Any

import anyio

from batchaio.emulator._executor import run_process, task_environment, upload_failure, upload_logs
from batchaio.emulator._files import task_dir
from batchaio.emulator._scheduler import required_slots
from batchaio.emulator._state import Job, Node, Store, TaskRecord

__all__ = ["TaskRunner"]

_log = logging.getLogger("batchaio.emulator")

_POLL_SECONDS = 0.02


class TaskRunner:
    """Runs the store's pending tasks for real under ``root`` with at most ``max_processes`` at a time."""

    def __init__(self, store: Store, root: Path, max_processes: int, account: str) -> None:
        self.store = store
        self.root = root
        self.account = account
        self._limit = max(1, max_processes)
        self._running = 0
        # Slots taken by running processes, by (pool key, node id).
        self._used: dict[tuple[str, str], int] = {}

    async def run(self) -> None:
        """Loop forever (until cancelled), starting tasks whose job is enabled and dependencies succeeded."""
        async with anyio.create_task_group() as group:
            while True:
                self._start_eligible(group)
                await anyio.sleep(_POLL_SECONDS)

    def _eligible(self, job: Job, task: TaskRecord, now: float) -> bool:
        if job.disabled or job.removed or task.removed or task.failure is not None:
            return False
        return self.store.dependencies_met(job, task, now)

    def _node_for(self, job: Job, task: TaskRecord, now: float) -> tuple[str, Node | None] | None:
        """A node of the job's pool with room for ``task``, or ``None`` while there is none."""
        key = job.scheduler_key
        slots, _ = self.store.slots(key, now)
        need = required_slots(task)
        for node_id, (node, total) in slots.items():
            if total - self._used.get((key, node_id), 0) >= need:
                return node_id, node
        return None

    def _start_eligible(self, group: anyio.abc.TaskGroup) -> None:
        now = time.time()
        keep: list[tuple[Job, TaskRecord]] = []
        for job, task in self.store.pending:
            if task.removed or task.start is not None or task.failure is not None:
                continue
            try:
                chosen = (
                    self._node_for(job, task, now)
                    if self._running < self._limit and self._eligible(job, task, now)
                    else None
                )
            except Exception:  # as in _run_one: this task fails, the runner goes on
                _log.exception("the emulator could not schedule task %s of job %s", task.id, job.id)
                task.start = now
                _launch_failed(task)
                continue
            if chosen is None:
                keep.append((job, task))
                continue
            node_id, node = chosen
            self._running += 1
            slot = (job.scheduler_key, node_id)
            self._used[slot] = self._used.get(slot, 0) + required_slots(task)
            task.start = now
            task.pool_id = job.pool_id
            task.node_id = node_id
            if node is not None:
                node.tasks_run += 1
                node.busy_from = now if now >= node.busy_until else node.busy_from
                node.busy_until = float("inf")
            group.start_soon(self._run_one, job, task, slot, node)
        self.store.pending[:] = keep

    async def _run_one(self, job: Job, task: TaskRecord, slot: tuple[str, str], node: Node | None) -> None:
        try:
            await self._run_process(job, task)
        except Exception:  # one task's failure never stops the runner: that task fails, the others run
            _log.exception("the emulator could not run task %s of job %s", task.id, job.id)
            _launch_failed(task)
        finally:
            self._running -= 1
            self._used[slot] -= required_slots(task)
            if node is not None:
                node.busy_until = time.time()
                if task.exit_code == 0 and task.failure is None:
                    node.tasks_succeeded += 1

    async def _run_process(self, job: Job, task: TaskRecord) -> None:
        try:
            directory = task_dir(self.root, job, task)
        except ValueError:
            task.exit_code, task.end = 127, time.time()
            return
        environment = {
            "AZ_BATCH_ACCOUNT_NAME": self.account,
            "AZ_BATCH_POOL_ID": task.pool_id or "",
            "AZ_BATCH_NODE_ID": task.node_id or "",
            "AZ_BATCH_JOB_ID": job.id,
            "AZ_BATCH_TASK_ID": task.id,
            "AZ_BATCH_TASK_DIR": str(directory),
            "AZ_BATCH_TASK_WORKING_DIR": str(directory / "wd"),
            "AZ_BATCH_NODE_ROOT_DIR": str(self.root),
            "AZ_BATCH_NODE_SHARED_DIR": str(
                self.root / (task.pool_id or "") / (task.node_id or "") / "shared"
            ),
        }
        for setting in list(job.doc.get("commonEnvironmentSettings") or []) + list(
            task.doc.get("environmentSettings") or []
        ):
            if isinstance(setting, dict) and setting.get("name"):
                environment[str(setting["name"])] = str(setting.get("value") or "")
        generation = task.requeue_count

        def started(process_group: int) -> None:
            task.process_group = process_group
            if task.failure is not None or task.removed or task.requeue_count != generation:
                # Terminated, deleted or requeued while the process was being started.
                self.store.stop_process(task)

        try:
            code = await run_process(
                str(task.doc.get("commandLine", "")),
                task_dir=directory,
                environment=task_environment(environment),
                wall_clock_limit=self.store.wall_clock_limit(task),
                on_start=started,
            )
        except OSError:
            code = 127
        if task.requeue_count != generation:
            return  # requeued while it ran: the runner starts it again
        task.process_group = None
        if task.failure is None:
            task.exit_code = code
            task.failure = upload_failure(task.doc, code)
            _write_upload_logs(directory, task.doc, code)
            task.end = time.time()


def _launch_failed(task: TaskRecord) -> None:
    """End ``task`` as the service ends a task whose command line could not be started."""
    task.process_group = None
    if task.failure is None:
        task.exit_code = None
        task.failure = {
            "category": "usererror",
            "code": "CommandLaunchFailed",
            "message": "An error occurred when launching the task's command line.",
        }
        task.end = time.time()


def _write_upload_logs(directory: Path, doc: dict[str, Any], exit_code: int) -> None:
    """Write ``fileuploadout.txt`` and ``fileuploaderr.txt`` next to ``wd`` when the task had uploads."""
    for name, data in upload_logs(doc, exit_code).items():
        with contextlib.suppress(OSError):
            (directory / name).write_bytes(data)
