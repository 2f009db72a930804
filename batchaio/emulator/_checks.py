"""Request body checks shared by the handlers, and what a replace does to omitted properties."""

from __future__ import annotations

import copy
from typing import Any

from batchaio.emulator import _constants as C
from batchaio.emulator._bodies import ITEM_MODELS, WRITABLE
from batchaio.emulator._state import valid_id
from batchaio.emulator._wire import ServiceError, parse_duration


def _check_writable(body: dict[str, Any], model: str) -> None:
    """400 ``InvalidRequestBody`` naming the first top-level property ``model`` does not let a client set."""
    item_model = ITEM_MODELS.get(model)
    if item_model is not None:
        items = body.get("value")
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict):
                _check_writable(item, item_model)
        return
    for name in body:
        if name not in WRITABLE[model]:
            raise ServiceError(
                "InvalidRequestBody",
                values=[
                    ("PropertyName", name),
                    ("Reason", f"{name} is read-only or not a property of {model}"),
                ],
            )


def _require_id(doc: dict[str, Any], name: str = "id") -> str:
    value = doc.get(name)
    if value is None:
        raise ServiceError("MissingRequiredProperty", values=[("PropertyName", name)])
    if not valid_id(value):
        raise ServiceError(
            "InvalidPropertyValue",
            values=[("PropertyName", name), ("PropertyValue", str(value)[:100]), ("Reason", "Invalid id")],
        )
    return str(value)


def _check_pool_info(value: Any, name: str) -> None:
    """A ``poolInfo`` must be an object whose ``poolId``, when given, is a valid id (it names directories)."""
    if not isinstance(value, dict):
        raise _invalid(name, "poolInfo must be a JSON object")
    if "poolId" in value and not valid_id(value["poolId"]):
        raise _invalid(f"{name}.poolId", "Invalid id", value["poolId"])


def _invalid(name: str, reason: str, value: Any = None) -> ServiceError:
    values = [("PropertyName", name)]
    if value is not None:
        values.append(("PropertyValue", str(value)[:100]))
    values.append(("Reason", reason))
    return ServiceError("InvalidPropertyValue", values=values)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_int32(value: Any) -> bool:
    """Whether ``value`` is a JSON integer the service's ``int32`` properties can hold."""
    return _is_int(value) and -(2**31) <= value < 2**31


def _check_task_types(doc: dict[str, Any]) -> None:
    """``InvalidPropertyValue`` for a task property of the wrong JSON type or value (checked before anything
    is stored, so a bad value cannot break later reads of the tasks, nor the runner of ``--execute``)."""
    _check_shapes(doc)
    _check_command_line(doc.get("commandLine"))
    _check_environment(doc.get("environmentSettings") or [])
    _check_task_constraints(doc.get("constraints") or {})
    _check_counts(doc)
    _check_dependencies(doc.get("dependsOn") or {})


_TASK_OBJECTS = ("constraints", "dependsOn", "multiInstanceSettings", "userIdentity", "exitConditions")
_TASK_LISTS = ("environmentSettings", "resourceFiles", "outputFiles", "applicationPackageReferences")


def _check_shapes(doc: dict[str, Any]) -> None:
    for name in _TASK_OBJECTS:
        if doc.get(name) is not None and not isinstance(doc[name], dict):
            raise _invalid(name, f"{name} must be a JSON object")
    for name in _TASK_LISTS:
        value = doc.get(name)
        if value is not None and not (isinstance(value, list) and all(isinstance(v, dict) for v in value)):
            raise _invalid(name, f"{name} must be a list of JSON objects")


def _check_command_line(command: Any) -> None:
    if isinstance(command, str) and "\x00" in command:
        raise _invalid("commandLine", "The command line cannot contain a NUL character")


def _check_environment(settings: list[dict[str, Any]]) -> None:
    """Names a process environment can hold: not empty, no ``=`` and no NUL; values strings without NUL."""
    for setting in settings:
        name = setting.get("name")
        if not isinstance(name, str) or not name:
            raise _invalid("environmentSettings.name", "Every environment setting needs a name")
        if "=" in name or "\x00" in name:
            raise _invalid("environmentSettings.name", "A name cannot contain '=' or NUL", name)
        value = setting.get("value")
        if value is not None and not isinstance(value, str):
            raise _invalid("environmentSettings.value", "An environment value must be a string")
        if isinstance(value, str) and "\x00" in value:
            raise _invalid("environmentSettings.value", "A value cannot contain a NUL character")


def _check_task_constraints(constraints: dict[str, Any]) -> None:
    for name in ("maxWallClockTime", "retentionTime"):
        if constraints.get(name) is not None and parse_duration(str(constraints[name])) is None:
            raise _invalid(f"constraints.{name}", "Not an ISO 8601 duration", constraints[name])
    retries = constraints.get("maxTaskRetryCount")
    if retries is not None and not _is_int32(retries):
        raise _invalid("constraints.maxTaskRetryCount", "Must be a 32-bit integer", retries)


def _check_counts(doc: dict[str, Any]) -> None:
    slots = doc.get("requiredSlots")
    if slots is not None and not (_is_int32(slots) and slots >= 1):
        raise _invalid("requiredSlots", "Must be a 32-bit integer of at least 1", slots)
    instances = (doc.get("multiInstanceSettings") or {}).get("numberOfInstances")
    if instances is not None and not (_is_int32(instances) and instances >= 1):
        raise _invalid(
            "multiInstanceSettings.numberOfInstances", "Must be a 32-bit integer of at least 1", instances
        )


def _check_dependencies(depends_on: dict[str, Any]) -> None:
    ids = depends_on.get("taskIds")
    if ids is not None and not (isinstance(ids, list) and all(isinstance(i, str) for i in ids)):
        raise _invalid("dependsOn.taskIds", "Must be a list of task ids")
    ranges = depends_on.get("taskIdRanges")
    if ranges is not None and not isinstance(ranges, list):
        raise _invalid("dependsOn.taskIdRanges", "Must be a list of ranges")
    for id_range in ranges or []:
        bounds: dict[str, Any] = id_range if isinstance(id_range, dict) else {}
        start: Any = bounds.get("start")
        end: Any = bounds.get("end")
        if not (_is_int32(start) and _is_int32(end) and 0 <= start <= end):
            raise _invalid("dependsOn.taskIdRanges", "start and end must be integers with 0 <= start <= end")


def _check_constraints(doc: dict[str, Any]) -> None:
    if doc.get("constraints") is not None and not isinstance(doc["constraints"], dict):
        raise _invalid("constraints", "constraints must be a JSON object")


def _require(doc: dict[str, Any], name: str) -> Any:
    if doc.get(name) in (None, ""):
        raise ServiceError("MissingRequiredProperty", values=[("PropertyName", name)])
    return doc[name]


_JOB_CONSTRAINTS_DEFAULT = {"maxWallClockTime": C.UNBOUNDED_DURATION, "maxTaskRetryCount": 0}


# What a replace (PUT, updateproperties) gives a writable property its body omits; writable properties not
# listed here are removed. An object given in the body is completed with its default's omitted members.
_REPLACE_DEFAULTS: dict[str, dict[str, Any]] = {
    "BatchJob": {
        "priority": 0,
        "allowTaskPreemption": False,
        "maxParallelTasks": -1,
        "onAllTasksComplete": "noaction",
        "constraints": _JOB_CONSTRAINTS_DEFAULT,
    },
    "BatchJobSchedule": {"schedule": {}},
    "BatchPoolReplaceContent": {"targetNodeCommunicationMode": "default"},
}


def _replaced(name: str, value: Any, defaults: dict[str, Any]) -> Any:
    """``value`` given for ``name`` in a replace, objects completed from their default."""
    default = defaults.get(name)
    if isinstance(default, dict) and isinstance(value, dict):
        return {**copy.deepcopy(default), **copy.deepcopy(value)}
    return copy.deepcopy(value)


def _replace(doc: dict[str, Any], body: dict[str, Any], model: str) -> None:
    """Replace every writable property of ``model`` in ``doc``: from ``body``, else its default, else gone
    (``null`` counts as omitted)."""
    defaults = _REPLACE_DEFAULTS.get(model, {})
    for name in WRITABLE[model]:
        if body.get(name) is not None:
            doc[name] = _replaced(name, body[name], defaults)
        elif name in defaults:
            doc[name] = copy.deepcopy(defaults[name])
        else:
            doc.pop(name, None)
