"""Request body checks shared by the handlers, and what a replace does to omitted properties."""

from __future__ import annotations

import copy
import re
from typing import Any

from batchaio.emulator import _constants as C
from batchaio.emulator._bodies import ENUMS, ITEM_MODELS, SHAPES, WRITABLE
from batchaio.emulator._state import valid_id
from batchaio.emulator._wire import ServiceError, parse_duration, parse_time


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


# ---- the schema-driven body check -------------------------------------------------------------------------


def check_body(body: dict[str, Any], model: str, subscription: str) -> None:
    """Check ``body`` against ``model``'s writable properties, recursively: 400 ``MissingRequiredProperty``
    for a required property left out, 400 ``InvalidPropertyValue`` for a value of the wrong type, out of its
    range, too long, an unknown enum value or an ARM resource id of the wrong form (a subnet of another
    subscription than ``subscription`` included). ``PropertyName`` is the dotted path."""
    _check_model(body, model, "", subscription)


def _check_model(doc: dict[str, Any], model: str, prefix: str, subscription: str) -> None:
    for name, kind, required in SHAPES[model]:
        value = doc.get(name)
        path = f"{prefix}{name}"
        if value is None:
            if required:
                raise ServiceError("MissingRequiredProperty", values=[("PropertyName", path)])
            continue
        _check_value(value, kind, path, subscription)
        rule = _RULES.get(name)
        if rule is not None:
            rule(value, path, subscription)


def _check_value(value: Any, kind: str, path: str, subscription: str) -> None:
    head, _, rest = kind.partition(":")
    if head == "model":
        if not isinstance(value, dict):
            raise _invalid(path, "Must be a JSON object")
        _check_model(value, rest, f"{path}.", subscription)
    elif head in ("array", "map"):
        items = value if isinstance(value, list) else value.values() if isinstance(value, dict) else None
        if items is None or (head == "map") != isinstance(value, dict):
            raise _invalid(path, "Must be a JSON array" if head == "array" else "Must be a JSON object")
        for item in items:
            _check_value(item, rest, path, subscription)
    elif head == "enum":
        if not isinstance(value, str) or value.lower() not in ENUMS[rest]:
            raise _invalid(path, f"Must be one of: {', '.join(sorted(ENUMS[rest]))}", value)
    elif not _SCALARS[head](value):
        raise _invalid(path, _SCALAR_REASONS[head], value)


def _is_time(value: Any) -> bool:
    return isinstance(value, str) and parse_time(value) is not None


def _is_duration(value: Any) -> bool:
    return isinstance(value, str) and parse_duration(value) is not None


_SCALARS: dict[str, Any] = {
    "string": lambda value: isinstance(value, str),
    "integer": _is_int32,
    "number": lambda value: isinstance(value, int | float) and not isinstance(value, bool),
    "boolean": lambda value: isinstance(value, bool),
    "date-time": _is_time,
    "duration": _is_duration,
    "int64-as-string": lambda value: isinstance(value, str) and value.lstrip("-").isdigit(),
}
_SCALAR_REASONS = {
    "string": "Must be a string",
    "integer": "Must be a 32-bit integer",
    "number": "Must be a number",
    "boolean": "Must be true or false",
    "date-time": "Must be an RFC 3339 date-time",
    "duration": "Must be an ISO 8601 duration",
    "int64-as-string": "Must be an integer in a string",
}


def _bounded(low: int | None, high: int | None, *, zero: bool = True) -> Any:
    def rule(value: int, path: str, subscription: str) -> None:
        if (
            (low is not None and value < low)
            or (high is not None and value > high)
            or (not zero and value == 0)
        ):
            span = f"{low if low is not None else '-inf'}..{high if high is not None else 'inf'}"
            raise _invalid(path, f"Must be within {span}" + ("" if zero else " and not 0"), value)

    return rule


def _longest(limit: int) -> Any:
    def rule(value: str, path: str, subscription: str) -> None:
        if len(value) > limit:
            raise _invalid(path, f"At most {limit} characters", value)

    return rule


_SEGMENT = r"[^/]+"
_ARM_PREFIX = rf"^/subscriptions/(?P<subscription>{_SEGMENT})/resourceGroups/{_SEGMENT}/providers/"
_ARM_FORMS = {
    "virtualMachineImageId": re.compile(
        _ARM_PREFIX + rf"Microsoft\.Compute/(images/{_SEGMENT}|galleries/{_SEGMENT}/images/{_SEGMENT}"
        rf"(/versions/{_SEGMENT})?)$",
        re.IGNORECASE,
    ),
    "subnetId": re.compile(
        _ARM_PREFIX + rf"Microsoft\.(Network|ClassicNetwork)/virtualNetworks/{_SEGMENT}/subnets/{_SEGMENT}$",
        re.IGNORECASE,
    ),
    "resourceId": re.compile(
        _ARM_PREFIX + rf"Microsoft\.ManagedIdentity/userAssignedIdentities/{_SEGMENT}$", re.IGNORECASE
    ),
}


def _arm_id(value: str, path: str, subscription: str) -> None:
    name = path.rsplit(".", 1)[-1]
    match = _ARM_FORMS[name].match(value)
    if match is None:
        raise _invalid(path, f"Not an ARM resource id of the form {name} takes", value)
    if name == "subnetId" and match["subscription"].lower() != subscription.lower():
        raise _invalid(path, "The subnet must be in the subscription of the Batch account", value)


# Per property name, wherever it appears: the service's ranges, lengths and resource id forms.
_RULES: dict[str, Any] = {
    "displayName": _longest(C.MAX_DISPLAY_NAME_LENGTH),
    "priority": _bounded(-1000, 1000),
    "maxParallelTasks": _bounded(-1, None, zero=False),
    "taskSlotsPerNode": _bounded(1, C.MAX_TASK_SLOTS_PER_NODE),
    "targetDedicatedNodes": _bounded(0, None),
    "targetLowPriorityNodes": _bounded(0, None),
    "requiredSlots": _bounded(1, None),
    "numberOfInstances": _bounded(1, None),
    "maxTaskRetryCount": _bounded(-1, None),
    "virtualMachineImageId": _arm_id,
    "subnetId": _arm_id,
    "resourceId": _arm_id,
}
