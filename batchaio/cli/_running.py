"""Running one command's coroutine: Ctrl-C, error lines and exit codes.

Ctrl-C (SIGINT) is received by the event loop, not raised at a random point: by default it cancels the
command at once; a command can take it over (``tasks add`` first stops reading its input and lets requests in
flight finish, then gives up on a second Ctrl-C or after a grace period).
"""

from __future__ import annotations

import os
import signal
import sys
import traceback
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

import anyio

from batchaio.cli._errors import EXIT_FAILED, EXIT_INTERRUPTED, error_line, exit_code_for, unwrap

__all__ = ["Interrupts", "run_command"]

InterruptHandler = Callable[[int], None]


class Interrupts:
    """Ctrl-C as the command sees it: ``count`` so far, and the handler that acts on the next one."""

    def __init__(self, scope: anyio.CancelScope) -> None:
        self.count = 0
        self._scope = scope
        self._handlers: list[InterruptHandler] = []

    @property
    def interrupted(self) -> bool:
        return self.count > 0

    @contextmanager
    def handled_by(self, handler: InterruptHandler) -> Iterator[None]:
        """Within the block, each Ctrl-C calls ``handler(count)`` instead of cancelling the command."""
        self._handlers.append(handler)
        try:
            yield
        finally:
            self._handlers.remove(handler)

    def fire(self) -> None:
        self.count += 1
        if self._handlers:
            self._handlers[-1](self.count)
        else:
            self._scope.cancel()


async def _watch(interrupts: Interrupts) -> None:
    with anyio.open_signal_receiver(signal.SIGINT) as signals:
        async for _ in signals:
            interrupts.fire()


async def _main(body: Callable[[Interrupts], Awaitable[int]]) -> int | None:
    scope = anyio.CancelScope()
    interrupts = Interrupts(scope)
    code: int | None = None
    error: Exception | None = None
    async with anyio.create_task_group() as task_group:
        task_group.start_soon(_watch, interrupts)
        with scope:
            try:
                code = await body(interrupts)
            except Exception as exc:
                error = exc
        task_group.cancel_scope.cancel()
    if error is not None:
        raise error
    return code  # None: cancelled by Ctrl-C before the command could say anything


def run_command(
    body: Callable[[Interrupts], Awaitable[int]], *, debug: bool, err: TextIO | None = None
) -> int:
    """Run ``body`` in an event loop; print one ``error:`` line (``debug``: and the traceback) for a failure.

    Returns the exit code: ``body``'s own, 130 when interrupted, or the failure's (see ``_errors``).
    """
    err = err or sys.stderr
    try:
        code = anyio.run(_main, body)
    except KeyboardInterrupt:  # before the loop could take the signal over
        print("interrupted", file=err, flush=True)
        return EXIT_INTERRUPTED
    except Exception as exc:
        inner = unwrap(exc)
        if isinstance(inner, BrokenPipeError):  # the reader went away (| head): stop quietly
            _silence_stdout()
            return EXIT_FAILED
        if debug:
            traceback.print_exception(type(inner), inner, inner.__traceback__, file=err)
        print(f"error: {error_line(inner)}", file=err, flush=True)
        return exit_code_for(inner)
    if code is None:
        print("interrupted", file=err, flush=True)
        return EXIT_INTERRUPTED
    return code


def _silence_stdout() -> None:
    """Point standard output at /dev/null, so that flushing it at exit does not fail a second time."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file (a test runner's capture)
        pass
