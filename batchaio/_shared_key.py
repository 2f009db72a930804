"""The Shared Key signing algorithm of the Batch service, as a pure function (no I/O, no clock).

Kept apart from the credential classes so that the client and the local emulator verify requests with the same
code, and so that it can be tested against fixed vectors.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlsplit

__all__ = ["canonical_resource", "shared_key_signature", "string_to_sign"]

_SIGNED_STANDARD_HEADERS = (
    "content-encoding",
    "content-language",
    "content-length",
    "content-md5",
    "content-type",
    "date",
    "if-modified-since",
    "if-match",
    "if-none-match",
    "if-unmodified-since",
    "range",
)
_STANDARD_LINE = {name: line for line, name in enumerate(_SIGNED_STANDARD_HEADERS, start=1)}
_BLANK_STANDARD_LINES = ("",) * len(_SIGNED_STANDARD_HEADERS)
_CONTENT_LENGTH_LINE = _STANDARD_LINE["content-length"]


def canonical_resource(url: str, account_name: str) -> str:
    """The last part of the signed text: ``/<account><path>`` and the query values, sorted by name.

    ``url`` is the full URL exactly as it goes on the wire (path still percent-encoded).
    """
    parts = urlsplit(url)
    resource = f"/{account_name}{parts.path or '/'}"
    query = sorted((name, value) for name, value in parse_qsl(parts.query, keep_blank_values=True) if value)
    for name, value in query:
        resource += f"\n{name}:{value}"
    return resource


def string_to_sign(
    method: str, url: str, headers: Mapping[str, str], account_name: str, *, resource: str | None = None
) -> str:
    """Return the canonical text that Shared Key signs for one request.

    ``url`` is the full URL exactly as it goes on the wire (path still percent-encoded). ``headers`` are the
    request headers; names are matched without regard to case. ``resource``: the
    :func:`canonical_resource` of ``url`` when the caller already has it.
    """
    verb = method.upper()
    lines = [verb, *_BLANK_STANDARD_LINES]
    ocp: dict[str, str] = {}
    for name, value in headers.items():
        lowered = name.lower()
        line = _STANDARD_LINE.get(lowered)
        if line is not None:
            lines[line] = value
        elif lowered[:4] == "ocp-":
            ocp[lowered] = value
    if not lines[_CONTENT_LENGTH_LINE] and verb not in ("GET", "HEAD"):
        lines[_CONTENT_LENGTH_LINE] = "0"
    lines += [f"{name}:{ocp[name]}" for name in sorted(ocp) if ocp[name]]
    lines.append(resource if resource is not None else canonical_resource(url, account_name))
    return "\n".join(lines)


def shared_key_signature(
    method: str, url: str, headers: Mapping[str, str], account_name: str, key: str
) -> str:
    """Return the whole ``Authorization`` header value, ``SharedKey <account>:<signature>``.

    ``key`` is the account key as the portal shows it (base64). A key that is not valid base64 raises
    ``ValueError`` without echoing the key.
    """
    try:
        secret = base64.b64decode(key, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the Batch account key is not valid base64") from None
    text = string_to_sign(method, url, headers, account_name)
    digest = hmac.new(secret, text.encode("utf-8"), hashlib.sha256).digest()
    return f"SharedKey {account_name}:{base64.b64encode(digest).decode('ascii')}"
