"""How tasks run: simulated from their command line (default) or for real in a local shell (``execute=True``).

Simulated runs read three things from the command line:

- ``exit N`` (the last one wins) gives exit code ``N``; otherwise the exit code is 0;
- ``sleep N`` makes the task run ``N`` seconds (fractions allowed); otherwise the duration is drawn from the
  emulator's ``task_duration`` range;
- each ``echo TEXT`` adds a line ``TEXT`` (quotes removed) to ``stdout.txt``; without ``echo``, ``stdout.txt``
  holds the command line. ``stderr.txt`` is empty unless the exit code is not 0.

Real runs use ``/bin/sh -c`` in a working directory ``<root>/<pool>/<node>/workitems/<job>/job-1/<task>/wd``,
with stdout and stderr captured to ``stdout.txt`` and ``stderr.txt`` next to ``wd``, a bounded number at a
time. A task sees only ``PATH``, ``HOME``, ``LANG``, ``LC_ALL``, ``TMPDIR`` and ``TZ`` from the emulator's
environment, plus the ``AZ_BATCH_*`` variables and its job's and its own environment settings. Each run is its
own process group, killed as a whole when the task ends, is terminated, deleted or requeued, or exceeds its
wall-clock limit.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import shlex
import signal
from collections.abc import Callable
from pathlib import Path

import anyio

__all__ = ["SimulatedRun", "kill_group", "run_process", "simulate", "task_environment"]

# What an executed task inherits from the emulator's own environment; everything else (credentials, tokens)
# stays out of reach of the command lines clients send.
_INHERITED_VARIABLES = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ")

_EXIT = re.compile(r"""(?:^|[\s;&|('"])exit\s+(-?\d+)""")
_SLEEP = re.compile(r"""(?:^|[\s;&|('"])sleep\s+(\d+(?:\.\d+)?)""")
_ECHO = re.compile(r"""(?:^|[\s;&|('"])echo\s+([^;&|)\n]*)""")


class SimulatedRun:
    """The outcome a simulated task will have, decided when it is added."""

    __slots__ = ("duration", "exit_code")

    def __init__(self, exit_code: int, duration: float | None) -> None:
        self.exit_code = exit_code
        self.duration = duration


def simulate(command_line: str) -> SimulatedRun:
    """The exit code and (when the command says ``sleep N``) the duration of a simulated run."""
    exits = _EXIT.findall(command_line)
    sleeps = _SLEEP.findall(command_line)
    duration = sum(float(value) for value in sleeps) if sleeps else None
    return SimulatedRun(int(exits[-1]) if exits else 0, duration)


def simulated_output(command_line: str, exit_code: int | None) -> tuple[bytes, bytes]:
    """The contents of ``stdout.txt`` and ``stderr.txt`` of a simulated run."""
    lines: list[str] = []
    for text in _ECHO.findall(command_line):
        text = text.split(">", 1)[0].strip()
        try:
            words = shlex.split(text)
        except ValueError:
            words = [text.strip("'\"")]
        lines.append(" ".join(words))
    stdout = ("\n".join(lines) + "\n") if lines else (command_line + "\n")
    stderr = f"exit code {exit_code}\n" if exit_code else ""
    return stdout.encode(), stderr.encode()


def task_environment(variables: dict[str, str]) -> dict[str, str]:
    """The environment of an executed task: a few harmless variables of ours plus ``variables``."""
    inherited = {name: os.environ[name] for name in _INHERITED_VARIABLES if name in os.environ}
    inherited.setdefault("PATH", os.defpath)
    return {**inherited, **variables}


def kill_group(process_group: int) -> None:
    """Kill every process of ``process_group`` (the shell and whatever it started); gone already is fine."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process_group, signal.SIGKILL)


async def run_process(
    command_line: str,
    *,
    task_dir: Path,
    environment: dict[str, str],
    wall_clock_limit: float | None,
    on_start: Callable[[int], None] | None = None,
) -> int:
    """Run ``command_line`` with ``/bin/sh -c`` in ``task_dir/wd``; return its exit code.

    The shell leads a new process group (its id is given to ``on_start``); the whole group is killed when the
    run ends, is cancelled or exceeds ``wall_clock_limit`` seconds, so no child outlives its task. A run
    killed for its wall-clock limit reports exit code -1 (the service reports ``maxWallClockTime`` expiry as a
    failure). ``environment`` is the complete environment of the process.
    """
    working_dir = task_dir / "wd"
    working_dir.mkdir(parents=True, exist_ok=True)
    with (task_dir / "stdout.txt").open("wb") as stdout, (task_dir / "stderr.txt").open("wb") as stderr:
        process = await anyio.open_process(
            ["/bin/sh", "-c", command_line],
            cwd=working_dir,
            env=environment,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )
        if on_start is not None:
            on_start(process.pid)
        try:
            with anyio.move_on_after(math.inf if wall_clock_limit is None else wall_clock_limit) as scope:
                code = await process.wait()
            if scope.cancelled_caught:
                return -1
            return code
        finally:
            kill_group(process.pid)
            if process.returncode is None:
                with anyio.CancelScope(shield=True):
                    await process.wait()
