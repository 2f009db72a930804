"""The one place where secrets are removed from what batchaio logs, raises or prints.

- URLs: every query value except ``api-version``, ``timeout`` and ``maxresults`` is replaced (SAS tokens carry
  their signature in ``sig=``), and any user-info password is dropped.
- Headers: ``Authorization`` (and the other credential-bearing headers) are replaced.
- Text: URLs found inside free text (a service error message, a file URL) are redacted as above.
- JSON-like data: values of secret fields (passwords, keys, SAS-bearing URLs, environment setting values) are
  replaced, recursively.
- Other libraries' logs: :func:`install_log_redaction` puts a filter on the ``httpx`` logger, whose INFO line
  for every request would otherwise show full URLs (``$filter`` values, SAS signatures).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from batchaio._constants import LOGGABLE_QUERY_PARAMETERS, REDACTED

__all__ = [
    "SECRET_FIELD_NAMES",
    "SECRET_HEADERS",
    "RedactingLogFilter",
    "install_log_redaction",
    "redact_data",
    "redact_headers",
    "redact_query",
    "redact_text",
    "redact_url",
]

SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-ms-encryption-key"}
)

# Field names (wire camelCase and Python snake_case, compared case-insensitively without "_") whose values are
# secrets. Environment settings are ``{"name": ..., "value": ...}`` pairs: their value is hidden by
# ``redact_data`` through the ``environmentSettings`` rule below.
SECRET_FIELD_NAMES = frozenset(
    name.replace("_", "").lower()
    for name in (
        "password",
        "accountKey",
        "sasKey",
        "sasToken",
        "sshPrivateKey",
        "certificatePassword",
        "data",  # certificate payload (PFX bytes)
        "containerUrl",
        "sasUrl",
        "httpUrl",
        "storageContainerUrl",
        "blobSource",
        "fileUrl",
        "uploadUrl",
    )
)
_ENVIRONMENT_FIELDS = frozenset({"environmentsettings", "commonenvironmentsettings"})

_URL_IN_TEXT = re.compile(r"https?://[^\s\"'<>]+", re.IGNORECASE)


def redact_url(url: str) -> str:
    """Return ``url`` with every query value but the harmless ones replaced and any password dropped."""
    if "?" not in url and "@" not in url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return REDACTED
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{REDACTED}@{netloc.rsplit('@', 1)[1]}"
    query = parts.query
    if query:
        pieces = []
        for item in query.split("&"):
            name, sep, value = item.partition("=")
            if sep and value and unquote(name).lower() not in LOGGABLE_QUERY_PARAMETERS:
                value = REDACTED
            pieces.append(f"{name}{sep}{value}")
        query = "&".join(pieces)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_query(query: Mapping[str, str]) -> dict[str, str]:
    """Return the query parameters with every value but the harmless ones replaced, as :func:`redact_url`."""
    return {
        name: value if name.lower() in LOGGABLE_QUERY_PARAMETERS else REDACTED
        for name, value in query.items()
    }


def redact_text(text: str) -> str:
    """Redact every URL that appears inside ``text``."""
    if "://" not in text:
        return text
    return _URL_IN_TEXT.sub(lambda match: redact_url(match.group(0)), text)


def redact_headers(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
    """Return a plain dict of the headers with credential-bearing values replaced and URLs redacted."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    return {name: REDACTED if name.lower() in SECRET_HEADERS else redact_text(value) for name, value in items}


def redact_data(value: Any) -> Any:
    """Return a copy of JSON-like ``value`` with the values of secret fields replaced, recursively."""
    if isinstance(value, Mapping):
        result: dict[Any, Any] = {}
        for key, item in value.items():
            normalised = str(key).replace("_", "").lower()
            if normalised in SECRET_FIELD_NAMES and item is not None:
                result[key] = REDACTED
            elif normalised in _ENVIRONMENT_FIELDS and isinstance(item, list):
                result[key] = [_redact_setting(setting) for setting in item]
            else:
                result[key] = redact_data(item)
        return result
    if isinstance(value, (list, tuple)):
        return [redact_data(item) for item in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


def _redact_setting(setting: Any) -> Any:
    if isinstance(setting, Mapping) and "value" in setting:
        return {**setting, "value": REDACTED}
    return redact_data(setting)


class RedactingLogFilter(logging.Filter):
    """Redacts the URLs in a log record's message and arguments (any argument that prints as a URL)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact_text(record.msg)
        args = record.args
        if isinstance(args, tuple):
            record.args = tuple(_redact_log_argument(arg) for arg in args)
        elif isinstance(args, Mapping):
            record.args = {key: _redact_log_argument(arg) for key, arg in args.items()}
        return True


def _redact_log_argument(value: object) -> object:
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    text = value if isinstance(value, str) else str(value)
    redacted = redact_text(text)
    return value if redacted == text else redacted


def install_log_redaction(logger_name: str = "httpx") -> None:
    """Add a :class:`RedactingLogFilter` to ``logger_name`` unless it already has one."""
    logger = logging.getLogger(logger_name)
    if not any(isinstance(existing, RedactingLogFilter) for existing in logger.filters):
        logger.addFilter(RedactingLogFilter())
