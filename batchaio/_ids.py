"""Validation and percent-encoding of the identifiers that go into request paths.

Two rules apply. Entity IDs chosen by callers (pools, jobs, job schedules, tasks) are 1 to 64 letters, digits,
hyphens and underscores. Names chosen elsewhere (node IDs, user names, extension names, application IDs,
certificate thumbprints, file paths) only have to be non-empty text without control characters. Every value
becomes exactly one percent-encoded path segment, so ``wd/out put.txt`` is sent as ``wd%2Fout%20put.txt``.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from batchaio.errors import ValidationError

__all__ = ["encode_segment", "entity_id", "is_entity_id", "name_segment"]

_ENTITY_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_MAX_ENTITY_ID = 64
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def encode_segment(value: str) -> str:
    """Percent-encode ``value`` as a single path segment (``/`` included)."""
    return quote(value, safe="")


def entity_id(value: object, field: str) -> str:
    """Check a pool, job, job schedule or task ID and return it percent-encoded."""
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be a str, not {type(value).__name__}", field=field)
    if not _ENTITY_ID.fullmatch(value):
        if not value:
            problem = "is empty"
        elif len(value) > _MAX_ENTITY_ID:
            problem = f"has {len(value)} characters"
        else:
            problem = f"contains {_first_offender(value)!r}"
        raise ValidationError(
            f"{field} {problem}: IDs are 1-64 characters of letters, digits, '-' and '_'", field=field
        )
    return value


def is_entity_id(value: str) -> bool:
    """Whether the string ``value`` is a valid entity ID; a cheap check for hot paths (no message)."""
    return _ENTITY_ID.fullmatch(value) is not None


def name_segment(value: object, field: str) -> str:
    """Check a node ID, user name, extension name, application ID, thumbprint or file path; encode it."""
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be a str, not {type(value).__name__}", field=field)
    if not value:
        raise ValidationError(f"{field} is empty: it must be a non-empty string", field=field)
    match = _CONTROL.search(value)
    if match is not None:
        raise ValidationError(
            f"{field} contains the control character {match.group()!r}: CR, LF and other control "
            "characters are not allowed",
            field=field,
        )
    return encode_segment(value)


def _first_offender(value: str) -> str:
    return next(ch for ch in value if not _ENTITY_ID.fullmatch(ch))
