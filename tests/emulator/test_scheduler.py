"""Pool capacity in simulated mode, driven through the store with an explicit clock (no sleeping)."""

from __future__ import annotations

from typing import Any

import pytest

from batchaio.emulator._state import Job, Store, TaskRecord, task_state

T0 = 1_000.0


def make_store(nodes: int | None = 1, slots: int = 2, job: dict[str, Any] | None = None) -> tuple[Store, Job]:
    """A store whose tasks each run exactly 1 s, with pool ``pool`` (``None``: no pool) and job ``job``."""
    store = Store(task_duration=(1.0, 1.0), seed=1)
    if nodes is not None:
        store.create_pool(
            {"id": "pool", "vmSize": "d2", "targetDedicatedNodes": nodes, "taskSlotsPerNode": slots}, T0
        )
    created = store.create_job({"id": "job", "poolInfo": {"poolId": "pool"}, **(job or {})}, T0)
    return store, created


def add(store: Store, job: Job, task_id: str, at: float = T0, **doc: Any) -> TaskRecord:
    task = store.add_task(job, {"id": task_id, "commandLine": "run", **doc}, at)
    assert task is not None
    return task


def states(store: Store, job: Job, at: float) -> dict[str, str]:
    store.sync(job, at)
    return {task.id: task_state(task, at) for _, task in job.tasks.scan(0, at)}


def test_tasks_wait_while_the_pool_does_not_exist_or_has_no_nodes() -> None:
    store, job = make_store(nodes=None)
    add(store, job, "a")
    assert states(store, job, T0 + 100) == {"a": "active"}
    store.create_pool({"id": "pool", "vmSize": "d2", "targetDedicatedNodes": 0}, T0 + 100)
    assert states(store, job, T0 + 200) == {"a": "active"}
    store.resize_pool(store.pool("pool", T0 + 200), 1, 0, T0 + 200)
    assert states(store, job, T0 + 200.5) == {"a": "running"}
    assert job.tasks.find("a", T0).start == T0 + 200  # type: ignore[union-attr]


def test_a_pool_runs_at_most_nodes_times_slots_tasks_in_fifo_order() -> None:
    store, job = make_store(nodes=1, slots=2)
    for number in range(5):
        add(store, job, f"t{number}", T0 + number * 0.01)
    assert states(store, job, T0 + 0.5) == {
        "t0": "running",
        "t1": "running",
        "t2": "active",
        "t3": "active",
        "t4": "active",
    }
    assert list(states(store, job, T0 + 1.5).values()) == ["completed"] * 2 + ["running"] * 2 + ["active"]
    assert list(states(store, job, T0 + 10).values()) == ["completed"] * 5
    starts = [task.start for _, task in job.tasks.scan(0, T0)]
    assert starts == [T0, T0 + 0.01, T0 + 1, T0 + 1.01, T0 + 2]
    assert store.task_counts(job, T0 + 10)["taskCounts"]["succeeded"] == 5


def test_required_slots_wait_for_enough_room_on_one_node() -> None:
    store, job = make_store(nodes=2, slots=2)
    add(store, job, "small")
    add(store, job, "big", requiredSlots=2)
    add(store, job, "after")
    # "small" takes one node's slot; "big" takes the other node whole; "after" fits beside "small".
    assert states(store, job, T0 + 0.5) == {"small": "running", "big": "running", "after": "running"}
    add(store, job, "huge", T0 + 0.5, requiredSlots=3)
    add(store, job, "later", T0 + 0.5)
    # A task larger than any node never runs and does not hold up the queue.
    assert states(store, job, T0 + 5) == {
        "small": "completed",
        "big": "completed",
        "after": "completed",
        "huge": "active",
        "later": "completed",
    }


def test_a_resize_to_zero_requeues_running_tasks_by_default() -> None:
    """REST reference, "Pools - Resize Pool": ``nodeDeallocationOption`` "Determines what to do with a Compute
    Node and its running task(s) if the Pool size is decreasing. The default value is requeue." """
    store, job = make_store(nodes=1, slots=1)
    add(store, job, "a")
    store.resize_pool(store.pool("pool", T0 + 0.5), 0, 0, T0 + 0.5)
    assert states(store, job, T0 + 0.6) == {"a": "active"}
    assert job.tasks.find("a", T0 + 0.6).requeue_count == 1  # type: ignore[union-attr]


def test_a_resize_to_zero_lets_running_tasks_finish_and_holds_the_rest() -> None:
    store, job = make_store(nodes=1, slots=1)
    add(store, job, "a")
    add(store, job, "b")
    store.resize_pool(store.pool("pool", T0 + 0.5), 0, 0, T0 + 0.5, "taskcompletion")
    assert states(store, job, T0 + 0.6) == {"a": "running", "b": "active"}
    assert states(store, job, T0 + 50) == {"a": "completed", "b": "active"}
    store.resize_pool(store.pool("pool", T0 + 50), 1, 0, T0 + 50)
    assert states(store, job, T0 + 50.5) == {"a": "completed", "b": "running"}


def test_dependencies_wake_waiting_tasks_in_their_add_order() -> None:
    store, job = make_store(nodes=1, slots=1, job={"usesTaskDependencies": True})
    add(store, job, "a")
    add(store, job, "b", T0 + 0.1, dependsOn={"taskIds": ["a"]})
    add(store, job, "c", T0 + 0.2)
    add(store, job, "failing", T0 + 0.3, commandLine="exit 3")
    add(store, job, "d", T0 + 0.4, dependsOn={"taskIds": ["failing"]})
    # b waited for a but was added before c: it runs first once a ends.
    assert states(store, job, T0 + 1.5) == {
        "a": "completed",
        "b": "running",
        "c": "active",
        "failing": "active",
        "d": "active",
    }
    final = states(store, job, T0 + 100)
    assert final["c"] == final["failing"] == "completed" and final["d"] == "active"
    starts = {task.id: task.start for _, task in job.tasks.scan(0, T0)}
    assert starts["b"] == T0 + 1 and starts["c"] == T0 + 2


def test_a_dependency_added_later_is_waited_for() -> None:
    store, job = make_store(nodes=1, slots=4, job={"usesTaskDependencies": True})
    add(store, job, "child", dependsOn={"taskIds": ["parent"]})
    assert states(store, job, T0 + 5) == {"child": "active"}
    add(store, job, "parent", T0 + 5)
    assert states(store, job, T0 + 6.5) == {"child": "running", "parent": "completed"}


@pytest.mark.parametrize("action", ["terminate", "delete"])
def test_ending_a_running_task_frees_its_slot_at_once(action: str) -> None:
    store, job = make_store(nodes=1, slots=1)
    first = add(store, job, "a")
    add(store, job, "b")
    store.sync(job, T0 + 0.25)
    if action == "terminate":
        store.terminate_task(job, first, T0 + 0.25)
    else:
        store.delete_task(job, first, T0 + 0.25)
    assert states(store, job, T0 + 0.5)["b"] == "running"
    assert job.tasks.find("b", T0).start == T0 + 0.25  # type: ignore[union-attr]


def test_terminating_a_waiting_task_takes_it_out_of_the_queue() -> None:
    store, job = make_store(nodes=1, slots=1)
    add(store, job, "a")
    waiting = add(store, job, "b")
    add(store, job, "c")
    store.terminate_task(job, waiting, T0 + 0.5)
    assert states(store, job, T0 + 1.5) == {"a": "completed", "b": "completed", "c": "running"}
    assert waiting.start is None and waiting.failure is not None


def test_disable_requeue_and_enable_run_tasks_again_within_the_slots() -> None:
    store, job = make_store(nodes=1, slots=1)
    first = add(store, job, "a")
    add(store, job, "b")
    store.disable_job(job, "requeue", T0 + 0.5)
    assert states(store, job, T0 + 5) == {"a": "active", "b": "active"}
    assert first.requeue_count == 1
    store.enable_job(job, T0 + 5)
    assert states(store, job, T0 + 5.5) == {"a": "running", "b": "active"}
    assert states(store, job, T0 + 6.5) == {"a": "completed", "b": "running"}


def test_disable_wait_lets_running_tasks_finish_and_holds_the_queue() -> None:
    store, job = make_store(nodes=1, slots=1)
    add(store, job, "a")
    add(store, job, "b")
    store.disable_job(job, "wait", T0 + 0.5)
    assert states(store, job, T0 + 5) == {"a": "completed", "b": "active"}
    store.enable_job(job, T0 + 5)
    assert states(store, job, T0 + 5.5)["b"] == "running"


def test_a_reactivated_task_joins_the_back_of_the_queue() -> None:
    store, job = make_store(nodes=1, slots=1)
    failed = add(store, job, "failed", commandLine="exit 1")
    add(store, job, "b")
    add(store, job, "c")
    store.sync(job, T0 + 1.5)
    assert task_state(failed, T0 + 1.5) == "completed"
    failed.doc["commandLine"] = "run"
    store.reactivate_task(job, failed, T0 + 1.5)
    assert states(store, job, T0 + 2.5) == {"failed": "active", "b": "completed", "c": "running"}
    assert states(store, job, T0 + 3.5)["failed"] == "running"
    assert failed.exit_code == 0


def test_disabled_nodes_offer_no_slots() -> None:
    store, job = make_store(nodes=2, slots=1)
    pool = store.pool("pool", T0)
    first = pool.live_nodes(T0)[0]
    first.scheduling_state = "disabled"
    store.capacity_changed("pool")
    add(store, job, "a")
    add(store, job, "b")
    assert states(store, job, T0 + 0.5) == {"a": "running", "b": "active"}
    assert all(task.node_id != first.id for _, task in job.tasks.scan(0, T0))


def test_auto_pool_jobs_take_the_slots_of_their_pool_specification() -> None:
    store = Store(task_duration=(1.0, 1.0))
    specification = {"pool": {"vmSize": "d2", "targetDedicatedNodes": 1, "taskSlotsPerNode": 2}}
    job = store.create_job({"id": "auto", "poolInfo": {"autoPoolSpecification": specification}}, T0)
    for name in "abc":
        add(store, job, name)
    assert states(store, job, T0 + 0.5) == {"a": "running", "b": "running", "c": "active"}


def test_many_reads_of_many_tasks_stay_cheap() -> None:
    store, job = make_store(nodes=2, slots=50)
    for number in range(5000):
        add(store, job, f"t{number}", T0 + number * 1e-4)
    for step in range(200):
        store.sync(job, T0 + step * 0.5)
    counts = store.task_counts(job, T0 + 100)["taskCounts"]
    assert counts["completed"] == counts["succeeded"] == 5000
