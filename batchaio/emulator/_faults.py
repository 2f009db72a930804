"""Fault injection: throttling, server errors, dropped connections, resets after apply, slow answers.

Decisions come from one seeded ``random.Random`` in request order, so a test run with a fixed seed and a
sequential client sees the same faults every time. ``fail_next`` scripts exact faults for the next matching
requests, ahead of the random ones.
"""

from __future__ import annotations

import math
import random
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from batchaio.emulator._realism import RateLimiter

__all__ = ["FaultConfig", "FaultInjector", "FaultKind", "retry_after_headers"]

FaultKind = Literal["throttle", "server_error", "drop", "reset_after_apply"]


@dataclass(frozen=True)
class FaultConfig:
    """What to inject, as probabilities per request (0.0 to 1.0).

    - ``throttle_rate``: answer 429 ``TooManyRequests`` or 503 ``ServerBusy`` (from ``throttle_statuses``)
      asking to wait ``retry_after`` seconds (``None``: no hint): ``Retry-After`` in whole seconds (rounded
      up, as HTTP allows only integers) and ``retry-after-ms`` with the exact value. Nothing is applied.
    - ``server_error_rate``: answer 500 ``InternalError``. Nothing is applied.
    - ``drop_rate``: close the connection without an answer. Nothing is applied.
    - ``reset_after_apply_rate``: apply the request, then close the connection without an answer.
    - ``task_server_error_rate``: in addtaskcollection, report each task as ``servererror`` with this
      probability (the task is not created).
    - ``latency``: seconds added to every request (every matching one when ``path_pattern`` is set).
    - ``path_pattern``: a regular expression; when set, only requests whose path matches are faulted.
    - ``seed``: seed of the random generator (``None``: not reproducible).
    """

    throttle_rate: float = 0.0
    throttle_statuses: tuple[int, ...] = (429, 503)
    retry_after: float | None = 1
    server_error_rate: float = 0.0
    drop_rate: float = 0.0
    reset_after_apply_rate: float = 0.0
    task_server_error_rate: float = 0.0
    latency: float = 0.0
    path_pattern: str | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        rates = (
            self.throttle_rate,
            self.server_error_rate,
            self.drop_rate,
            self.reset_after_apply_rate,
            self.task_server_error_rate,
        )
        if any(not 0.0 <= rate <= 1.0 for rate in rates):
            raise ValueError("fault rates must be between 0 and 1")
        if sum(rates[:4]) > 1.0:
            raise ValueError("the request fault rates add up to more than 1")
        if self.latency < 0:
            raise ValueError("latency must not be negative")
        if self.retry_after is not None and not 0 <= self.retry_after < math.inf:
            raise ValueError("retry_after must be a finite number of seconds, not negative")


def retry_after_headers(seconds: float | None) -> dict[str, str]:
    """``Retry-After`` (whole seconds, rounded up) and ``retry-after-ms`` (exact) for ``seconds``."""
    if seconds is None:
        return {}
    milliseconds = f"{seconds * 1000:.3f}".rstrip("0").rstrip(".")
    return {"Retry-After": str(math.ceil(seconds)), "retry-after-ms": milliseconds}


@dataclass
class _Scripted:
    kind: FaultKind
    remaining: int
    pattern: re.Pattern[str] | None


@dataclass
class FaultInjector:
    """Decides, request by request, which fault to inject, and counts what it injected.

    ``counts`` keys: ``requests`` (seen), ``throttle``, ``server_error``, ``drop``, ``reset_after_apply``,
    ``task_server_error``, and ``rate_limited`` (throttled by ``Realism.throttling``, not counted as
    ``throttle``).
    """

    config: FaultConfig = field(default_factory=FaultConfig)
    counts: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._random = random.Random(self.config.seed)
        # ``Realism.throttling``: a per-account request rate, answered 429 with this Retry-After past it.
        self.rate_limit: tuple[RateLimiter, int] | None = None
        self._rate_limited = False
        self._pattern = re.compile(self.config.path_pattern) if self.config.path_pattern else None
        self._scripted: list[_Scripted] = []

    def configure(self, config: FaultConfig | None = None, /, **changes: Any) -> FaultConfig:
        """Replace the configuration (and reseed), from a ``FaultConfig`` and/or keyword changes."""
        new = replace(config or self.config, **changes)
        with self._lock:
            self.config = new
            self._random = random.Random(new.seed)
            self._pattern = re.compile(new.path_pattern) if new.path_pattern else None
        return new

    def clear(self) -> None:
        """Turn every fault off, forget scripted faults and reset the counters; the seed stays (restarted)."""
        with self._lock:
            self.config = FaultConfig(seed=self.config.seed)
            self._random = random.Random(self.config.seed)
            self._pattern = None
            self._scripted.clear()
            self.counts.clear()

    def fail_next(self, kind: FaultKind, times: int = 1, *, path_pattern: str | None = None) -> None:
        """Inject ``kind`` into the next ``times`` requests whose path matches ``path_pattern`` (or any)."""
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._scripted.append(_Scripted(kind, times, re.compile(path_pattern) if path_pattern else None))

    def decide(self, path: str) -> FaultKind | None:
        """The fault to inject into a request for ``path``, if any (and count it)."""
        with self._lock:
            self.counts["requests"] += 1
            self._rate_limited = False
            if self.rate_limit is not None and not self.rate_limit[0].admit(time.monotonic()):
                self._rate_limited = True
                self.counts["rate_limited"] += 1
                return "throttle"
            for scripted in self._scripted:
                if scripted.pattern is None or scripted.pattern.search(path):
                    scripted.remaining -= 1
                    if scripted.remaining == 0:
                        self._scripted.remove(scripted)
                    self.counts[scripted.kind] += 1
                    return scripted.kind
            config = self.config
            if self._pattern is not None and not self._pattern.search(path):
                return None
            draw = self._random.random()
            for kind, rate in (
                ("throttle", config.throttle_rate),
                ("server_error", config.server_error_rate),
                ("drop", config.drop_rate),
                ("reset_after_apply", config.reset_after_apply_rate),
            ):
                if draw < rate:
                    self.counts[kind] += 1
                    return kind  # type: ignore[return-value]
                draw -= rate
            return None

    def latency(self, path: str) -> float:
        """Seconds to delay a request for ``path`` before answering it."""
        with self._lock:
            latency = self.config.latency
            if latency <= 0 or (self._pattern is not None and not self._pattern.search(path)):
                return 0.0
            return latency

    def throttle_status(self) -> int:
        """The status of the throttling answer to the request just decided."""
        with self._lock:
            if self._rate_limited:
                return 429
            return self._random.choice(self.config.throttle_statuses)

    def throttle_headers(self) -> dict[str, str]:
        """The ``Retry-After`` headers of the throttling answer to the request just decided."""
        with self._lock:
            if self._rate_limited and self.rate_limit is not None:
                return {"Retry-After": str(self.rate_limit[1])}
            return retry_after_headers(self.config.retry_after)

    def task_server_error(self, path: str) -> bool:
        """Whether one task of an addtaskcollection request should fail with ``servererror``."""
        with self._lock:
            rate = self.config.task_server_error_rate
            if rate <= 0 or (self._pattern is not None and not self._pattern.search(path)):
                return False
            if self._random.random() < rate:
                self.counts["task_server_error"] += 1
                return True
            return False
