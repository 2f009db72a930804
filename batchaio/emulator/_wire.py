"""Wire encodings of the emulated service: timestamps, ETags, error bodies and the error catalogue."""

from __future__ import annotations

import re
import time
import uuid
from datetime import datetime, timezone
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

__all__ = [
    "JSON_CONTENT_TYPE",
    "ServiceError",
    "error_body",
    "format_rfc1123",
    "format_time",
    "new_etag",
    "new_request_id",
    "parse_duration",
    "parse_http_date",
    "parse_time",
]

JSON_CONTENT_TYPE = "application/json;odata=minimalmetadata"
_ERROR_METADATA = "Microsoft.Azure.Batch.Protocol.Entities.Container.errors/@Element"

# code -> (HTTP status, message); the wording follows the service's.
_CATALOGUE: dict[str, tuple[int, str]] = {
    "PoolNotFound": (404, "The specified pool does not exist."),
    "JobNotFound": (404, "The specified job does not exist."),
    "TaskNotFound": (404, "The specified task does not exist."),
    "NodeNotFound": (404, "The specified node does not exist."),
    "JobScheduleNotFound": (404, "The specified job schedule does not exist."),
    "CertificateNotFound": (404, "The specified certificate does not exist."),
    "ApplicationNotFound": (404, "The specified application does not exist."),
    "FileNotFound": (404, "The specified file does not exist."),
    "NodeUserNotFound": (404, "The specified node user does not exist."),
    "ExtensionNotFound": (404, "The specified extension does not exist."),
    "ResourceNotFound": (404, "The specified resource does not exist."),
    "PoolExists": (409, "The specified pool already exists."),
    "JobExists": (409, "The specified job already exists."),
    "TaskExists": (409, "The specified task already exists."),
    "JobScheduleExists": (409, "The specified job schedule already exists."),
    "CertificateExists": (409, "The specified certificate already exists."),
    "NodeUserExists": (409, "The specified node user already exists."),
    "PoolBeingDeleted": (409, "The specified pool has been marked for deletion and is being reclaimed."),
    "JobBeingDeleted": (409, "The specified job has been marked for deletion and is being deleted."),
    "JobScheduleBeingDeleted": (
        409,
        "The specified job schedule has been marked for deletion and is being deleted.",
    ),
    "CertificateBeingDeleted": (
        409,
        "The specified certificate has been marked for deletion and is being deleted.",
    ),
    "JobCompleted": (409, "The specified job is already in a completed state."),
    "JobNotActive": (409, "The specified job is not in an active state."),
    "JobDisabled": (409, "The specified job is already disabled."),
    "JobScheduleCompleted": (409, "The specified job schedule is already in completed state."),
    "JobScheduleNotActive": (409, "The specified job schedule is not in an active state."),
    "TaskDependenciesNotSpecifiedOnJob": (
        409,
        "The task has dependencies but the job does not allow them (usesTaskDependencies is false).",
    ),
    "TaskCompleted": (409, "The specified task is already completed."),
    "TaskNotCompleted": (409, "The specified task is not in a completed state."),
    "TaskNotFailed": (
        409,
        "The specified task is not in a failed state; only failed tasks can be reactivated.",
    ),
    "PoolNotResizing": (409, "The specified pool is not resizing."),
    "AutoScaleEnabled": (409, "The specified pool has autoscale enabled."),
    "AutoScaleDisabled": (409, "The specified pool has autoscale disabled."),
    "NodeNotReady": (409, "The specified node is not in a state that allows this operation."),
    "JobPreparationTaskOrReleaseTaskNotSpecified": (
        409,
        "The specified job does not have either job preparation task or job release task.",
    ),
    "ConditionNotMet": (412, "The condition specified using HTTP conditional header(s) is not met."),
    "RequestBodyTooLarge": (413, "The request body is too large and exceeds the maximum permissible limit."),
    "TooManyRequests": (429, "The server is receiving too many requests; retry after some time."),
    "InternalError": (500, "Server encountered an internal error. Please try again after some time."),
    "ServerBusy": (503, "The server is currently unable to receive requests. Please retry your request."),
    "AuthenticationFailed": (
        403,
        "Server failed to authenticate the request. Make sure the value of Authorization header is formed "
        "correctly including the signature.",
    ),
    "MissingRequiredQueryParameter": (
        400,
        "A query parameter that's mandatory for this request is not specified.",
    ),
    "InvalidQueryParameterValue": (
        400,
        "Value for one of the query parameters specified in the request URI is invalid.",
    ),
    "UnsupportedQueryParameter": (
        400,
        "One of the query parameters specified in the request URI is not supported.",
    ),
    "InvalidHeaderValue": (400, "The value for one of the HTTP headers is not in the correct format."),
    "InvalidRequestBody": (400, "The specified Request Body is not syntactically valid."),
    "MissingRequiredProperty": (400, "A required property was not specified in the request body."),
    "InvalidPropertyValue": (400, "A property value in the request body is invalid."),
    "InvalidUri": (400, "The requested URI does not represent any resource on the server."),
    "UnsupportedHttpVerb": (405, "The resource doesn't support the specified HTTP verb."),
    "InvalidAutoScaleFormula": (400, "The specified autoscale formula is invalid."),
}


class ServiceError(Exception):
    """Raised inside the emulator to answer with the service's error body for ``code``."""

    def __init__(
        self,
        code: str,
        *,
        status: int | None = None,
        message: str | None = None,
        values: list[tuple[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        default_status, default_message = _CATALOGUE.get(code, (400, "The request is invalid."))
        self.code = code
        self.status = status if status is not None else default_status
        self.message = message if message is not None else default_message
        self.values = values or []
        self.headers = headers or {}
        super().__init__(f"{self.status} {code}")


def error_body(base_url: str, error: ServiceError, request_id: str) -> dict[str, Any]:
    """The JSON body the service sends with ``error``."""
    body: dict[str, Any] = {
        "odata.metadata": f"{base_url}/$metadata#{_ERROR_METADATA}",
        "code": error.code,
        "message": {
            "lang": "en-US",
            "value": f"{error.message}\nRequestId:{request_id}\nTime:{format_time(time.time())}",
        },
    }
    if error.values:
        body["values"] = [{"key": key, "value": value} for key, value in error.values]
    return body


def format_time(timestamp: float) -> str:
    """RFC 3339 with seven fractional digits and ``Z``, as the service writes timestamps."""
    whole = int(timestamp)
    ticks = round((timestamp - whole) * 10_000_000)
    if ticks >= 10_000_000:
        whole, ticks = whole + 1, 0
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{ticks:07d}Z"


def format_rfc1123(timestamp: float) -> str:
    """An HTTP date (``Mon, 01 Jul 2024 10:15:30 GMT``)."""
    return format_datetime(datetime.fromtimestamp(int(timestamp), tz=timezone.utc), usegmt=True)


def parse_http_date(value: str) -> float | None:
    """Parse an RFC 1123 date into a POSIX timestamp, or ``None`` when it is not one."""
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})?$", re.IGNORECASE
)


def parse_time(value: str) -> float | None:
    """Parse an RFC 3339 timestamp (0 to 9 fractional digits, ``Z`` or an offset) into a POSIX timestamp."""
    match = _RFC3339.match(value.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        moment = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=timezone.utc
        )
    except ValueError:
        return None
    result = moment.timestamp() + (float("0." + fraction) if fraction else 0.0)
    if zone and zone.upper() != "Z":
        sign = 1 if zone[0] == "+" else -1
        result -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    return result


_last_etag_tick = 0


def new_etag() -> str:
    """A fresh ETag in the service's unquoted ``0x8DC...`` form, strictly increasing within the process."""
    global _last_etag_tick
    _last_etag_tick = max(time.time_ns() // 100, _last_etag_tick + 1)
    return f"0x8DC{_last_etag_tick & 0xFFFFFFFFFFFF:012X}"


def new_request_id() -> str:
    """A request id as the service sends in ``request-id``."""
    return str(uuid.uuid4())


_DURATION = re.compile(
    r"^P(?:(?P<days>\d+(?:\.\d+)?)D)?(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?"
    r"(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(value: str) -> float | None:
    """Seconds in an ISO 8601 duration (``PT30S``, ``P1DT2H``), or ``None`` when it is not one."""
    match = _DURATION.match(value.strip().upper())
    if match is None or value.strip().upper() in ("P", "PT"):
        return None
    parts = {name: float(number) for name, number in match.groupdict().items() if number}
    return (
        parts.get("days", 0.0) * 86400
        + parts.get("hours", 0.0) * 3600
        + parts.get("minutes", 0.0) * 60
        + parts.get("seconds", 0.0)
    )
