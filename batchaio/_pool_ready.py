"""Whether a pool is ready for work: ``client.pools.wait_until_ready``.

:func:`pool_verdict` is the decision, from the pool and its nodes as read: ready (allocation steady, enough
nodes idle or running), not ready yet, or never going to be (a :class:`~batchaio.PoolNotReadyError` saying
why). A pool fails only when the nodes that may still become ready are fewer than needed: one node whose
start task failed does not fail a pool of ten that needs five. The loop around it is thin: read, decide,
fetch the failed start tasks' stderr tails for the error, sleep.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING

import anyio
import attrs

from batchaio import _constants as C
from batchaio._failures import read_file_tail
from batchaio._polling import keep_polling
from batchaio._workflow_checks import check_count, check_seconds
from batchaio._workflow_errors import (
    NodesUnusableError,
    PoolNotReadyError,
    PoolResizeError,
    PoolWaitTimeoutError,
    StartTaskFailedError,
    StartTaskFailure,
)
from batchaio.errors import NotFoundError
from batchaio.models import AllocationState, BatchNode, BatchNodeState, BatchPool, BatchPoolState

if TYPE_CHECKING:
    from batchaio.resources import Nodes, Pools

__all__ = ["PoolVerdict", "pool_verdict", "wait_until_ready"]

# Nodes that take work now.
READY_STATES = frozenset({BatchNodeState.IDLE, BatchNodeState.RUNNING})
# Nodes that will not take work without someone acting on them.
UNUSABLE_STATES = frozenset({BatchNodeState.UNUSABLE, BatchNodeState.UNKNOWN, BatchNodeState.LEAVING_POOL})
START_TASK_STDERR = "startup/stderr.txt"
NODE_FIELDS = ("id", "state", "startTaskInfo")


@attrs.frozen
class PoolVerdict:
    """The decision about a pool: ``ready``, or ``error`` (it will not be), or neither (wait)."""

    ready: bool = False
    error: PoolNotReadyError | None = None
    summary: str = ""


def needed_nodes(pool: BatchPool, min_nodes: int | None) -> int:
    """Nodes that must be idle or running: ``min_nodes``, or else every target node (at least one)."""
    if min_nodes is not None:
        return min_nodes
    return max(1, (pool.target_dedicated_nodes or 0) + (pool.target_low_priority_nodes or 0))


def quota_codes(pool: BatchPool) -> list[str]:
    """The resize error codes about quota (``AccountCoreQuotaReached``, ...)."""
    return [e.code for e in pool.resize_errors or () if e.code and "quota" in e.code.lower()]


def pool_verdict(pool: BatchPool, nodes: Sequence[BatchNode], min_nodes: int | None) -> PoolVerdict:
    """Decide about ``pool`` from its ``nodes``; see the module docstring."""
    need = needed_nodes(pool, min_nodes)
    ready = [n for n in nodes if n.state in READY_STATES]
    steady = pool.allocation_state == AllocationState.STEADY
    summary = (
        f"{len(ready)} of {need} needed nodes ready, {len(nodes)} nodes, allocation {pool.allocation_state}"
    )
    if steady and len(ready) >= need:
        return PoolVerdict(ready=True, summary=summary)
    return PoolVerdict(error=_why_never_ready(pool, nodes, need, len(ready)), summary=summary)


def _why_never_ready(
    pool: BatchPool, nodes: Sequence[BatchNode], need: int, ready: int
) -> PoolNotReadyError | None:
    """The error of a pool that will not get ``need`` nodes ready, or ``None`` while it still may."""
    pool_id = pool.id or ""
    if pool.state == BatchPoolState.DELETING:
        return PoolNotReadyError(f"pool {pool_id} is being deleted", pool_id=pool_id, pool=pool)
    failed = [n for n in nodes if n.state == BatchNodeState.START_TASK_FAILED]
    unusable = [n for n in nodes if n.state in UNUSABLE_STATES]
    if _may_come(pool, len(nodes)) - len(failed) - len(unusable) >= need:
        return None
    if failed:
        return _start_task_error(pool, failed, need)
    if unusable:
        return _unusable_error(pool, unusable, need, ready)
    if pool.allocation_state != AllocationState.STEADY:
        return None
    if pool.resize_errors:
        return _resize_error(pool, len(nodes), ready, need)
    message = f"pool {pool_id} has {len(nodes)} node(s) and none to come, {need} needed"
    return NodesUnusableError(message, pool_id=pool_id, pool=pool, states={})


def _may_come(pool: BatchPool, listed: int) -> int:
    """Nodes the pool has or, while it resizes, may still get."""
    if pool.allocation_state == AllocationState.STEADY:
        return listed
    return max(listed, (pool.target_dedicated_nodes or 0) + (pool.target_low_priority_nodes or 0))


def _unusable_error(
    pool: BatchPool, unusable: Sequence[BatchNode], need: int, ready: int
) -> NodesUnusableError:
    states = {n.id or "": str(n.state) for n in unusable}
    message = f"pool {pool.id}: {len(unusable)} node(s) unusable ({_ids(states)}), {ready} of {need} ready"
    return NodesUnusableError(message, pool_id=pool.id or "", pool=pool, states=states)


def _start_task_error(pool: BatchPool, failed: Sequence[BatchNode], need: int) -> StartTaskFailedError:
    failures = []
    for node in failed:
        info = node.start_task_info
        failure = info.failure_info if info is not None else None
        failures.append(
            StartTaskFailure(
                node_id=node.id or "",
                exit_code=info.exit_code if info is not None else None,
                failure_code=failure.code if failure is not None else None,
            )
        )
    codes = sorted({str(f.exit_code) for f in failures if f.exit_code is not None})
    message = (
        f"pool {pool.id}: the start task failed on {len(failed)} node(s) "
        f"({', '.join(f.node_id for f in failures[:5])}{', ...' if len(failures) > 5 else ''})"
        + (f", exit code(s) {', '.join(codes)}" if codes else "")
        + f"; fewer than the {need} node(s) needed can become ready"
    )
    return StartTaskFailedError(message, pool_id=pool.id or "", pool=pool, failures=failures)


def _resize_error(pool: BatchPool, nodes: int, ready: int, need: int) -> PoolResizeError:
    errors = list(pool.resize_errors or ())
    codes = quota_codes(pool)
    described = "; ".join(f"{e.code}: {e.message}" for e in errors)
    message = (
        f"pool {pool.id} stopped resizing with {nodes} node(s), {ready} ready, {need} needed: {described}"
    )
    if codes:
        message += f" (quota: {', '.join(codes)})"
    return PoolResizeError(message, pool_id=pool.id or "", pool=pool, resize_errors=errors, quota_codes=codes)


def _ids(states: dict[str, str]) -> str:
    names = list(states)
    return ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")


async def read_pool(pools: Pools, nodes: Nodes, pool_id: str) -> tuple[BatchPool, list[BatchNode]]:
    """The pool and its nodes (id, state, start task info); a missing pool raises PoolNotReadyError."""
    try:
        pool = await pools.get(pool_id)
    except NotFoundError as err:
        raise PoolNotReadyError(f"pool {pool_id} does not exist", pool_id=pool_id) from err
    listed = [node async for node in nodes.list(pool_id, select=list(NODE_FIELDS))]
    return pool, listed


async def with_start_task_tails(
    nodes: Nodes, error: StartTaskFailedError, tail_bytes: int
) -> StartTaskFailedError:
    """The same error with the start tasks' stderr tails of (at most a few of) its nodes."""
    failures = list(error.failures)
    for index, failure in enumerate(failures[: C.FAILURE_MAX_EXAMPLES]):
        tail = await read_file_tail(
            partial(nodes.get_file_properties, error.pool_id, failure.node_id, START_TASK_STDERR),
            partial(nodes.download_file, error.pool_id, failure.node_id, START_TASK_STDERR),
            tail_bytes,
        )
        failures[index] = attrs.evolve(failure, stderr_tail=tail)
    tailed = StartTaskFailedError(str(error), pool_id=error.pool_id, pool=error.pool, failures=failures)
    return tailed


async def wait_until_ready(
    pools: Pools,
    nodes: Nodes,
    pool_id: str,
    *,
    time_limit: float | None,
    min_nodes: int | None,
    poll_interval: float,
) -> BatchPool:
    """Poll the pool until :func:`pool_verdict` says ready (return it) or not ever (raise)."""
    check_count("min_nodes", min_nodes, minimum=0, optional=True)
    check_seconds("timeout", time_limit)
    check_seconds("poll_interval", poll_interval, optional=False, zero=False)
    deadline = None if time_limit is None else anyio.current_time() + time_limit
    while True:
        pool, listed = await keep_polling(partial(read_pool, pools, nodes, pool_id), poll_interval, deadline)
        verdict = pool_verdict(pool, listed, min_nodes)
        if verdict.ready:
            return pool
        if isinstance(verdict.error, StartTaskFailedError):
            raise await with_start_task_tails(nodes, verdict.error, C.FAILURE_TAIL_BYTES)
        if verdict.error is not None:
            raise verdict.error
        left = None if deadline is None else deadline - anyio.current_time()
        if left is not None and left <= 0:
            message = f"pool {pool_id} not ready after {time_limit} s: {verdict.summary}"
            raise PoolWaitTimeoutError(message, pool_id=pool_id, pool=pool)
        await anyio.sleep(poll_interval if left is None else min(poll_interval, left))
