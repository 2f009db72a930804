"""Fault injection: the throttling hints, where latency applies, reseeding."""

from __future__ import annotations

import httpx
import pytest

from batchaio._retry import parse_retry_after
from batchaio.emulator import Emulator, _app
from batchaio.emulator._faults import FaultConfig, FaultInjector, retry_after_headers


@pytest.mark.parametrize(
    ("seconds", "whole", "exact"),
    [(1, "1", "1000"), (1.5, "2", "1500"), (0.25, "1", "250"), (0.0015, "1", "1.5"), (0, "0", "0")],
)
def test_retry_after_is_whole_seconds_rounded_up_with_exact_milliseconds(
    seconds: float, whole: str, exact: str
) -> None:
    assert retry_after_headers(seconds) == {"Retry-After": whole, "retry-after-ms": exact}


def test_no_retry_after_hint_and_bad_values() -> None:
    assert retry_after_headers(None) == {}
    with pytest.raises(ValueError):
        FaultConfig(retry_after=-1)


async def test_throttling_answers_carry_both_hints(emu: Emulator, client: httpx.AsyncClient) -> None:
    emu.faults.configure(retry_after=1.5)
    emu.faults.fail_next("throttle", 1)
    response = await client.get("/pools")
    assert response.status_code in (429, 503)
    assert response.headers["Retry-After"] == "2"
    assert response.headers["retry-after-ms"] == "1500"
    assert parse_retry_after(response.headers) == 1.5


def test_latency_applies_only_to_matching_paths() -> None:
    faults = FaultInjector(FaultConfig(latency=0.5, path_pattern="^/jobs"))
    assert faults.latency("/jobs/job/tasks") == 0.5
    assert faults.latency("/pools") == 0.0
    assert FaultInjector(FaultConfig(latency=0.5)).latency("/pools") == 0.5


async def test_the_app_sleeps_only_on_matching_paths(
    emu: Emulator, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    slept: list[float] = []

    async def record(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(_app.anyio, "sleep", record)
    emu.faults.configure(latency=0.25, path_pattern="^/jobs")
    assert (await client.get("/pools")).status_code == 200
    assert slept == []
    assert (await client.get("/jobs")).status_code == 200
    assert slept == [0.25]


def test_clear_keeps_the_fault_seed() -> None:
    faults = FaultInjector(FaultConfig(throttle_rate=0.5, seed=7))
    first = [faults.decide("/pools") for _ in range(40)]
    faults.clear()
    faults.configure(throttle_rate=0.5)
    assert [faults.decide("/pools") for _ in range(40)] == first


def test_reset_keeps_the_emulator_seed() -> None:
    emu = Emulator(seed=5)
    first = [emu.store.random.random() for _ in range(3)]
    emu.reset()
    assert emu.store.seed == 5
    assert [emu.store.random.random() for _ in range(3)] == first
