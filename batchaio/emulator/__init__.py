"""A local emulator of the Azure Batch data-plane service (API 2024-07-01.20.0), for tests and demos.

In process, through ``httpx.ASGITransport``::

    emu = Emulator()
    transport = httpx.ASGITransport(app=emu.app)       # base URL: any http://host, e.g. "http://emulator"

Over real HTTP on a free loopback port::

    async with emu.serve() as endpoint:                # asyncio only
        ...
    endpoint = emu.start(); ...; emu.stop()            # in a background thread

or from a shell: ``python -m batchaio.emulator --port 8765``. Requests must be signed with Shared Key for
``emu.account`` / ``emu.key`` (or carry ``Authorization: Bearer ...`` when ``allow_bearer=True``).

Needs the ``emulator`` extra (``pip install batchaio[emulator]``): importing ``batchaio`` itself never imports
Starlette or uvicorn.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import shutil
import socket
import tempfile
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio

try:
    import starlette  # noqa: F401
    import uvicorn  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a venv without the extra
    raise ImportError(
        f"batchaio.emulator needs the 'emulator' extra ({exc.name} is missing): "
        "pip install 'batchaio[emulator]'"
    ) from exc

from batchaio.emulator import _constants as C
from batchaio.emulator._app import ConnectionDropped, EmulatorApp
from batchaio.emulator._faults import FaultConfig, FaultInjector, FaultKind
from batchaio.emulator._realism import RateLimiter, Realism
from batchaio.emulator._state import Store
from batchaio.emulator._tls import TlsFiles, generate_self_signed

__all__ = [
    "ConnectionDropped",
    "Emulator",
    "FaultConfig",
    "FaultInjector",
    "FaultKind",
    "Realism",
    "TlsFiles",
]

API_VERSION = C.API_VERSION
DEFAULT_ACCOUNT = C.DEFAULT_ACCOUNT
DEFAULT_KEY = C.DEFAULT_KEY


class Emulator:
    """One emulated Batch account, its in-memory state and its ASGI app.

    Keyword arguments:

    - ``account``, ``key``: the Shared Key credentials requests must be signed with (key in base64).
    - ``execute``: run command lines for real (``/bin/sh -c``) instead of simulating them; needs the
      background loop (``serve()``, ``start()``, the CLI, or ``async with emu.running()`` around ASGI use).
    - ``work_dir``: where executed tasks get their directories (default: a fresh temporary directory,
      removed by ``close()``); ``max_processes``: how many run at once.
    - ``task_duration``: ``(min, max)`` seconds of a simulated run (``sleep N`` in a command overrides it).
    - ``discard_tasks``: keep only task ids and counts (for million-task benchmarks): tasks count as completed
      and succeeded at once and cannot be read back.
    - ``allow_bearer``: accept ``Authorization: Bearer <anything>`` (Entra ID flows) without checking it.
    - ``require_auth``: set ``False`` to skip authentication entirely.
    - ``faults``: a ``FaultConfig`` to start with; change it later with ``emu.faults.configure(...)``.
    - ``delete_delay``: seconds a deleted pool/job/schedule/certificate stays in its ``deleting`` state.
    - ``seed``: seed of the simulated durations.
    - ``tls``: serve HTTPS (``serve()``, ``start()``) with ``cert_file``/``key_file`` (PEM), or with a
      self-signed certificate for loopback generated for this emulator; trust ``emu.tls.cert_file``.
    - ``subscription_id``: the Azure subscription of the emulated account; ARM resource ids in bodies must
      have the service's forms, and a ``subnetId`` of another subscription is refused as the service does.
    - ``bearer_audience``: with ``allow_bearer``, accept only JWTs whose ``aud`` is this (unsigned test
      tokens are fine: the signature is not checked), e.g. ``"https://batch.core.windows.net/"``.
    - ``realism``: a ``Realism`` turning on slower, service-like behaviours (``Realism.everything()``).
    """

    def __init__(
        self,
        *,
        account: str = C.DEFAULT_ACCOUNT,
        key: str = C.DEFAULT_KEY,
        execute: bool = False,
        work_dir: str | Path | None = None,
        max_processes: int = C.DEFAULT_MAX_PROCESSES,
        task_duration: tuple[float, float] = C.SIMULATED_TASK_SECONDS,
        discard_tasks: bool = False,
        allow_bearer: bool = False,
        require_auth: bool = True,
        faults: FaultConfig | None = None,
        delete_delay: float = 0.2,
        seed: int | None = None,
        tls: bool = False,
        cert_file: str | Path | None = None,
        key_file: str | Path | None = None,
        bearer_audience: str | None = None,
        realism: Realism | None = None,
        subscription_id: str = C.DEFAULT_SUBSCRIPTION,
    ) -> None:
        low, high = task_duration
        if low < 0 or high < low:
            raise ValueError("task_duration must be (min, max) with 0 <= min <= max")
        _check_key(key)
        self.account = account
        self.key = key
        self.execute = execute
        self._owns_work_dir = execute and work_dir is None
        self.work_dir: Path | None = (
            Path(work_dir)
            if work_dir is not None
            else Path(tempfile.mkdtemp(prefix="batchaio-emulator-"))
            if execute
            else None
        )
        self.max_processes = max_processes
        self.store = Store(
            simulate=not execute,
            task_duration=task_duration,
            discard_tasks=discard_tasks,
            delete_delay=delete_delay,
            seed=seed,
            realism=realism,
        )
        self.tls: TlsFiles | None = _tls_files(tls, cert_file, key_file)
        self.faults = FaultInjector(faults or FaultConfig())
        if realism is not None and realism.throttling:
            self.faults.rate_limit = (RateLimiter(realism.requests_per_second), realism.retry_after_seconds)
        self.app = EmulatorApp(
            self.store,
            self.faults,
            account=account,
            key=key,
            allow_bearer=allow_bearer,
            require_auth=require_auth,
            work_root=self.work_dir if execute else None,
            lifespan=self._lifespan,
            bearer_audience=bearer_audience,
            subscription_id=subscription_id,
        )
        self.endpoint: str | None = None
        self._background_users = 0
        self._background_scope: anyio.CancelScope | None = None
        self._thread: threading.Thread | None = None
        self._thread_server: Any = None

    def __repr__(self) -> str:
        return f"Emulator(account={self.account!r}, endpoint={self.endpoint!r}, execute={self.execute})"

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Run the background loop (real execution) while the block runs; a no-op in simulated mode."""
        if not self.execute or self._background_users:
            self._background_users += 1
            try:
                yield
            finally:
                self._background_users -= 1
            return
        from batchaio.emulator._runner import TaskRunner

        assert self.work_dir is not None
        runner = TaskRunner(self.store, self.work_dir, self.max_processes, self.account)
        self._background_users += 1
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(runner.run)
                try:
                    yield
                finally:
                    group.cancel_scope.cancel()
        finally:
            self._background_users -= 1
            self.store.stop_all_processes()

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Any) -> AsyncIterator[None]:
        async with self.running():
            yield

    @contextlib.asynccontextmanager
    async def serve(
        self,
        host: str = C.DEFAULT_HOST,
        port: int = 0,
        *,
        allow_non_loopback: bool = False,
        allowed_hosts: tuple[str, ...] = (),
    ) -> AsyncIterator[str]:
        """Serve over HTTP with uvicorn in the running asyncio loop; yield the endpoint (``http://host:port``).

        Requests must name the emulator in ``Host`` by an IP address, ``localhost`` or one of
        ``allowed_hosts`` (against DNS rebinding). Off loopback (``allow_non_loopback=True``),
        ``execute=True`` needs a key of your own and Shared Key authentication."""
        from batchaio.emulator._server import EmbeddedServer, bind_socket, make_config

        self._check_serving(host, allow_non_loopback, allowed_hosts)
        sock = bind_socket(host, port)
        # The block's own exception is raised after the server has shut down, as itself rather than inside an
        # exception group.
        raised: Exception | None = None
        try:
            server = EmbeddedServer(make_config(self.app, tls=self.tls))
            endpoint = _endpoint(host, sock.getsockname()[1], https=self.tls is not None)
            async with anyio.create_task_group() as group:
                group.start_soon(server.serve, [sock])
                while not server.started:
                    if server.should_exit:
                        raise RuntimeError("the emulator server failed to start")
                    await anyio.sleep(0.01)
                self.endpoint = endpoint
                try:
                    yield endpoint
                except Exception as error:
                    raised = error
                finally:
                    server.should_exit = True
                    self.endpoint = None
        finally:
            sock.close()
        if raised is not None:
            raise raised

    def start(
        self,
        host: str = C.DEFAULT_HOST,
        port: int = 0,
        *,
        allow_non_loopback: bool = False,
        allowed_hosts: tuple[str, ...] = (),
    ) -> str:
        """Serve over HTTP from a background thread; return the endpoint. Stop with ``stop()``.

        The same rules as ``serve()`` apply."""
        import asyncio

        from batchaio.emulator._server import EmbeddedServer, bind_socket, make_config

        if self._thread is not None:
            raise RuntimeError("the emulator is already started")
        self._check_serving(host, allow_non_loopback, allowed_hosts)
        sock = bind_socket(host, port)
        server = EmbeddedServer(make_config(self.app, tls=self.tls))
        thread = threading.Thread(
            target=lambda: asyncio.run(server.serve([sock])), name="batchaio-emulator", daemon=True
        )
        thread.start()
        while not server.started:
            if not thread.is_alive():
                sock.close()
                raise RuntimeError("the emulator server failed to start")
            thread.join(0.01)
        self._thread, self._thread_server = thread, server
        self._thread_socket = sock
        self.endpoint = _endpoint(host, sock.getsockname()[1], https=self.tls is not None)
        return self.endpoint

    def _check_serving(self, host: str, allow_non_loopback: bool, allowed_hosts: tuple[str, ...]) -> None:
        """The exposure rules every way of serving applies; then only ``Host`` values naming us are served."""
        from batchaio.emulator._server import check_exposure, check_loopback

        check_loopback(host, allow_non_loopback)
        check_exposure(
            host,
            execute=self.execute,
            key=self.key,
            require_auth=self.app.require_auth,
            allow_bearer=self.app.allow_bearer,
            default_key=C.DEFAULT_KEY,
        )
        self.app.allowed_hosts = frozenset(name.lower() for name in (*allowed_hosts, socket.gethostname()))

    def stop(self) -> None:
        """Stop the server started by ``start()`` (no-op if not started)."""
        if self._thread is None:
            return
        self._thread_server.should_exit = True
        self._thread.join(10)
        self._thread_socket.close()
        self._thread = self._thread_server = None
        self.endpoint = None

    def close(self) -> None:
        """Stop serving, kill every task process still running and remove the temporary work directory."""
        self.stop()
        self.store.stop_all_processes()
        if self._owns_work_dir and self.work_dir is not None:
            shutil.rmtree(self.work_dir, ignore_errors=True)
        if self.tls is not None and self.tls.generated:
            shutil.rmtree(self.tls.cert_file.parent, ignore_errors=True)

    def reset(self) -> None:
        """Forget every pool, job, schedule and certificate, and turn faults off.

        The seeds stay and restart: a run after ``reset()`` sees the same simulated durations and faults as a
        run on a new emulator."""
        fresh = Store(
            simulate=self.store.simulate,
            task_duration=self.store.task_duration,
            discard_tasks=self.store.discard_tasks,
            delete_delay=self.store.delete_delay,
            seed=self.store.seed,
            realism=self.store.realism,
        )
        for name in (
            "pools",
            "jobs",
            "schedules",
            "certificates",
            "pending",
            "schedulers",
            "random",
            "count_snapshots",
        ):
            setattr(self.store, name, getattr(fresh, name))
        self.faults.clear()


def _check_key(key: str) -> None:
    """Raise ``ValueError`` (without repeating the key) unless ``key`` is non-empty base64."""
    try:
        valid = bool(base64.b64decode(key, validate=True))
    except (binascii.Error, ValueError):
        valid = False
    if not valid:
        raise ValueError(
            "the emulator key must be a non-empty base64 string (e.g. 64 random bytes in base64)"
        )


def _endpoint(host: str, port: int, *, https: bool = False) -> str:
    scheme = "https" if https else "http"
    return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"


def _tls_files(tls: bool, cert_file: str | Path | None, key_file: str | Path | None) -> TlsFiles | None:
    """The certificate and key to serve HTTPS with: the given files, or a new self-signed pair."""
    if (cert_file is None) != (key_file is None):
        raise ValueError("cert_file and key_file go together")
    if cert_file is not None and key_file is not None:
        return TlsFiles(Path(cert_file), Path(key_file))
    if not tls:
        return None
    files = generate_self_signed(Path(tempfile.mkdtemp(prefix="batchaio-emulator-tls-")))
    return TlsFiles(files.cert_file, files.key_file, generated=True)
