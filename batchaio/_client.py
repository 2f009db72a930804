"""BatchClient: configuration, the owned HTTP client, the request pipeline and the resource groups."""

from __future__ import annotations

import copy
import functools
import importlib.util
import os
import random
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import httpx

from batchaio import _constants as C
from batchaio._config import (
    DEFAULT_TIMEOUT,
    NOT_GIVEN,
    Limits,
    LimitsLike,
    NotGiven,
    Timeout,
    TimeoutLike,
    limits_of,
    timeout_phases,
)
from batchaio._events import EventHooks
from batchaio._http import HttpxTransport, Transport
from batchaio._options import DefaultOptions, check_defaults
from batchaio._redact import install_http_stack_redaction
from batchaio._retry import RetryPolicy
from batchaio._transport import Pipeline
from batchaio.auth import (
    AsyncTokenCredential,
    SharedKeyAuth,
    SharedKeyCredential,
    TokenCredentialAuth,
    _Authorizer,
)
from batchaio.errors import ValidationError
from batchaio.resources import (
    Applications,
    BatchClientWithRawResponse,
    Certificates,
    Jobs,
    JobSchedules,
    Nodes,
    Pools,
    Tasks,
)

__all__ = ["BatchClient"]

# The environment variables of :meth:`BatchClient.from_env` (the names the emulator prints).
ENV_ENDPOINT = "BATCH_ENDPOINT"
ENV_ACCOUNT_NAME = "BATCH_ACCOUNT_NAME"
ENV_ACCOUNT_KEY = "BATCH_ACCOUNT_KEY"


class BatchClient:
    """Asynchronous client of one Azure Batch account.

    ``endpoint`` is the account URL (``https://<account>.<region>.batch.azure.com``). ``credential`` is a
    :class:`~batchaio.SharedKeyCredential` or any Microsoft Entra credential with an async ``get_token`` (for
    example ``azure.identity.aio.DefaultAzureCredential()``). Keyword options:

    - ``timeout``: an ``httpx.Timeout``, a :class:`~batchaio.Timeout` (phases left out keep the defaults), a
      number of seconds for every phase, or ``None`` for none.
    - ``limits``: connection-pool ``httpx.Limits`` (or :class:`~batchaio.Limits`) of the built-in transport.
    - ``max_response_bytes``: the largest decoded body read whole (``None``: no cap); past it the call raises
      :class:`~batchaio.errors.ResponseParseError`.
    - ``retry``: the default :class:`~batchaio.RetryPolicy` (``RetryPolicy.no_retries()`` turns retries off).
    - ``http2``: use HTTP/2 (needs the optional ``h2`` package: ``pip install 'httpx[http2]'``).
    - ``allow_insecure_http``: accept an ``http://`` endpoint (the local emulator); tokens are still refused
      over http.
    - ``token_scope``: the Entra scope (other clouds use another resource).
    - ``transport``: :class:`batchaio.transports.AiohttpTransport`, or an ``httpx.AsyncBaseTransport`` to
      send through instead of the built-in one (``limits`` and ``http2`` then do not apply); the client closes
      it when it closes. The client never closes the ``credential``: close it yourself.
    - ``event_hooks``: :class:`~batchaio.EventHooks` called before each attempt, after each attempt and before
      each retry wait (for metrics and logging; see also OpenTelemetry tracing with ``batchaio[otel]``).

    Use it as ``async with BatchClient(...) as client:`` or call :meth:`aclose`. Works under asyncio and trio.
    """

    def __init__(
        self,
        endpoint: str,
        credential: SharedKeyCredential | AsyncTokenCredential,
        *,
        timeout: TimeoutLike = DEFAULT_TIMEOUT,
        limits: LimitsLike | None = None,
        retry: RetryPolicy | None = None,
        http2: bool = False,
        allow_insecure_http: bool = False,
        token_scope: str = C.DEFAULT_TOKEN_SCOPE,
        transport: httpx.AsyncBaseTransport | Transport | None = None,
        max_response_bytes: int | None = C.DEFAULT_MAX_RESPONSE_BYTES,
        event_hooks: EventHooks | None = None,
    ) -> None:
        self.endpoint = _check_endpoint(endpoint, allow_insecure_http=allow_insecure_http)
        self.credential = credential
        authorizer: _Authorizer
        if isinstance(credential, SharedKeyCredential):
            authorizer = SharedKeyAuth(credential)
        elif callable(getattr(credential, "get_token", None)):
            if not self.endpoint.startswith("https://"):
                raise ValidationError(
                    "Microsoft Entra tokens are only sent over https, even with allow_insecure_http",
                    field="endpoint",
                )
            authorizer = TokenCredentialAuth(credential, scope=token_scope)
        else:
            raise ValidationError(
                "credential must be a SharedKeyCredential or have an async get_token method",
                field="credential",
            )
        if http2 and importlib.util.find_spec("h2") is None:
            raise ImportError(
                "http2=True needs the optional 'h2' package; install it with: pip install 'httpx[http2]'"
            )
        self.timeout = _timeout(timeout)
        self.limits = limits if limits is not None else Limits()
        self.retry = retry if retry is not None else RetryPolicy(rng=random.Random())
        if max_response_bytes is not None:
            _check_max_response_bytes(max_response_bytes)
        install_http_stack_redaction()  # httpx logs every request's full URL at INFO, hpack headers
        self._transport = _transport(transport, http2=http2, limits=self.limits, timeout=self.timeout)
        self._pipeline = Pipeline(
            transport=self._transport,
            endpoint=self.endpoint,
            authorizer=authorizer,
            retry=self.retry,
            timeout=self.timeout,
            max_response_bytes=max_response_bytes,
            event_hooks=event_hooks,
        )
        self._closed = False
        self._owner: BatchClient | None = None
        self._build_groups({})

    def _build_groups(self, defaults: DefaultOptions) -> None:
        self._defaults = defaults
        self.applications = Applications(self._pipeline, defaults)
        self.certificates = Certificates(self._pipeline, defaults)
        self.jobs = Jobs(self._pipeline, defaults)
        self.job_schedules = JobSchedules(self._pipeline, defaults)
        self.nodes = Nodes(self._pipeline, defaults)
        self.pools = Pools(self._pipeline, defaults)
        self.tasks = Tasks(self._pipeline, defaults)

    @functools.cached_property
    def with_raw_response(self) -> BatchClientWithRawResponse:
        """The non-paged operations returning a :class:`~batchaio.RawResponse` (status, headers, ``parse()``):
        ``await client.with_raw_response.pools.get("pool-1")``."""
        return BatchClientWithRawResponse(self)

    def with_options(
        self,
        *,
        timeout: TimeoutLike | NotGiven = NOT_GIVEN,
        retry: RetryPolicy | None = None,
        deadline: float | None = None,
        server_timeout: int | None = None,
    ) -> BatchClient:
        """A view of this client whose calls default to other options; it shares the connection pool.

        ``client.with_options(retry=RetryPolicy.no_retries(), timeout=5).pools.get("pool-1")``. Options
        left out keep this client's (or this view's) defaults; a call's own options still win. Closing a
        view does nothing: the client it came from owns the connections.
        """
        given = {"retry": retry, "deadline": deadline, "server_timeout": server_timeout}
        changes: dict[str, Any] = {name: value for name, value in given.items() if value is not None}
        if timeout is not NOT_GIVEN:
            changes["timeout"] = timeout
        defaults = check_defaults({**self._defaults, **changes})
        view = copy.copy(self)
        view.__dict__.pop("with_raw_response", None)
        view._owner = self._owner or self
        view.retry = defaults.get("retry") or view._owner.retry
        view._build_groups(defaults)
        return view

    @classmethod
    def from_env(
        cls,
        *,
        credential: SharedKeyCredential | AsyncTokenCredential | None = None,
        environ: Mapping[str, str] | None = None,
        **options: Any,
    ) -> BatchClient:
        """A client for the account named by the environment.

        Reads ``BATCH_ENDPOINT``, and unless a ``credential`` is given (an Entra credential, say) also
        ``BATCH_ACCOUNT_NAME`` and ``BATCH_ACCOUNT_KEY`` for a :class:`~batchaio.SharedKeyCredential`.
        ``environ`` replaces ``os.environ``; the other keyword arguments are those of :class:`BatchClient`
        (``allow_insecure_http=True`` for the emulator's ``http://`` endpoint). A variable that is missing
        or empty raises :class:`~batchaio.errors.ValidationError` naming it.
        """
        env = os.environ if environ is None else environ
        endpoint = _env_value(env, ENV_ENDPOINT)
        if credential is None:
            credential = SharedKeyCredential(
                _env_value(env, ENV_ACCOUNT_NAME), _env_value(env, ENV_ACCOUNT_KEY)
            )
        return cls(endpoint, credential, **options)

    @property
    def is_closed(self) -> bool:
        """Whether :meth:`aclose` has been called (on the client that owns the connections)."""
        return self._owner.is_closed if self._owner is not None else self._closed

    async def aclose(self) -> None:
        """Close the connections (and the transport). Safe to call twice; a no-op on a
        :meth:`with_options` view."""
        if self._owner is None and not self._closed:
            self._closed = True
            await self._transport.aclose()

    async def __aenter__(self) -> BatchClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"BatchClient(endpoint={self.endpoint!r}, credential={_credential_repr(self.credential)})"


def _env_value(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ValidationError(f"the environment variable {name} is not set", field=name)
    return value


def _credential_repr(credential: Any) -> str:
    if isinstance(credential, SharedKeyCredential):
        return repr(credential)
    return f"<{type(credential).__name__}>"


def _timeout(value: TimeoutLike) -> Timeout:
    phases = timeout_phases(value, DEFAULT_TIMEOUT)
    return Timeout(**phases)


def _check_max_response_bytes(value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValidationError(
            "max_response_bytes must be a whole number of bytes >= 1 or None", field="max_response_bytes"
        )


def _transport(
    transport: httpx.AsyncBaseTransport | Transport | None,
    *,
    http2: bool,
    limits: LimitsLike,
    timeout: Timeout,
) -> Transport:
    """The transport the pipeline sends through: a batchaio transport as given, else httpx (its own pool,
    or the given httpx transport under an ``httpx.AsyncClient``)."""
    if transport is not None and not isinstance(transport, httpx.AsyncBaseTransport):
        return transport
    client = httpx.AsyncClient(
        transport=transport,
        http2=http2,
        limits=limits_of(limits),
        timeout=timeout.as_httpx(),
        follow_redirects=False,
        verify=True,
    )
    return HttpxTransport(client)


def _check_endpoint(endpoint: str, *, allow_insecure_http: bool) -> str:
    if not isinstance(endpoint, str) or any(ch in endpoint for ch in "\r\n\t "):
        raise ValidationError("endpoint must be a URL string without whitespace", field="endpoint")
    try:
        url = httpx.URL(endpoint)
    except httpx.InvalidURL:
        raise ValidationError("endpoint is not a valid URL", field="endpoint") from None
    if url.scheme not in ("https", "http") or not url.host:
        raise ValidationError("endpoint must be an https:// URL with a host", field="endpoint")
    if url.scheme == "http" and not allow_insecure_http:
        raise ValidationError(
            "plain http:// endpoints are refused; pass allow_insecure_http=True for a local emulator",
            field="endpoint",
        )
    if url.userinfo or url.query or url.fragment:
        raise ValidationError(
            "endpoint must not contain credentials, a query or a fragment", field="endpoint"
        )
    if url.raw_path.rstrip(b"/"):
        # Every operation's path is absolute from the account root: a base path would be silently mis-joined.
        raise ValidationError(
            "endpoint must be the account URL without a path (https://<account>.<region>.batch.azure.com)",
            field="endpoint",
        )
    return str(url.copy_with(raw_path=b"")).rstrip("/")
