"""Fault injection: the throttling hints, where latency applies, reseeding."""

from __future__ import annotations

import httpx
import pytest

from batchaio._retry import parse_retry_after
from batchaio.emulator import Emulator
from batchaio.emulator._faults import FaultConfig, retry_after_headers


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
