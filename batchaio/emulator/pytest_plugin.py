"""Pytest fixtures for testing code against the emulator.

Enable with ``pytest_plugins = ["batchaio.emulator.pytest_plugin"]`` in a ``conftest.py``. Fixtures:

- ``batch_emulator``: a running ``Emulator`` served over real HTTP on a free loopback port (one per test); its
  ``endpoint``, ``account`` and ``key`` are what a client needs; ``batch_emulator.faults`` injects faults.
- ``batch_emulator_credentials``: ``BatchEmulatorCredentials(endpoint, account, key)`` of that emulator.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import pytest

from batchaio.emulator import Emulator

__all__ = ["BatchEmulatorCredentials", "batch_emulator", "batch_emulator_credentials"]


class BatchEmulatorCredentials(NamedTuple):
    """Where the emulator listens and the Shared Key credentials it accepts."""

    endpoint: str
    account: str
    key: str

    def __repr__(self) -> str:
        return f"BatchEmulatorCredentials(endpoint={self.endpoint!r}, account={self.account!r}, key=***)"


@pytest.fixture
def batch_emulator() -> Iterator[Emulator]:
    """An emulator served over HTTP on loopback from a background thread, stopped after the test."""
    emulator = Emulator(task_duration=(0.01, 0.05), delete_delay=0.05)
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.close()


@pytest.fixture
def batch_emulator_credentials(batch_emulator: Emulator) -> BatchEmulatorCredentials:
    """Endpoint, account name and key of ``batch_emulator``."""
    assert batch_emulator.endpoint is not None
    return BatchEmulatorCredentials(batch_emulator.endpoint, batch_emulator.account, batch_emulator.key)
