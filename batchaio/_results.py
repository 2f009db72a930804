"""Turning a success response into the operation's result, with the two ways that can fail made typed.

A 304 Not Modified (the answer to ``if_none_match`` / ``if_modified_since`` when nothing changed) carries no
result: it becomes :class:`~batchaio.errors.NotModifiedError`. A body or header that cannot be read as the
result (not JSON, wrong types, out-of-range values) becomes :class:`~batchaio.errors.ResponseParseError`. Both
carry the response metadata (request IDs) and the operation ID, so the failure can be traced on the service.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from batchaio._response import BatchResponse, ResponseMetadata
from batchaio.errors import NotModifiedError, ResponseParseError

__all__ = ["PARSE_FAILURES", "check_modified", "parse_error", "read_result"]

T = TypeVar("T")

PARSE_FAILURES = (ValueError, TypeError, OverflowError, AttributeError, KeyError, IndexError)
"""What reading a malformed body can raise (``orjson.JSONDecodeError`` is a ``ValueError``)."""


def check_modified(metadata: ResponseMetadata, operation: str) -> None:
    """Raise :class:`NotModifiedError` for a 304 answer."""
    if metadata.status_code == 304:
        raise NotModifiedError(
            f"{operation}: not modified (304); the copy already held is current",
            metadata=metadata,
            operation=operation,
        )


def parse_error(err: BaseException, metadata: ResponseMetadata, operation: str) -> ResponseParseError:
    """A :class:`ResponseParseError` for ``err`` raised while reading the response of ``operation``."""
    return ResponseParseError(
        f"{operation}: the {metadata.status_code} response could not be read: {type(err).__name__}: {err}",
        metadata=metadata,
        operation=operation,
    )


def read_result(parse: Callable[[BatchResponse], T], response: BatchResponse, operation: str) -> T:
    """``parse(response)``, with a 304 and any parse failure raised as the typed errors above."""
    check_modified(response.metadata, operation)
    try:
        return parse(response)
    except PARSE_FAILURES as err:
        raise parse_error(err, response.metadata, operation) from err
