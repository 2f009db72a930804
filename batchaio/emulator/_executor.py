"""How tasks run: simulated from their command line (default) or for real in a local shell (``execute=True``).

Simulated runs read three things from the command line:

- ``exit N`` (the last one wins) gives exit code ``N``; otherwise the exit code is 0;
- ``sleep N`` makes the task run ``N`` seconds (fractions allowed); otherwise the duration is drawn from the
  emulator's ``task_duration`` range;
- each ``echo TEXT`` adds a line ``TEXT`` (quotes removed) to ``stdout.txt``, or to ``stderr.txt`` when it is
  redirected there (``>&2``, ``1>&2``, ``>/dev/stderr``); an ``echo`` redirected to a file writes neither.
  Commands inside ``sh -c '...'`` (``bash``, ``cmd /c``...) count too. Without any ``echo``, ``stdout.txt``
  holds the command line;
- an output file whose destination container URL has a host under ``.invalid`` (RFC 2606: it never resolves)
  fails to upload when its ``uploadCondition`` applies: the task fails with ``FileUploadMiscError`` whatever
  its exit code, and ``fileuploaderr.txt`` names the files.

Start tasks are simulated the same way, in both modes: their exit code and duration come from their command
line (instant without ``sleep N``).

Real runs use ``/bin/sh -c`` in a working directory ``<root>/<pool>/<node>/workitems/<job>/job-1/<task>/wd``,
with stdout and stderr captured to ``stdout.txt`` and ``stderr.txt`` next to ``wd``, a bounded number at a
time. A task sees only ``PATH``, ``HOME``, ``LANG``, ``LC_ALL``, ``TMPDIR`` and ``TZ`` from the emulator's
environment, plus the ``AZ_BATCH_*`` variables and its job's and its own environment settings. Each run is its
own process group, killed as a whole when the task ends, is terminated, deleted or requeued, or exceeds its
wall-clock limit; on Linux, descendants that left the group (``setsid``) are found by a token in their
environment and killed too (one that also cleared its environment escapes).
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import secrets
import shlex
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio

__all__ = [
    "SimulatedRun",
    "kill_group",
    "run_process",
    "simulate",
    "simulated_output",
    "task_environment",
    "upload_failure",
    "upload_logs",
]

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


_SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh"})
_SEPARATORS = frozenset({";", "&&", "||", "|", "&", "(", ")", ";;", "|&"})
_REDIRECTS = frozenset({">", ">>", ">&", "&>", ">|"})


def _commands(command_line: str) -> list[list[str]]:
    """The simple commands of ``command_line`` as word lists (``ValueError`` on unbalanced quotes)."""
    lexer = shlex.shlex(command_line.replace("\n", ";"), posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    commands: list[list[str]] = [[]]
    for token in lexer:
        if token in _SEPARATORS:
            commands.append([])
        else:
            commands[-1].append(token)
    return [words for words in commands if words]


def _echo_target(operator: str, target: str) -> str | None:
    """Where an ``echo`` redirected with ``operator target`` writes: ``out``, ``err`` or ``None`` (a file)."""
    if operator == ">&":
        return "err" if target == "2" else "out"
    if target == "/dev/stderr":
        return "err"
    return "out" if target == "/dev/stdout" else None


def _echo(words: list[str]) -> tuple[str, str | None]:
    """The text of ``echo words...`` and where it goes."""
    text: list[str] = []
    stream: str | None = "out"
    index = 0
    while index < len(words):
        word = words[index]
        following = words[index + 1] if index + 1 < len(words) else ""
        if word.isdigit() and following in _REDIRECTS:
            target = words[index + 2] if index + 2 < len(words) else ""
            if word != "2":  # ``2>...`` moves only the echo's own errors
                stream = _echo_target(following, target)
            index += 3
        elif word in _REDIRECTS:
            stream = _echo_target(word, following)
            index += 2
        else:
            text.append(word)
            index += 1
    return " ".join(text), stream


def _echo_lines(command_line: str, depth: int = 0) -> tuple[list[str], list[str], bool]:
    """The lines ``echo`` commands write to stdout and to stderr, and whether there was any ``echo``."""
    out: list[str] = []
    err: list[str] = []
    seen = False
    for words in _commands(command_line):
        program = words[0].rsplit("/", 1)[-1].lower()
        inner = None
        if program in _SHELLS and "-c" in words[1:-1]:
            inner = words[words.index("-c", 1) + 1]
        elif program in ("cmd", "cmd.exe") and len(words) > 2 and words[1].lower() == "/c":
            inner = " ".join(words[2:])
        if inner is not None and depth < 4:
            inner_out, inner_err, inner_seen = _echo_lines(inner, depth + 1)
            out += inner_out
            err += inner_err
            seen = seen or inner_seen
        elif program == "echo":
            seen = True
            text, stream = _echo(words[1:])
            if stream == "out":
                out.append(text)
            elif stream == "err":
                err.append(text)
    return out, err, seen


def _lines(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode() if lines else b""


def simulated_output(command_line: str, exit_code: int | None) -> tuple[bytes, bytes]:
    """The contents of ``stdout.txt`` and ``stderr.txt`` of a simulated run."""
    try:
        out, err, seen = _echo_lines(command_line)
    except ValueError:  # unbalanced quotes: the rough reading
        out = [
            " ".join(text.split(">", 1)[0].strip().strip("'\"").split())
            for text in _ECHO.findall(command_line)
        ]
        err, seen = [], bool(out)
    if not seen:
        return (command_line + "\n").encode(), b""
    return _lines(out), _lines(err)


# RFC 2606 reserves ``.invalid``: a container URL there can never be reached, on the service either.
_UNREACHABLE_SUFFIX = ".invalid"


def _upload_applies(output_file: dict[str, Any], exit_code: int | None) -> bool:
    options = output_file.get("uploadOptions")
    condition = options.get("uploadCondition") if isinstance(options, dict) else None
    condition = str(condition or "taskcompletion").lower()
    if condition == "tasksuccess":
        return exit_code == 0
    if condition == "taskfailure":
        return exit_code != 0
    return True


def _container_url(output_file: dict[str, Any]) -> str:
    destination = output_file.get("destination")
    container = destination.get("container") if isinstance(destination, dict) else None
    url = container.get("containerUrl") if isinstance(container, dict) else None
    return url if isinstance(url, str) else ""


def _failed_uploads(doc: dict[str, Any], exit_code: int | None) -> list[tuple[str, str]]:
    """(file pattern, container host) of every output file of ``doc`` whose upload fails."""
    failed: list[tuple[str, str]] = []
    for output_file in doc.get("outputFiles") or []:
        if not isinstance(output_file, dict) or not _upload_applies(output_file, exit_code):
            continue
        host = (urlsplit(_container_url(output_file)).hostname or "").lower()
        if host.endswith(_UNREACHABLE_SUFFIX):
            failed.append((str(output_file.get("filePattern", "")), host))
    return failed


def upload_failure(doc: dict[str, Any], exit_code: int | None) -> dict[str, Any] | None:
    """The ``failureInfo`` of a task (document ``doc``) whose output upload fails after it exits with
    ``exit_code``, or ``None`` when every upload succeeds."""
    failed = _failed_uploads(doc, exit_code)
    if not failed:
        return None
    return {
        "category": "usererror",
        "code": "FileUploadMiscError",
        "message": "The compute node hit an unexpected error when uploading Output Files.",
        "details": [{"name": "Message", "value": f"Cannot reach {failed[0][1]}"}],
    }


def upload_logs(doc: dict[str, Any], exit_code: int | None) -> dict[str, bytes]:
    """``fileuploadout.txt`` and ``fileuploaderr.txt`` by name, for a task that had output files to upload
    after exiting with ``exit_code`` (empty when nothing was to be uploaded)."""
    files = [f for f in doc.get("outputFiles") or [] if isinstance(f, dict) and _upload_applies(f, exit_code)]
    if not files:
        return {}
    failed = _failed_uploads(doc, exit_code)
    out = [f"Uploading {f.get('filePattern', '')} to {urlsplit(_container_url(f)).hostname}" for f in files]
    err = [f"Upload of {pattern} failed: the host {host} cannot be resolved" for pattern, host in failed]
    return {"fileuploadout.txt": _lines(out), "fileuploaderr.txt": _lines(err)}


def task_environment(variables: dict[str, str]) -> dict[str, str]:
    """The environment of an executed task: a few harmless variables of ours plus ``variables``."""
    inherited = {name: os.environ[name] for name in _INHERITED_VARIABLES if name in os.environ}
    inherited.setdefault("PATH", os.defpath)
    return {**inherited, **variables}


# Every executed run carries ``_RUN_VARIABLE=<token>`` in its environment, and its descendants inherit it: a
# child that left the process group (``setsid``) is still found by it, in ``/proc`` where there is one.
_RUN_VARIABLE = "BATCHAIO_EMULATOR_RUN"
_tokens: dict[int, bytes] = {}
_KILL_SCANS = 5


def kill_group(process_group: int) -> None:
    """Kill every process of the run led by ``process_group``: its process group (the shell and whatever it
    started) and every process carrying the run's token, so one that left the group with ``setsid`` too.
    Processes that are gone already are fine."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process_group, signal.SIGKILL)
    token = _tokens.get(process_group)
    # Again until a scan finds none: a process caught mid-exec may not show its environment the first time.
    for _ in range(_KILL_SCANS if token is not None else 0):
        found = _carrying(token) if token is not None else []
        if not found:
            break
        for pid in found:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


def _carrying(token: bytes) -> list[int]:
    """The processes whose environment holds ``token`` (none where there is no ``/proc``)."""
    try:
        names = os.listdir("/proc")
    except OSError:
        return []
    found = []
    for name in names:
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as environ:
                if token in environ.read().split(b"\x00"):
                    found.append(int(name))
        except OSError:
            continue
    return found


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
    token = secrets.token_hex(16)
    with (task_dir / "stdout.txt").open("wb") as stdout, (task_dir / "stderr.txt").open("wb") as stderr:
        # Shielded: the shell runs before ``open_process`` returns, and a cancellation arriving in between
        # would kill the shell alone (asyncio does), its children living on. A cancellation lands in the wait
        # below instead, whose ``finally`` kills the whole group.
        with anyio.CancelScope(shield=True):
            process = await anyio.open_process(
                ["/bin/sh", "-c", command_line],
                cwd=working_dir,
                env={**environment, _RUN_VARIABLE: token},
                stdout=stdout,
                stderr=stderr,
                start_new_session=True,
            )
        _tokens[process.pid] = f"{_RUN_VARIABLE}={token}".encode()
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
            _tokens.pop(process.pid, None)
            if process.returncode is None:
                with anyio.CancelScope(shield=True):
                    await process.wait()
