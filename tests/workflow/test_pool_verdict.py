"""Whether a pool is ready, not yet, or never going to be: the decision as a table."""

from __future__ import annotations

import pytest

from batchaio import NodesUnusableError, PoolNotReadyError, PoolResizeError, StartTaskFailedError
from batchaio._pool_ready import pool_verdict
from batchaio.models import (
    AllocationState,
    BatchNode,
    BatchNodeState,
    BatchPool,
    BatchPoolState,
    BatchStartTaskInfo,
    BatchStartTaskState,
    BatchTaskFailureInfo,
    ErrorCategory,
    ResizeError,
)


def pool(
    allocation: str = "steady",
    target: int = 2,
    *,
    low_priority: int = 0,
    errors: tuple[str, ...] = (),
    state: str = "active",
) -> BatchPool:
    return BatchPool(
        id="p",
        state=BatchPoolState(state),
        allocation_state=AllocationState(allocation),
        target_dedicated_nodes=target,
        target_low_priority_nodes=low_priority,
        resize_errors=[ResizeError(code=code, message=f"{code} happened") for code in errors] or None,
    )


def nodes(*states: str) -> list[BatchNode]:
    out = []
    for index, state in enumerate(states):
        info = None
        if state == "starttaskfailed":
            info = BatchStartTaskInfo(
                state=BatchStartTaskState.COMPLETED,
                exit_code=3,
                retry_count=0,
                failure_info=BatchTaskFailureInfo(category=ErrorCategory.USER_ERROR, code="FailureExitCode"),
            )
        out.append(BatchNode(id=f"n{index}", state=BatchNodeState(state), start_task_info=info))
    return out


# (pool, nodes, min_nodes, ready, error class or None)
TABLE = [
    pytest.param(pool(), nodes("idle", "running"), None, True, None, id="steady, all target nodes usable"),
    pytest.param(pool("resizing"), nodes("idle", "idle"), None, False, None, id="still resizing"),
    pytest.param(pool(), nodes("idle", "starting"), None, False, None, id="a node still starting"),
    pytest.param(pool(), nodes("idle", "starting"), 1, True, None, id="min_nodes=1 reached"),
    pytest.param(pool("resizing"), nodes(), None, False, None, id="no node yet, resizing"),
    pytest.param(pool(target=0), nodes(), 0, True, None, id="min_nodes=0 on an empty pool"),
    pytest.param(
        pool(),
        nodes("starttaskfailed", "starttaskfailed"),
        None,
        False,
        StartTaskFailedError,
        id="every start task failed",
    ),
    pytest.param(
        pool(target=10),
        nodes(*["idle"] * 4, "starttaskfailed", *["starting"] * 5),
        5,
        False,
        None,
        id="one failed start task does not fail a pool that can still reach min_nodes",
    ),
    pytest.param(
        pool(target=10),
        nodes(*["idle"] * 5, "starttaskfailed", *["starting"] * 4),
        5,
        True,
        None,
        id="enough ready despite one failed start task",
    ),
    pytest.param(pool(), nodes("unusable", "unusable"), None, False, NodesUnusableError, id="unusable nodes"),
    pytest.param(pool(), nodes("idle", "unknown"), None, False, NodesUnusableError, id="a node lost"),
    pytest.param(
        pool(errors=("AccountCoreQuotaReached",)),
        nodes("idle"),
        None,
        False,
        PoolResizeError,
        id="resize stopped on quota",
    ),
    pytest.param(
        pool(errors=("AllocationTimedout",)),
        nodes("idle", "idle"),
        None,
        True,
        None,
        id="resize errors but every node came",
    ),
    pytest.param(pool(target=0), nodes(), None, False, NodesUnusableError, id="steady with no node to come"),
    pytest.param(pool("resizing", state="deleting"), nodes(), None, False, PoolNotReadyError, id="deleting"),
    pytest.param(
        pool("resizing", 1, low_priority=1), nodes("idle"), None, False, None, id="spot node coming"
    ),
    pytest.param(
        pool(target=1, low_priority=1),
        nodes("idle", "preempted"),
        None,
        False,
        None,
        id="a preempted spot node may come back",
    ),
    pytest.param(
        pool(target=4),
        nodes("starttaskfailed", "unusable", "unusable", "idle"),
        2,
        False,
        StartTaskFailedError,
        id="start task failures reported before unusable nodes",
    ),
]


@pytest.mark.parametrize(("the_pool", "the_nodes", "min_nodes", "ready", "error"), TABLE)
def test_pool_verdict(
    the_pool: BatchPool, the_nodes: list[BatchNode], min_nodes: int | None, ready: bool, error: type | None
) -> None:
    verdict = pool_verdict(the_pool, the_nodes, min_nodes)
    assert verdict.ready is ready
    if error is None:
        assert verdict.error is None
    else:
        assert type(verdict.error) is error


def test_a_resize_error_names_the_quota_codes() -> None:
    verdict = pool_verdict(pool(errors=("AccountCoreQuotaReached", "OtherError")), nodes(), None)
    assert isinstance(verdict.error, PoolResizeError)
    assert verdict.error.quota_codes == ("AccountCoreQuotaReached",)
    assert "AccountCoreQuotaReached" in str(verdict.error) and "quota" in str(verdict.error)


def test_a_start_task_failure_names_the_nodes_and_exit_codes() -> None:
    verdict = pool_verdict(pool(), nodes("starttaskfailed", "starttaskfailed"), None)
    assert isinstance(verdict.error, StartTaskFailedError)
    assert verdict.error.node_ids == ("n0", "n1")
    assert [f.exit_code for f in verdict.error.failures] == [3, 3]
    assert "n0, n1" in str(verdict.error) and "exit code(s) 3" in str(verdict.error)
    assert isinstance(verdict.error, PoolNotReadyError)
