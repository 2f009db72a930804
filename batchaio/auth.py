"""Credentials: Shared Key (account name + key) and Microsoft Entra tokens.

- :class:`SharedKeyCredential` signs each request with the account key (:func:`shared_key_signature` is the
  pure signing function, shared with the local emulator).
- Any object with an async ``get_token(*scopes, **kwargs)`` returning something with ``.token`` and
  ``.expires_on`` (for example the ``azure.identity.aio`` credentials) is a :class:`AsyncTokenCredential`;
  :class:`TokenCredentialAuth` adapts it: one cached token, refreshed single-flight a few minutes (with
  jitter) before it expires, and refreshed (once for all requests refused together) after a 401: with the
  service's claims after a claims challenge, plainly otherwise.

Neither ever sends the ``Authorization`` header anywhere but the client's endpoint, and tokens never travel
over plain ``http://``. A ``get_token`` that raises surfaces as :class:`~batchaio.errors.CredentialError`
with the credential's exception as ``__cause__``. The client never closes a credential it was given: close
it yourself (``async with DefaultAzureCredential() as credential:``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import random
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol, runtime_checkable

import anyio

from batchaio import _constants as C
from batchaio._redact import redact_text
from batchaio._shared_key import canonical_resource, shared_key_signature, string_to_sign
from batchaio.errors import CredentialError, ValidationError

__all__ = [
    "AccessTokenLike",
    "AsyncTokenCredential",
    "SharedKeyCredential",
    "TokenCredentialAuth",
    "shared_key_signature",
]

_ACCOUNT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")


class SharedKeyCredential:
    """An account name and its Shared Key (base64, as the Azure portal shows it).

    The key is checked and decoded once, at construction; it never appears in ``repr()`` or error messages.
    """

    __slots__ = ("_mac", "_resources", "account_name")

    def __init__(self, account_name: str, key: str) -> None:
        if not isinstance(account_name, str) or not _ACCOUNT_NAME.fullmatch(account_name):
            raise ValidationError(
                "account_name must be 1-64 letters, digits or hyphens, starting with a letter or digit",
                field="account_name",
            )
        if not isinstance(key, str):
            raise ValidationError("the account key must be a base64 string", field="key")
        try:
            secret = base64.b64decode(key.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise ValidationError("the account key is not valid base64", field="key") from None
        if not secret:
            raise ValidationError("the account key is empty", field="key")
        self.account_name = account_name
        # Keyed once; each signature continues from a copy (cheaper than keying HMAC per request).
        self._mac = hmac.new(secret, digestmod=hashlib.sha256)
        self._resources: dict[str, str] = {}  # URL -> its canonical resource (calls repeat URLs)

    def sign(self, method: str, url: str, headers: Mapping[str, str]) -> str:
        """Return the ``Authorization`` value for a request exactly as it will be sent.

        ``url`` is the final, encoded URL; ``headers`` the final headers (``ocp-date`` included). Same result
        as :func:`shared_key_signature` with this credential's name and key.
        """
        resource = self._resources.get(url)
        if resource is None:
            resource = canonical_resource(url, self.account_name)
            if len(self._resources) >= C.PARSED_URL_CACHE_SIZE:
                self._resources.clear()
            self._resources[url] = resource
        text = string_to_sign(method, url, headers, self.account_name, resource=resource)
        mac = self._mac.copy()
        mac.update(text.encode("utf-8"))
        digest = mac.digest()
        return f"SharedKey {self.account_name}:{base64.b64encode(digest).decode('ascii')}"

    def __repr__(self) -> str:
        return f"SharedKeyCredential(account_name={self.account_name!r}, key=<redacted>)"

    def __reduce__(self) -> Any:
        raise TypeError("SharedKeyCredential cannot be pickled (it holds a secret)")


@runtime_checkable
class AccessTokenLike(Protocol):
    """What ``get_token`` returns: ``token`` and its expiry ``expires_on`` (seconds since the epoch)."""

    @property
    def token(self) -> str:
        """The bearer token itself (a secret: never logged)."""
        ...

    @property
    def expires_on(self) -> int:
        """When the token expires, in seconds since the epoch."""
        ...


@runtime_checkable
class AsyncTokenCredential(Protocol):
    """Any object with ``async get_token(*scopes, **kwargs)``, such as ``azure.identity.aio`` credentials."""

    def get_token(self, *scopes: str, **kwargs: Any) -> Awaitable[AccessTokenLike]:
        """A token for ``scopes``; batchaio passes ``claims=`` after a claims challenge."""
        ...


class _Authorizer(Protocol):
    """How the pipeline authenticates one attempt (internal).

    ``authorization`` returns the ``Authorization`` value for a request whose URL and other headers are
    final; ``on_challenge`` answers a 401 (``sent``: the ``Authorization`` the refused request carried) and
    says whether to retry; ``answers_challenges`` says whether it ever can.
    """

    answers_challenges: bool

    async def authorization(self, method: str, url: str, headers: Mapping[str, str]) -> str: ...

    async def on_challenge(self, sent: str | None, response_headers: Mapping[str, str]) -> bool: ...


class SharedKeyAuth:
    """Adapts a :class:`SharedKeyCredential` to the pipeline: signs every attempt as sent."""

    __slots__ = ("_credential",)
    answers_challenges = False

    def __init__(self, credential: SharedKeyCredential) -> None:
        self._credential = credential

    async def authorization(self, method: str, url: str, headers: Mapping[str, str]) -> str:
        """The Shared Key signature of the request as it will be sent."""
        return self._credential.sign(method, url, headers)

    async def on_challenge(self, sent: str | None, response_headers: Mapping[str, str]) -> bool:
        """Shared Key has no challenge to answer."""
        return False


_CLAIMS = re.compile(r'claims="([^"]*)"', re.IGNORECASE)


def claims_from_challenge(www_authenticate: str | None) -> str | None:
    """Return the decoded ``claims`` of a ``WWW-Authenticate: Bearer ... claims="<base64>"`` challenge."""
    if not www_authenticate or not www_authenticate.lstrip().lower().startswith("bearer"):
        return None
    match = _CLAIMS.search(www_authenticate)
    if match is None or not match.group(1):
        return None
    encoded = match.group(1).rstrip("=").replace("-", "+").replace("_", "/")
    try:
        decoded = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    return decoded or None


def _bearer(authorization: str | None) -> str | None:
    """The bearer token an ``Authorization`` value carried, if any."""
    if authorization is None or not authorization.startswith("Bearer "):
        return None
    return authorization[len("Bearer ") :]


class TokenCredentialAuth:
    """Adapts an :class:`AsyncTokenCredential` to the pipeline.

    Keeps one token. Concurrent calls that find it missing or due for refresh wait on one lock, and only the
    first asks the credential (single flight). A token is refreshed ``refresh_margin`` seconds (minus up to
    ``refresh_jitter``) before ``expires_on``, or at its ``refresh_on`` when the credential gives one. A 401
    with a claims challenge makes :meth:`on_challenge` fetch a token with ``get_token(scope, claims=...)``; a
    401 without one makes it fetch a fresh token; either way once for all the requests refused together.
    """

    def __init__(
        self,
        credential: AsyncTokenCredential,
        *,
        scope: str = C.DEFAULT_TOKEN_SCOPE,
        refresh_margin: float = C.TOKEN_REFRESH_MARGIN,
        refresh_jitter: float = C.TOKEN_REFRESH_JITTER,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not callable(getattr(credential, "get_token", None)):
            raise ValidationError("the credential has no get_token method", field="credential")
        self.credential = credential
        self.scope = scope
        self._margin = refresh_margin
        self._jitter = refresh_jitter
        self._rng = rng if rng is not None else random.Random()
        self._clock = clock
        self._lock = anyio.Lock()
        self._token: str | None = None
        self._expires_on = 0.0
        self._refresh_at = 0.0
        self._claims: str | None = None

    async def token(self) -> str:
        """The current token, fetched or refreshed if due."""
        token = self._token
        if token is not None and self._clock() < self._refresh_at:
            return token
        async with self._lock:
            if self._token is not None and self._clock() < self._refresh_at:
                return self._token
            try:
                await self._fetch()
            except Exception:
                # A refresh that fails while the old token is still good keeps the old one for now.
                if (
                    self._token is not None
                    and self._clock() < self._expires_on - C.TOKEN_MIN_REMAINING_AFTER_FAILED_REFRESH
                ):
                    return self._token
                raise
            assert self._token is not None
            return self._token

    async def _fetch(self, **kwargs: Any) -> None:
        try:
            access = await self.credential.get_token(self.scope, **kwargs)
        except Exception as exc:
            raise CredentialError(
                f"the credential {type(self.credential).__name__} could not give a token: "
                f"{type(exc).__name__}: {redact_text(str(exc))}"
            ) from exc
        now = self._clock()
        expires_on = float(access.expires_on)
        refresh_on = getattr(access, "refresh_on", None)
        lifetime = expires_on - now
        if isinstance(refresh_on, (int, float)) and now < refresh_on < expires_on:
            refresh_at = float(refresh_on)
        elif lifetime > 2 * (self._margin + self._jitter):
            refresh_at = expires_on - self._margin - self._rng.uniform(0.0, self._jitter)
        else:
            refresh_at = now + max(lifetime, 0.0) / 2
        self._token = access.token
        self._expires_on = expires_on
        self._refresh_at = refresh_at

    answers_challenges = True

    async def authorization(self, method: str, url: str, headers: Mapping[str, str]) -> str:
        """``Bearer <token>``; refuses anything but https."""
        if not url.startswith("https://"):
            raise ValidationError("Microsoft Entra tokens are only sent over https", field="endpoint")
        return f"Bearer {await self.token()}"

    async def on_challenge(self, sent: str | None, response_headers: Mapping[str, str]) -> bool:
        """Answer a 401 with a new token; ``True``: retry the request once.

        A claims challenge fetches a token with ``get_token(scope, claims=...)``; a plain 401 drops the cached
        token and fetches a fresh one. Single flight: when many requests sent with the same token are refused
        together, one fetch answers them all (a request whose token has already been replaced since it was
        sent just retries with the new one).
        """
        claims = claims_from_challenge(response_headers.get("www-authenticate"))
        token = _bearer(sent)
        async with self._lock:
            if token is not None:
                replaced = self._token is not None and token != self._token
            else:
                replaced = claims is not None and claims == self._claims
            if not replaced:
                if claims is not None:
                    await self._fetch(claims=claims)
                else:
                    self._token = None
                    await self._fetch()
                self._claims = claims
        return True

    def __repr__(self) -> str:
        return f"TokenCredentialAuth(credential={type(self.credential).__name__}, scope={self.scope!r})"
