"""Shared Key verification of incoming requests, with the same algorithm the client signs with."""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from batchaio._shared_key import shared_key_signature
from batchaio.emulator import _constants as C
from batchaio.emulator._wire import ServiceError, parse_http_date

__all__ = ["verify_request"]


def _failed(detail: str) -> ServiceError:
    return ServiceError("AuthenticationFailed", values=[("AuthenticationErrorDetail", detail)])


def verify_request(
    method: str,
    raw_target: str,
    headers: Mapping[str, str],
    *,
    account: str,
    key: str,
    allow_bearer: bool,
    now: float,
) -> None:
    """Raise ``ServiceError('AuthenticationFailed')`` unless the request is signed for ``account``/``key``.

    ``raw_target`` is the path as received (still percent-encoded) plus ``?query``; ``headers`` have
    lower-case names. ``Authorization: Bearer ...`` is accepted, unchecked, only when ``allow_bearer`` is set.
    """
    authorization = headers.get("authorization", "")
    if not authorization:
        raise _failed("The Authorization header is missing.")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer":
        if allow_bearer and credentials.strip():
            return
        raise _failed("Bearer tokens are not accepted by this emulator (start it with allow_bearer).")
    if scheme != "SharedKey":
        raise _failed(f"Unsupported authorization scheme {scheme!r}.")
    signed_account, _, _ = credentials.partition(":")
    if signed_account != account:
        raise _failed(f"The account name {signed_account!r} does not match this emulator's account.")
    date_text = headers.get("ocp-date") or headers.get("date")
    if not date_text:
        raise _failed("The ocp-date (or Date) header is missing.")
    moment = parse_http_date(date_text)
    if moment is None:
        raise _failed("The ocp-date header is not a valid RFC 1123 date.")
    if abs(now - moment) > C.MAX_OCP_DATE_SKEW_SECONDS:
        raise _failed("The request date is more than 15 minutes away from the server time.")
    expected = shared_key_signature(method, raw_target, headers, account, key)
    if not hmac.compare_digest(expected.encode(), authorization.encode()):
        raise _failed(
            "The MAC signature found in the HTTP request is not the same as any computed signature. "
            "Check the account key and the string to sign."
        )
