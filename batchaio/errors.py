"""Exceptions raised by batchaio.

The transport issue extends this tree; the base classes here are what the rest of the package builds on::

    BatchaioError
     └── ValidationError        bad input, found before anything is sent
"""

from __future__ import annotations

__all__ = ["BatchaioError", "ValidationError"]


class BatchaioError(Exception):
    """Base class of every exception raised by batchaio."""


class ValidationError(BatchaioError, ValueError):
    """Input that breaks a rule of the API, detected before any request is sent.

    ``field`` names the offending field as a dotted path from the object the caller passed in
    (``"value[3].command_line"``), or is ``None`` when the error is not about one field.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field
