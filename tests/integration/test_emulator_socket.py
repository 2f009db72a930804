"""Regression: connections accepted by the emulator's server must have Nagle off (TCP_NODELAY).

asyncio only sets TCP_NODELAY on sockets whose ``proto`` is ``IPPROTO_TCP``; a listening socket made with
proto 0 handed that to every accepted connection, and each response with a body then waited ~40 ms for the
client's delayed ACK.
"""

from __future__ import annotations

import asyncio
import socket

import pytest

from batchaio.emulator._server import bind_socket

pytestmark = pytest.mark.integration


async def test_accepted_connections_have_nagle_off() -> None:
    accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.set_result(
            writer.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        )
        writer.close()

    listening = bind_socket("127.0.0.1", 0)
    assert listening.proto == socket.IPPROTO_TCP
    server = await asyncio.start_server(on_connect, sock=listening)
    async with server:
        _, writer = await asyncio.open_connection(*listening.getsockname())
        assert await accepted != 0
        writer.close()
        await writer.wait_closed()
