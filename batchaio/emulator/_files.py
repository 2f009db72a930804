"""Files of tasks and nodes: virtual ones for simulated runs, the real directory tree for executed ones."""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

from batchaio.emulator._executor import simulated_output, upload_logs
from batchaio.emulator._state import Job, Node, Pool, TaskRecord, task_state

__all__ = ["FileEntry", "node_dir", "node_files", "task_dir", "task_files"]


@dataclass(frozen=True)
class FileEntry:
    """One file or directory, with its content (files of simulated runs) or its path on disk."""

    name: str
    is_directory: bool
    created: float
    modified: float
    data: bytes | None = None
    path: Path | None = None

    @property
    def size(self) -> int:
        if self.is_directory:
            return 0
        if self.data is not None:
            return len(self.data)
        assert self.path is not None
        try:
            return self.path.stat().st_size
        except OSError:
            return 0

    def read(self) -> bytes:
        if self.data is not None:
            return self.data
        if self.path is None or self.is_directory:
            return b""
        try:
            return self.path.read_bytes()
        except OSError:
            return b""


def _inside(root: Path, path: Path) -> Path:
    """``path``, after checking that it stays under ``root`` (ids are validated; this is the backstop)."""
    if not path.resolve().is_relative_to(root.resolve()):
        raise ValueError("a task or node directory would leave the emulator's work directory")
    return path


def node_dir(root: Path, pool_id: str, node_id: str) -> Path:
    """The directory of a node under ``root``; ``ValueError`` if the ids would lead outside it."""
    return _inside(root, root / pool_id / node_id)


def task_dir(root: Path, job: Job, task: TaskRecord) -> Path:
    """The directory of a task under ``root``; ``ValueError`` if the ids would lead outside it."""
    node = node_dir(root, task.pool_id or "emulator-pool", task.node_id or "node")
    return _inside(root, node / "workitems" / job.id / "job-1" / task.id)


def _walk(base: Path, prefix: str = "") -> dict[str, FileEntry]:
    entries: dict[str, FileEntry] = {}
    if not base.is_dir():
        return entries
    for dirpath, dirnames, filenames in os.walk(base):
        relative = Path(dirpath).relative_to(base).as_posix()
        relative = "" if relative == "." else relative + "/"
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            try:
                stat = path.stat()
            except OSError:
                continue
            full = f"{prefix}{relative}{name}"
            entries[full] = FileEntry(full, path.is_dir(), stat.st_ctime, stat.st_mtime, path=path)
    return entries


def task_files(job: Job, task: TaskRecord, now: float, root: Path | None) -> dict[str, FileEntry]:
    """The files of a task by relative name (``stdout.txt``, ``wd``, ``wd/out.txt``...)."""
    if task.start is None or task_state(task, now) == "active":
        return {}
    if root is not None:
        try:
            entries = _walk(task_dir(root, job, task))
        except ValueError:
            entries = {}
    else:
        stdout, stderr = simulated_output(str(task.doc.get("commandLine", "")), task.exit_code)
        modified = task.end if task.end is not None and task.end <= now else task.start
        entries = {
            "stderr.txt": FileEntry("stderr.txt", False, task.start, modified, data=stderr),
            "stdout.txt": FileEntry("stdout.txt", False, task.start, modified, data=stdout),
            "wd": FileEntry("wd", True, task.start, task.start),
        }
        if not task.on_windows:
            # Linux nodes give every task a directory for its certificates.
            entries["certs"] = FileEntry("certs", True, task.start, task.start)
        if task_state(task, now) == "completed":
            for name, data in upload_logs(task.doc, task.exit_code).items():
                entries[name] = FileEntry(name, False, modified, modified, data=data)
    if task.deleted_files:
        entries = {
            name: entry
            for name, entry in entries.items()
            if not any(name == gone or name.startswith(gone + "/") for gone in task.deleted_files)
        }
    return entries


# The directories the node agent lays out at a node's root (``startup`` holds the start task's files).
_NODE_DIRECTORIES = (
    "applications",
    "fsmounts",
    "shared",
    "startup",
    "volatile",
    "volatile/startup",
    "workitems",
)


def node_files(
    pool: Pool, node: Node, root: Path | None, tasks: list[tuple[Job, TaskRecord]], now: float
) -> dict[str, FileEntry]:
    """The files of a node by name with ``/`` separators: the agent's directories, the start task's files
    (only when the pool has a start task) and the directories of the ``tasks`` that ran on it."""
    created = node.created
    entries = {name: FileEntry(name, True, created, created) for name in _NODE_DIRECTORIES}
    run = node.start_task
    if run is not None:
        command = str((pool.doc.get("startTask") or {}).get("commandLine", ""))
        stdout, stderr = simulated_output(command, run.exit_code)
        started, ended = run.start, min(run.end, time.time())
        entries["startup/stdout.txt"] = FileEntry("startup/stdout.txt", False, started, ended, data=stdout)
        entries["startup/stderr.txt"] = FileEntry("startup/stderr.txt", False, started, ended, data=stderr)
        entries["startup/wd"] = FileEntry("startup/wd", True, started, started)
    for job, task in tasks:
        if task.start is None or task_state(task, now) == "active":
            continue
        directory = f"workitems/{job.id}/job-1/{task.id}"
        for name in (f"workitems/{job.id}", f"workitems/{job.id}/job-1", directory):
            entries.setdefault(name, FileEntry(name, True, task.start, task.start))
        for name, entry in task_files(job, task, now, root).items():
            full = f"{directory}/{name}"
            entries[full] = FileEntry(
                full, entry.is_directory, entry.created, entry.modified, entry.data, entry.path
            )
    if root is not None:
        with contextlib.suppress(ValueError):
            entries.update(_walk(node_dir(root, pool.id, node.id)))
    return entries
