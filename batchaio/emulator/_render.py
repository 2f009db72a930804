"""The JSON the service returns for each resource, built from the stored state at a given moment."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from batchaio.emulator._nodes import inbound_endpoints, task_root_directory
from batchaio.emulator._state import (
    Certificate,
    Job,
    JobSchedule,
    Node,
    Pool,
    StartTaskRun,
    Store,
    TaskRecord,
    task_state,
)
from batchaio.emulator._wire import format_time

__all__ = [
    "NODE_COUNT_FIELDS",
    "certificate_url",
    "job_url",
    "node_url",
    "pool_url",
    "render_certificate",
    "render_job",
    "render_node",
    "render_pool",
    "render_schedule",
    "render_start_task_info",
    "render_task",
    "schedule_url",
    "task_url",
]

NODE_COUNT_FIELDS = {
    "creating": "creating",
    "idle": "idle",
    "offline": "offline",
    "preempted": "preempted",
    "rebooting": "rebooting",
    "reimaging": "reimaging",
    "running": "running",
    "starting": "starting",
    "starttaskfailed": "startTaskFailed",
    "leavingpool": "leavingPool",
    "unknown": "unknown",
    "unusable": "unusable",
    "waitingforstarttask": "waitingForStartTask",
    "deallocated": "deallocated",
    "deallocating": "deallocating",
    "upgradingos": "upgradingOS",
}


def _segment(value: str) -> str:
    return quote(value, safe="")


def pool_url(base: str, pool_id: str) -> str:
    return f"{base}/pools/{_segment(pool_id)}"


def node_url(base: str, pool_id: str, node_id: str) -> str:
    return f"{pool_url(base, pool_id)}/nodes/{_segment(node_id)}"


def job_url(base: str, job_id: str) -> str:
    return f"{base}/jobs/{_segment(job_id)}"


def task_url(base: str, job_id: str, task_id: str) -> str:
    return f"{job_url(base, job_id)}/tasks/{_segment(task_id)}"


def schedule_url(base: str, schedule_id: str) -> str:
    return f"{base}/jobschedules/{_segment(schedule_id)}"


def certificate_url(base: str, algorithm: str, thumbprint: str) -> str:
    return f"{base}/certificates(thumbprintAlgorithm={algorithm},thumbprint={thumbprint})"


def _system(entity: Any, url: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": entity.id,
        "url": url,
        "eTag": entity.etag,
        "lastModified": format_time(entity.last_modified),
        "creationTime": format_time(entity.created),
        "state": entity.state,
        "stateTransitionTime": format_time(entity.state_time),
    }
    if entity.previous_state is not None:
        out["previousState"] = entity.previous_state
        out["previousStateTransitionTime"] = format_time(entity.previous_state_time or entity.created)
    return out


def render_pool(pool: Pool, base: str, now: float) -> dict[str, Any]:
    out = _system(pool, pool_url(base, pool.id))
    out.pop("previousState", None)
    out.pop("previousStateTransitionTime", None)
    nodes = pool.live_nodes(now)
    creating = [node.booting_at for node in nodes if now < node.booting_at]
    out["allocationState"] = "resizing" if creating else "steady"
    settled = max((node.booting_at for node in nodes), default=pool.last_modified)
    out["allocationStateTransitionTime"] = format_time(
        pool.last_modified if creating else max(pool.last_modified, settled)
    )
    for key, value in pool.doc.items():
        if key != "id":
            out[key] = value
    out["currentDedicatedNodes"] = sum(1 for node in nodes if node.is_dedicated)
    out["currentLowPriorityNodes"] = sum(1 for node in nodes if not node.is_dedicated)
    out.setdefault("targetDedicatedNodes", 0)
    out.setdefault("targetLowPriorityNodes", 0)
    out["currentNodeCommunicationMode"] = "simplified"
    if pool.resize_errors:
        out["resizeErrors"] = pool.resize_errors
    if pool.autoscale_run is not None and pool.doc.get("enableAutoScale"):
        run = dict(pool.autoscale_run)
        run["timestamp"] = format_time(run["timestamp"])
        out["autoScaleRun"] = run
    return out


def render_node(
    pool: Pool, node: Node, base: str, now: float, running: tuple[int, int] | None = None
) -> dict[str, Any]:
    """A compute node; ``running`` is (tasks, slots) running on it, when the caller knows them."""
    state = node.current_state(now)
    if running is None:
        running = (1, 1) if state == "running" else (0, 0)
    out: dict[str, Any] = {
        "id": node.id,
        "url": node_url(base, pool.id, node.id),
        "state": state,
        "schedulingState": node.scheduling_state,
        "stateTransitionTime": format_time(_node_transition(node, state)),
        "lastBootTime": format_time(max(node.state_time, node.booted_at)),
        "allocationTime": format_time(node.created),
        "ipAddress": node.ip_address,
        "affinityId": f"TVM:{node.id}",
        "vmSize": pool.doc.get("vmSize", "standard_d1_v2"),
        "totalTasksRun": node.tasks_run,
        "runningTasksCount": running[0],
        "runningTaskSlotsCount": running[1],
        "totalTasksSucceeded": node.tasks_succeeded,
        "isDedicated": node.is_dedicated,
        "certificateReferences": pool.doc.get("certificateReferences", []),
        "endpointConfiguration": {"inboundEndpoints": inbound_endpoints(pool.doc, pool.id, node.index)},
        "nodeAgentInfo": {"version": "1.11.0", "lastUpdateTime": format_time(node.created)},
    }
    if state in ("creating", "starting"):
        # The node agent has not reported yet: no boot time, no agent information.
        del out["lastBootTime"], out["nodeAgentInfo"]
    start_task = pool.doc.get("startTask")
    if start_task and state not in ("creating", "starting"):
        out["startTask"] = start_task
        if node.start_task is not None:
            out["startTaskInfo"] = render_start_task_info(node.start_task, now)
    image = (pool.doc.get("virtualMachineConfiguration") or {}).get("imageReference")
    if image:
        out["virtualMachineInfo"] = {"imageReference": image}
    return out


def _node_transition(node: Node, state: str) -> float:
    """When ``node`` entered ``state`` (start-up ends at ``booting_at``, ``booted_at``, ``ready_at``)."""
    start = {"creating": node.created, "starting": node.booting_at, "waitingforstarttask": node.booted_at}
    if state in start:
        return start[state]
    return max(node.state_time, node.ready_at)


def render_start_task_info(run: StartTaskRun, now: float) -> dict[str, Any]:
    """``startTaskInfo`` of a node whose start task ``run`` began when the node was allocated."""
    info: dict[str, Any] = {"state": run.state(now), "startTime": format_time(run.start), "retryCount": 0}
    if info["state"] == "running":
        return info
    info.update(endTime=format_time(run.end), exitCode=run.exit_code, retryCount=run.attempts - 1)
    info["result"] = "success" if run.exit_code == 0 else "failure"
    if run.exit_code != 0:
        info["failureInfo"] = {
            "category": "usererror",
            "code": "FailureExitCode",
            "message": "The task exited with an exit code representing a failure",
            "details": [{"name": "Message", "value": "The task process exited with an unexpected exit code"}],
        }
    if run.attempts > 1:
        info["lastRetryTime"] = format_time(
            run.start + (run.end - run.start) * (run.attempts - 1) / run.attempts
        )
    return info


def render_job(store: Store, job: Job, base: str, now: float) -> dict[str, Any]:
    out = _system(job, job_url(base, job.id))
    for key, value in job.doc.items():
        if key != "id":
            out[key] = value
    info: dict[str, Any] = {"startTime": format_time(job.created)}
    if job.pool_id:
        info["poolId"] = job.pool_id
    if job.end_time is not None:
        info["endTime"] = format_time(job.end_time)
        info["terminateReason"] = job.terminate_reason
    out["executionInfo"] = info
    return out


def render_schedule(store: Store, schedule: JobSchedule, base: str, now: float) -> dict[str, Any]:
    out = _system(schedule, schedule_url(base, schedule.id))
    for key, value in schedule.doc.items():
        if key != "id":
            out[key] = value
    out.setdefault("schedule", {})
    info: dict[str, Any] = {}
    if schedule.recent_job_id is not None:
        info["recentJob"] = {"id": schedule.recent_job_id, "url": job_url(base, schedule.recent_job_id)}
    if schedule.end_time is not None:
        info["endTime"] = format_time(schedule.end_time)
    out["executionInfo"] = info
    return out


def render_certificate(certificate: Certificate, base: str) -> dict[str, Any]:
    doc = certificate.doc
    out: dict[str, Any] = {
        "thumbprint": doc["thumbprint"],
        "thumbprintAlgorithm": doc["thumbprintAlgorithm"],
        "url": certificate_url(base, doc["thumbprintAlgorithm"], doc["thumbprint"]),
        "state": certificate.state,
        "stateTransitionTime": format_time(certificate.state_time),
        "publicData": doc.get("publicData", ""),
    }
    if certificate.previous_state is not None:
        out["previousState"] = certificate.previous_state
        out["previousStateTransitionTime"] = format_time(
            certificate.previous_state_time or certificate.created
        )
    return out


def task_execution(task: TaskRecord, now: float) -> dict[str, Any]:
    """``executionInfo`` of a task at ``now``."""
    state = task_state(task, now)
    info: dict[str, Any] = {"retryCount": 0, "requeueCount": task.requeue_count}
    if state == "active" or task.start is None:
        if state == "completed" and task.failure is not None:
            info["endTime"] = format_time(task.end or now)
            info["result"] = "failure"
            info["failureInfo"] = task.failure
        return info
    info["startTime"] = format_time(task.start)
    retries = task.attempts - 1
    if state == "running" and task.duration > 0:
        retries = min(retries, int((now - task.start) / task.duration))
    if retries:
        info["retryCount"] = retries
        info["lastRetryTime"] = format_time(task.start + retries * task.duration)
    if state == "completed":
        info["endTime"] = format_time(task.end or now)
        if task.exit_code is not None:
            info["exitCode"] = task.exit_code
        if task.failure is not None:
            info["failureInfo"] = task.failure
            info["result"] = "failure"
        elif task.exit_code != 0:
            info["failureInfo"] = {
                "category": "usererror",
                "code": "FailureExitCode",
                "message": "The task exited with an exit code representing a failure",
                "details": [
                    {"name": "Message", "value": "The task process exited with an unexpected exit code"}
                ],
            }
            info["result"] = "failure"
        else:
            info["result"] = "success"
    return info


def render_task(job: Job, task: TaskRecord, base: str, now: float) -> dict[str, Any]:
    state = task_state(task, now)
    out: dict[str, Any] = {
        "id": task.id,
        "url": task_url(base, job.id, task.id),
        "eTag": task.etag,
        "creationTime": format_time(task.created),
        "lastModified": format_time(task.last_modified),
        "state": state,
    }
    if state == "completed":
        out["stateTransitionTime"] = format_time(task.end or now)
        if task.start is not None:
            out["previousState"], out["previousStateTransitionTime"] = "running", format_time(task.start)
        else:
            out["previousState"], out["previousStateTransitionTime"] = "active", format_time(task.not_before)
    elif state == "running":
        out["stateTransitionTime"] = format_time(task.start or now)
        out["previousState"], out["previousStateTransitionTime"] = "active", format_time(task.not_before)
    else:
        out["stateTransitionTime"] = format_time(task.not_before)
    for key, value in task.doc.items():
        if key != "id":
            out[key] = value
    out["executionInfo"] = task_execution(task, now)
    if task.start is not None and state != "active" and task.node_id is not None:
        pool_id = task.pool_id or ""
        root = task_root_directory(job.id, task.id, task.on_windows)
        url = node_url(base, pool_id, task.node_id)
        out["nodeInfo"] = {
            "affinityId": f"TVM:{task.node_id}",
            "nodeUrl": url,
            "poolId": pool_id,
            "nodeId": task.node_id,
            "taskRootDirectory": root,
            "taskRootDirectoryUrl": f"{url}/files/{task_root_directory(job.id, task.id, False)}",
        }
    return out
