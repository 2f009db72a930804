"""What a retry means for each operation: its idempotency class, keyed by the spec's ``operationId``.

The classes come from the ``idempotency`` field of the 77 operations in
``tools/spec/batch-2024-07-01.20.0.operations.json``, generated into ``_operation_classes`` by
``tools/generate_operations.py``; what each class means, and which conflicts say "already done", is here.
"""

from __future__ import annotations

import enum
from typing import Final

from batchaio._operation_classes import OPERATION_CLASS_NAMES
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


# Generated from the ``idempotency`` field of each operation in the operations file.
OPERATION_CLASSES: Final[dict[str, Idempotency]] = {
    operation: Idempotency(name) for operation, name in OPERATION_CLASS_NAMES.items()
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
