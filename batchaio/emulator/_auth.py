"""Shared Key verification of incoming requests, with the same algorithm the client signs with."""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping

import orjson

from batchaio._shared_key import shared_key_signature
from batchaio.emulator import _constants as C
from batchaio.emulator._wire import ServiceError, parse_http_date

__all__ = ["check_bearer_token", "verify_request"]


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
    bearer_audience: str | None = None,
) -> None:
    """Raise ``ServiceError('AuthenticationFailed')`` unless the request is signed for ``account``/``key``.

    ``raw_target`` is the path as received (still percent-encoded) plus ``?query``; ``headers`` have
    lower-case names. ``Authorization: Bearer ...`` is accepted only when ``allow_bearer`` is set: unchecked,
    or, with ``bearer_audience``, when it is a JWT for that audience (see ``check_bearer_token``).
    """
    authorization = headers.get("authorization", "")
    if not authorization:
        raise _failed("The Authorization header is missing.")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer":
        if allow_bearer and credentials.strip():
            if bearer_audience is not None:
                check_bearer_token(credentials.strip(), bearer_audience, now)
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


def _claims(token: str) -> dict[str, object] | None:
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = orjson.loads(base64.urlsafe_b64decode(payload))
    except (binascii.Error, ValueError):
        return None
    return claims if isinstance(claims, dict) else None


def check_bearer_token(token: str, audience: str, now: float) -> None:
    """Raise ``AuthenticationFailed`` unless ``token`` is a JWT whose ``aud`` is ``audience`` (a trailing
    ``/`` does not matter) and whose ``exp``/``nbf``, when present, admit ``now``.

    The signature is not checked: this is for test tokens (``alg: none``) and for catching a token requested
    for the wrong resource, not for security."""
    claims = _claims(token)
    if claims is None:
        raise _failed("The bearer token is not a JWT (header.payload.signature, base64url).")
    audiences = claims.get("aud")
    wanted = audience.rstrip("/")
    values = audiences if isinstance(audiences, list) else [audiences]
    if not any(isinstance(value, str) and value.rstrip("/") == wanted for value in values):
        raise _failed(f"The access token audience is invalid: expected {audience!r}.")
    expires, not_before = claims.get("exp"), claims.get("nbf")
    if isinstance(expires, (int, float)) and now >= expires:
        raise _failed("The access token has expired.")
    if isinstance(not_before, (int, float)) and now < not_before:
        raise _failed("The access token is not valid yet.")
