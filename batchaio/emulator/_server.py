"""Serving the ASGI app over real HTTP with uvicorn, on loopback unless told otherwise."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
from collections.abc import Generator
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from batchaio.emulator._app import ConnectionDropped
from batchaio.emulator._tls import TlsFiles

__all__ = [
    "DroppingH11Protocol",
    "EmbeddedServer",
    "bind_socket",
    "check_exposure",
    "check_loopback",
    "is_loopback",
    "make_config",
]


def is_loopback(host: str) -> bool:
    """Whether the bind address ``host`` is loopback only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_loopback(host: str, allow_non_loopback: bool) -> None:
    """Refuse a non-loopback bind address unless explicitly allowed."""
    if not allow_non_loopback and not is_loopback(host):
        raise ValueError(
            f"refusing to serve the emulator on {host!r}: not a loopback address "
            "(pass allow_non_loopback=True / --allow-non-loopback to override)"
        )


def check_exposure(
    host: str, *, execute: bool, key: str, require_auth: bool, allow_bearer: bool, default_key: str
) -> None:
    """Refuse to run command lines for anyone on the network who knows the published key (or no key)."""
    if not execute or is_loopback(host):
        return
    if not require_auth or allow_bearer:
        raise ValueError(
            "--execute with --allow-non-loopback needs Shared Key authentication "
            "(drop --no-auth and --allow-bearer; require_auth=True, allow_bearer=False): "
            "anyone who can reach the port could run commands"
        )
    if key == default_key:
        raise ValueError(
            "--execute with --allow-non-loopback needs your own key (--key random or --key <base64>): "
            "the default key is published"
        )


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0 picks a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio turns Nagle off (TCP_NODELAY) only on sockets whose proto says TCP, and
    # accepted sockets inherit it; with proto 0 every response with a body waited ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


class DroppingH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, closing the connection when the app raises ``ConnectionDropped``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        inner = self.app

        async def app(scope: Any, receive: Any, send: Any) -> None:
            try:
                await inner(scope, receive, send)
            except ConnectionDropped:
                self.transport.close()
                # Let the protocol see the connection as lost before uvicorn would answer 500.
                await asyncio.sleep(0)

        self.app = app


class EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves the host process's signal handlers alone."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def make_config(app: Any, *, log_level: str = "warning", tls: TlsFiles | None = None) -> uvicorn.Config:
    """uvicorn's configuration for the emulator app; HTTPS with ``tls``'s certificate and key when given."""
    return uvicorn.Config(
        app,
        log_level=log_level,
        lifespan="on",
        http=DroppingH11Protocol,
        access_log=False,
        timeout_graceful_shutdown=1,
        ssl_certfile=str(tls.cert_file) if tls is not None else None,
        ssl_keyfile=str(tls.key_file) if tls is not None else None,
    )
