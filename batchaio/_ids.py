"""Validation and percent-encoding of the identifiers that go into request paths and create bodies.

Three rules apply.

- IDs the client creates (the ``id`` of a new pool, job, job schedule or task): 1 to 64 letters, digits,
  hyphens and underscores (:func:`entity_id`).
- IDs of existing pools, jobs, job schedules and tasks in a request path: any non-empty text without control
  characters, up to :data:`~batchaio._constants.PATH_ID_MAX_LENGTH` characters, because the service makes
  some itself (a job created by a schedule is ``nightly:job-1``) (:func:`path_id`).
- Other names (node IDs, user names, extension names, application IDs, certificate thumbprints, file paths):
  non-empty text without control characters (:func:`name_segment`).

Path values are never ``.`` or ``..`` (HTTP clients and servers collapse those, so ``delete_file(..., "..")``
would address the task itself), and each becomes exactly one percent-encoded path segment, so
``wd/out put.txt`` is sent as ``wd%2Fout%20put.txt``.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import quote

from batchaio import _constants as C
from batchaio.errors import ValidationError

__all__ = ["ENTITY_ID", "encode_segment", "entity_id", "is_entity_id", "name_segment", "path_id"]

ENTITY_ID: Final = re.compile(rf"[A-Za-z0-9_-]{{1,{C.ENTITY_ID_MAX_LENGTH}}}")
"""A valid new entity ID, whole (``ENTITY_ID.fullmatch``; the bulk engine matches each task's ID with it)."""
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DOT_SEGMENTS = frozenset({".", ".."})


def encode_segment(value: str) -> str:
    """Percent-encode ``value`` as a single path segment (``/`` included)."""
    return quote(value, safe="")


def entity_id(value: object, field: str) -> str:
    """Check the ID of a pool, job, job schedule or task being created; return it (it needs no encoding)."""
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be a str, not {type(value).__name__}", field=field)
    if not ENTITY_ID.fullmatch(value):
        if not value:
            problem = "is empty"
        elif len(value) > C.ENTITY_ID_MAX_LENGTH:
            problem = f"has {len(value)} characters"
        else:
            problem = f"contains {_first_offender(value)!r}"
        raise ValidationError(
            f"{field} {problem}: IDs are 1-{C.ENTITY_ID_MAX_LENGTH} characters of letters, digits, "
            "'-' and '_'",
            field=field,
        )
    return value


def is_entity_id(value: str) -> bool:
    """Whether the string ``value`` is a valid new entity ID; a cheap check for hot paths (no message)."""
    return ENTITY_ID.fullmatch(value) is not None


def path_id(value: object, field: str) -> str:
    """Check the ID of an existing pool, job, job schedule or task and return it percent-encoded."""
    if isinstance(value, str) and ENTITY_ID.fullmatch(value):
        return value
    text = _segment_text(value, field)
    if len(text) > C.PATH_ID_MAX_LENGTH:
        raise ValidationError(
            f"{field} has {len(text)} characters: IDs have at most {C.PATH_ID_MAX_LENGTH}", field=field
        )
    return encode_segment(text)


def name_segment(value: object, field: str) -> str:
    """Check a node ID, user name, extension name, application ID, thumbprint or file path; encode it."""
    return encode_segment(_segment_text(value, field))


def _segment_text(value: object, field: str) -> str:
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be a str, not {type(value).__name__}", field=field)
    if not value:
        raise ValidationError(f"{field} is empty: it must be a non-empty string", field=field)
    if value in _DOT_SEGMENTS:
        raise ValidationError(f"{field} must not be {value!r}: it would address the parent path", field=field)
    match = _CONTROL.search(value)
    if match is not None:
        raise ValidationError(
            f"{field} contains the control character {match.group()!r}: CR, LF and other control "
            "characters are not allowed",
            field=field,
        )
    return value


def _first_offender(value: str) -> str:
    return next(ch for ch in value if not ENTITY_ID.fullmatch(ch))
