"""The one place where secrets are removed from what batchaio logs, raises or prints.

- URLs: every query value except ``api-version``, ``timeout`` and ``maxresults`` is replaced (SAS tokens carry
  their signature in ``sig=``), and any user-info password is dropped.
- Headers: ``Authorization`` (and the other credential-bearing headers) are replaced.
- Text: URLs found inside free text (a service error message, a file URL) are redacted as above.
- JSON-like data: values of the fields the generated models mark secret (passwords, keys, SAS-bearing URLs,
  environment setting values) are replaced, recursively; the list is read from the models at import time.
- Other libraries' logs: :func:`install_http_stack_redaction` puts a redacting filter on every logger of the
  HTTP stack (httpx's INFO line for every request would otherwise show full URLs with ``$filter`` values and
  SAS signatures; httpcore and aiohttp print header lists at DEBUG) and silences hpack's, whose DEBUG lines
  carry HTTP/2 header blocks (``Authorization`` included) in a form that cannot be redacted.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import attrs

from batchaio import models
from batchaio._constants import HTTP_STACK_LOGGERS, LOGGABLE_QUERY_PARAMETERS, REDACTED, SILENCED_LOGGERS
from batchaio._fields import WIRE

__all__ = [
    "SECRET_FIELDS_INSIDE",
    "SECRET_FIELD_NAMES",
    "SECRET_HEADERS",
    "RedactingLogFilter",
    "SilencingLogFilter",
    "install_http_stack_redaction",
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


def _normalised(name: str) -> str:
    return name.replace("_", "").lower()


def _model_classes() -> list[type]:
    return [obj for obj in vars(models).values() if isinstance(obj, type) and attrs.has(obj)]


def _names_of(field: attrs.Attribute[Any]) -> set[str]:
    """A model field's wire and Python names, normalised."""
    return {_normalised(field.metadata[WIRE].name), _normalised(field.name)}


def _marked_fields(classes: list[type]) -> tuple[dict[str, set[str]], set[str]]:
    """``({model: its secret names}, every name that some model has as a plain field)``."""
    secret: dict[str, set[str]] = {}
    plain: set[str] = set()
    for cls in classes:
        for field in attrs.fields(cls):
            if WIRE not in field.metadata:
                continue
            if field.metadata[WIRE].secret:
                secret.setdefault(cls.__name__, set()).update(_names_of(field))
            else:
                plain.update(_names_of(field))
    return secret, plain


def _containers_of(model: str, classes: list[type]) -> set[str]:
    """The names of the fields whose type holds ``model`` (``environmentSettings`` for EnvironmentSetting)."""
    holds = re.compile(rf"\b{model}\b")
    return {
        name
        for cls in classes
        for field in attrs.fields(cls)
        if isinstance(field.type, str) and holds.search(field.type)
        for name in _names_of(field)
    }


def _secret_fields() -> tuple[frozenset[str], dict[str, frozenset[str]]]:
    """The secret fields as the generated models mark them (``secret=True`` in their wire metadata).

    Returns the names that are secret wherever they appear (wire camelCase and Python snake_case, compared
    case-insensitively without ``_``), and, for a name that is secret in one model but plain in others
    (``EnvironmentSetting.value``, ``HttpHeader.value``), the container fields holding that model
    (``environmentSettings``, ``uploadHeaders``...) mapped to the names to hide inside them.
    """
    classes = _model_classes()
    secret, plain = _marked_fields(classes)
    everywhere = frozenset(name for names in secret.values() for name in names if name not in plain)
    inside: dict[str, set[str]] = {}
    for model, names in secret.items():
        if names & plain:
            for container in _containers_of(model, classes):
                inside.setdefault(container, set()).update(names & plain)
    return everywhere, {name: frozenset(hidden) for name, hidden in inside.items()}


SECRET_FIELD_NAMES, SECRET_FIELDS_INSIDE = _secret_fields()
"""Read from the models at import time: the one list of secret fields is the models' own metadata."""

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


def redact_data(value: Any, hidden: frozenset[str] = frozenset()) -> Any:
    """Return a copy of JSON-like ``value`` with the values of secret fields replaced, recursively.

    ``hidden``: names also secret at this level (inside an ``environmentSettings`` list, ``value``).
    """
    if isinstance(value, Mapping):
        result: dict[Any, Any] = {}
        for key, item in value.items():
            normalised = _normalised(str(key))
            if (normalised in SECRET_FIELD_NAMES or normalised in hidden) and item is not None:
                result[key] = REDACTED
            else:
                result[key] = redact_data(item, SECRET_FIELDS_INSIDE.get(normalised, frozenset()))
        return result
    if isinstance(value, (list, tuple)):
        return [redact_data(item, hidden) for item in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


_WITHHELD = "[batchaio withheld a log record of the HTTP stack: it showed a credential-bearing header]"
_SECRET_HEADER_IN_TEXT = re.compile(
    "|".join(re.escape(name) for name in sorted(SECRET_HEADERS)), re.IGNORECASE
)


class RedactingLogFilter(logging.Filter):
    """Redacts the URLs in a log record's message and arguments (any argument that prints as a URL), and
    withholds a record whose text names a credential-bearing header (httpcore's and aiohttp's DEBUG lines
    print whole header lists, ``Authorization`` included)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact_text(record.msg)
        args = record.args
        if isinstance(args, tuple):
            record.args = tuple(_redact_log_argument(arg) for arg in args)
        elif isinstance(args, Mapping):
            record.args = {key: _redact_log_argument(arg) for key, arg in args.items()}
        if _SECRET_HEADER_IN_TEXT.search(str(record.msg)) or (
            record.args and _SECRET_HEADER_IN_TEXT.search(repr(record.args))
        ):
            record.msg, record.args = _WITHHELD, ()
        return True


class SilencingLogFilter(logging.Filter):
    """Drops every record: for loggers whose lines carry encoded headers that cannot be redacted (hpack)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return False


def _redact_log_argument(value: object) -> object:
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    text = value if isinstance(value, str) else str(value)
    redacted = redact_text(text)
    return value if redacted == text else redacted


def install_log_redaction(logger_name: str = "httpx", *, silence: bool = False) -> None:
    """Add a :class:`RedactingLogFilter` (or, with ``silence``, a :class:`SilencingLogFilter`) to the logger
    ``logger_name`` unless it already has one. A logger's filters do not see its children's records: name
    each logger that writes (``httpcore.http11``, not ``httpcore``)."""
    logger = logging.getLogger(logger_name)
    kind = SilencingLogFilter if silence else RedactingLogFilter
    if not any(isinstance(existing, kind) for existing in logger.filters):
        logger.addFilter(kind())


def install_http_stack_redaction() -> None:
    """Redact every logger of the HTTP stack below batchaio, and silence hpack's (see the constants)."""
    for name in HTTP_STACK_LOGGERS:
        install_log_redaction(name)
    for name in SILENCED_LOGGERS:
        install_log_redaction(name, silence=True)
