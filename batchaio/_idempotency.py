"""What a retry means for each operation: its idempotency class, keyed by the spec's ``operationId``.

The table covers the 77 operations of ``tools/spec/batch-2024-07-01.20.0.operations.json`` (a test checks it).
"""

from __future__ import annotations

import enum
from typing import Final

from batchaio.errors import ValidationError

__all__ = [
    "ALREADY_DONE_CONFLICTS",
    "OPERATION_CLASSES",
    "Idempotency",
    "canonical_operation_id",
    "idempotency_of",
]


class Idempotency(enum.Enum):
    """What the service does if the same request arrives twice."""

    READ = "read"
    """No effect: GET, HEAD, evaluateautoscale. Always retried."""
    CREATE_WITH_ID = "create-with-id"
    """Create with a caller-chosen id: a retry meeting the entity's ``*Exists`` (409) means "created, probably
    by us"."""
    REPLACE = "replace"
    """PUT, PATCH, updateproperties: the same body gives the same end state."""
    DELETE = "delete"
    """Delete: a retry may meet ``*NotFound`` (404) or ``*BeingDeleted`` (409), meaning done."""
    STATE_TRANSITION = "state-transition"
    """Disable, enable, terminate, resize...: a retry may meet a 409 saying the target state is reached (only
    the codes of :data:`ALREADY_DONE_CONFLICTS` count; any other conflict is an error)."""
    NOT_IDEMPOTENT = "not-idempotent"
    """Reboot, reimage, upload logs: retried only when the request was provably not sent."""


_R = Idempotency.READ
_C = Idempotency.CREATE_WITH_ID
_U = Idempotency.REPLACE
_D = Idempotency.DELETE
_S = Idempotency.STATE_TRANSITION
_N = Idempotency.NOT_IDEMPOTENT

OPERATION_CLASSES: Final[dict[str, Idempotency]] = {
    # applications
    "Applications_ListApplications": _R,
    "Applications_GetApplication": _R,
    # certificates (the thumbprint is the caller-chosen id)
    "Certificates_ListCertificates": _R,
    "Certificates_CreateCertificate": _C,
    "Certificates_GetCertificate": _R,
    "Certificates_DeleteCertificate": _D,
    "Certificates_CancelCertificateDeletion": _S,
    # jobs
    "Jobs_ListJobs": _R,
    "Jobs_CreateJob": _C,
    "Jobs_GetJob": _R,
    "Jobs_ReplaceJob": _U,
    "Jobs_UpdateJob": _U,
    "Jobs_DeleteJob": _D,
    "Jobs_DisableJob": _S,
    "Jobs_EnableJob": _S,
    "Jobs_TerminateJob": _S,
    "Jobs_ListJobPreparationAndReleaseTaskStatus": _R,
    "Jobs_GetJobTaskCounts": _R,
    "Jobs_ListJobsFromSchedule": _R,
    # tasks
    "Tasks_CreateTaskCollection": _C,
    "Tasks_ListTasks": _R,
    "Tasks_CreateTask": _C,
    "Tasks_GetTask": _R,
    "Tasks_ReplaceTask": _U,
    "Tasks_DeleteTask": _D,
    "Tasks_ListTaskFiles": _R,
    "Tasks_GetTaskFile": _R,
    "Tasks_DeleteTaskFile": _D,
    "Tasks_GetTaskFileProperties": _R,
    "Tasks_ReactivateTask": _S,
    "Tasks_ListSubTasks": _R,
    "Tasks_TerminateTask": _S,
    # job schedules
    "JobSchedules_ListJobSchedules": _R,
    "JobSchedules_CreateJobSchedule": _C,
    "JobSchedules_GetJobSchedule": _R,
    "JobSchedules_ReplaceJobSchedule": _U,
    "JobSchedules_UpdateJobSchedule": _U,
    "JobSchedules_DeleteJobSchedule": _D,
    "JobSchedules_JobScheduleExists": _R,
    "JobSchedules_DisableJobSchedule": _S,
    "JobSchedules_EnableJobSchedule": _S,
    "JobSchedules_TerminateJobSchedule": _S,
    # pools
    "Pools_ListPoolNodeCounts": _R,
    "Pools_ListPools": _R,
    "Pools_CreatePool": _C,
    "Pools_GetPool": _R,
    "Pools_UpdatePool": _U,
    "Pools_DeletePool": _D,
    "Pools_PoolExists": _R,
    "Pools_DisablePoolAutoScale": _S,
    "Pools_EnablePoolAutoScale": _S,
    "Pools_EvaluatePoolAutoScale": _R,
    "Pools_RemoveNodes": _S,
    "Pools_ResizePool": _S,
    "Pools_StopPoolResize": _S,
    "Pools_ReplacePoolProperties": _U,
    "Pools_ListPoolUsageMetrics": _R,
    "Pools_ListSupportedImages": _R,
    # compute nodes
    "Nodes_ListNodes": _R,
    "Nodes_GetNode": _R,
    "Nodes_DeallocateNode": _S,
    "Nodes_DisableNodeScheduling": _S,
    "Nodes_EnableNodeScheduling": _S,
    "Nodes_ListNodeExtensions": _R,
    "Nodes_GetNodeExtension": _R,
    "Nodes_ListNodeFiles": _R,
    "Nodes_GetNodeFile": _R,
    "Nodes_DeleteNodeFile": _D,
    "Nodes_GetNodeFileProperties": _R,
    "Nodes_RebootNode": _N,
    "Nodes_ReimageNode": _N,
    "Nodes_GetNodeRemoteLoginSettings": _R,
    "Nodes_StartNode": _S,
    "Nodes_UploadNodeLogs": _N,
    "Nodes_CreateNodeUser": _C,
    "Nodes_ReplaceNodeUser": _U,
    "Nodes_DeleteNodeUser": _D,
}

# The 409 codes that, answering a retry after an attempt whose outcome is unknown, say that the entity already
# exists (creates) or is already in the state the call asked for (or on its way there). Only codes whose
# documented meaning is exactly that are listed; an operation without an entry never counts a 409 as done.
# Codes that only say "not possible now" (JobNotActive, TaskNotCompleted, TaskNotFailed, AutoScaleEnabled,
# PoolBeingResized...) could just as well be answers to a first attempt that never happened.
ALREADY_DONE_CONFLICTS: Final[dict[str, frozenset[str]]] = {
    "Certificates_CreateCertificate": frozenset({"CertificateExists"}),
    "Jobs_CreateJob": frozenset({"JobExists"}),
    "Tasks_CreateTask": frozenset({"TaskExists"}),
    "JobSchedules_CreateJobSchedule": frozenset({"JobScheduleExists"}),
    "Pools_CreatePool": frozenset({"PoolExists"}),
    "Nodes_CreateNodeUser": frozenset({"NodeUserExists"}),
    "Jobs_DisableJob": frozenset({"JobDisabled"}),
    "Jobs_TerminateJob": frozenset({"JobCompleted", "JobBeingTerminated"}),
    "JobSchedules_DisableJobSchedule": frozenset({"JobScheduleDisabled"}),
    "JobSchedules_TerminateJobSchedule": frozenset({"JobScheduleCompleted", "JobScheduleBeingTerminated"}),
    "Tasks_TerminateTask": frozenset({"TaskCompleted"}),
    "Nodes_DisableNodeScheduling": frozenset({"NodeAlreadyInTargetSchedulingState"}),
    "Nodes_EnableNodeScheduling": frozenset({"NodeAlreadyInTargetSchedulingState"}),
}

# Names used for the same operations elsewhere (the REST reference and older SDKs).
_ALIASES: Final = {
    "Tasks_AddTaskCollection": "Tasks_CreateTaskCollection",
    "Tasks_AddTask": "Tasks_CreateTask",
}


def canonical_operation_id(operation_id: str) -> str:
    """The spec's ``operationId`` for ``operation_id`` (which may be an alias)."""
    return _ALIASES.get(operation_id, operation_id)


def idempotency_of(operation_id: str) -> Idempotency:
    """Return the idempotency class of ``operation_id``; an unknown id is a programming error."""
    try:
        return OPERATION_CLASSES[canonical_operation_id(operation_id)]
    except KeyError:
        raise ValidationError(f"unknown operation id {operation_id!r}", field="operation_id") from None
