from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import anyio
import anyio.lowlevel
import pytest

from batchaio import _bulk

T = TypeVar("T")


@pytest.fixture(params=["asyncio", "trio"])
def run(request: pytest.FixtureRequest) -> Callable[[Callable[[], Awaitable[T]]], T]:
    """Run a coroutine function to completion under each anyio backend."""
    backend = request.param

    def runner(func: Callable[[], Awaitable[T]]) -> T:
        return anyio.run(func, backend=backend)

    return runner


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """Make the engine's backoff waits instant; record what it asked for."""
    asked: list[float] = []

    async def fake_sleep(delay: float, *args: Any) -> None:
        asked.append(delay)
        await anyio.lowlevel.checkpoint()

    monkeypatch.setattr(_bulk, "_sleep", fake_sleep)
    yield asked
