"""``python -m batchaio.emulator``: serve an emulated Batch account over HTTP on loopback."""

from __future__ import annotations

import argparse
import base64
import re
import secrets
import signal
import sys
from typing import TYPE_CHECKING

from batchaio.emulator import _constants as C
from batchaio.emulator._realism import Realism

if TYPE_CHECKING:
    import socket

    from batchaio.emulator import Emulator

_REALISM_SWITCHES = {
    "node_startup": "realism: nodes pass through creating/starting before they take tasks",
    "throttling": "realism: 429 with Retry-After past a request rate per account",
    "core_quota": "realism: resizes stop at the account's core quotas (resizeErrors)",
    "task_count_lag": "realism: task counts are a snapshot up to a second old",
    "preemption": "realism: spot nodes are preempted once, requeueing their running tasks",
    "job_scheduling": "realism: job priority and maxParallelTasks in the pool's queue",
    "schedule_recurrence": "realism: job schedules recur (doNotRunUntil/After, recurrenceInterval)",
}


def _realism(arguments: argparse.Namespace) -> Realism | None:
    if arguments.realistic:
        return Realism.everything()
    switches = {name: True for name in _REALISM_SWITCHES if getattr(arguments, name)}
    return Realism(**switches) if switches else None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m batchaio.emulator",
        description="Local Azure Batch service emulator (API 2024-07-01.20.0).",
    )
    parser.add_argument("--host", default=C.DEFAULT_HOST, help="bind address (loopback only unless allowed)")
    parser.add_argument("--port", type=int, default=C.DEFAULT_PORT, help="TCP port (0 picks a free one)")
    parser.add_argument("--account", default=C.DEFAULT_ACCOUNT, help="account name requests are signed for")
    parser.add_argument(
        "--key", default=C.DEFAULT_KEY, help="account key in base64, or 'random' to generate one"
    )
    parser.add_argument("--execute", action="store_true", help="run task command lines for real with /bin/sh")
    parser.add_argument("--work-dir", help="directory for executed tasks (default: a temporary directory)")
    parser.add_argument(
        "--max-processes",
        type=int,
        default=C.DEFAULT_MAX_PROCESSES,
        help=f"with --execute: how many task processes run at once (default {C.DEFAULT_MAX_PROCESSES})",
    )
    parser.add_argument(
        "--task-seconds",
        type=float,
        nargs=2,
        metavar=("MIN", "MAX"),
        default=C.SIMULATED_TASK_SECONDS,
        help="duration range of simulated tasks",
    )
    parser.add_argument("--discard-tasks", action="store_true", help="keep only task ids and counts")
    parser.add_argument(
        "--allow-bearer", action="store_true", help="accept any 'Authorization: Bearer' token"
    )
    parser.add_argument(
        "--bearer-audience",
        help="with --allow-bearer: accept only JWTs for this audience (signature unchecked), "
        "e.g. https://batch.core.windows.net/",
    )
    parser.add_argument(
        "--tls", action="store_true", help="serve HTTPS with a generated self-signed certificate"
    )
    parser.add_argument("--cert-file", help="serve HTTPS with this PEM certificate (with --key-file)")
    parser.add_argument("--key-file", help="the PEM private key of --cert-file")
    parser.add_argument("--realistic", action="store_true", help="turn every realism switch below on")
    for switch, text in _REALISM_SWITCHES.items():
        parser.add_argument(f"--{switch.replace('_', '-')}", action="store_true", help=text)
    parser.add_argument("--no-auth", action="store_true", help="do not check Authorization at all")
    parser.add_argument(
        "--allow-non-loopback",
        action="store_true",
        help="allow binding a non-loopback address (with --execute: needs your own key and authentication)",
    )
    parser.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        metavar="NAME",
        help="a host name clients may use in Host besides IP addresses and localhost (repeatable)",
    )
    faults = parser.add_argument_group(
        "fault injection", "each RATE is the probability (0 to 1) that a request gets that fault"
    )
    faults.add_argument(
        "--throttle-rate",
        type=float,
        default=0.0,
        metavar="RATE",
        help="answer 429/503 with Retry-After, applying nothing",
    )
    faults.add_argument(
        "--server-error-rate", type=float, default=0.0, metavar="RATE", help="answer 500, applying nothing"
    )
    faults.add_argument(
        "--drop-rate",
        type=float,
        default=0.0,
        metavar="RATE",
        help="close the connection without an answer, applying nothing",
    )
    faults.add_argument(
        "--reset-after-apply-rate",
        type=float,
        default=0.0,
        metavar="RATE",
        help="apply the request, then close the connection without an answer",
    )
    faults.add_argument(
        "--task-server-error-rate",
        type=float,
        default=0.0,
        metavar="RATE",
        help="per task of an addtaskcollection: report servererror for it and do not add it",
    )
    faults.add_argument(
        "--latency", type=float, default=0.0, metavar="SECONDS", help="seconds added to every request"
    )
    faults.add_argument(
        "--fault-path", metavar="REGEX", help="only fault requests whose path matches this regular expression"
    )
    parser.add_argument(
        "--subscription-id",
        default=C.DEFAULT_SUBSCRIPTION,
        help="subscription of the emulated account (a subnetId of another one is refused)",
    )
    parser.add_argument("--seed", type=int, help="seed of fault injection and simulated durations")
    parser.add_argument("--log-level", default="warning")
    return parser


def _emulator(arguments: argparse.Namespace, key: str) -> Emulator:
    """The emulator the arguments describe (``ValueError`` or ``re.error`` for bad ones)."""
    from batchaio.emulator import Emulator, FaultConfig

    faults = FaultConfig(
        throttle_rate=arguments.throttle_rate,
        server_error_rate=arguments.server_error_rate,
        drop_rate=arguments.drop_rate,
        reset_after_apply_rate=arguments.reset_after_apply_rate,
        task_server_error_rate=arguments.task_server_error_rate,
        latency=arguments.latency,
        path_pattern=arguments.fault_path,
        seed=arguments.seed,
    )
    return Emulator(
        account=arguments.account,
        key=key,
        execute=arguments.execute,
        work_dir=arguments.work_dir,
        max_processes=arguments.max_processes,
        task_duration=tuple(arguments.task_seconds),
        discard_tasks=arguments.discard_tasks,
        allow_bearer=arguments.allow_bearer,
        require_auth=not arguments.no_auth,
        faults=faults,
        seed=arguments.seed,
        tls=arguments.tls,
        cert_file=arguments.cert_file,
        key_file=arguments.key_file,
        bearer_audience=arguments.bearer_audience,
        realism=_realism(arguments),
        subscription_id=arguments.subscription_id,
    )


def _announce(emulator: Emulator, sock: socket.socket, account: str, key: str) -> None:
    """Print what a client needs, as ``NAME=value`` lines (the trust instructions for TLS on stderr)."""
    from batchaio.emulator._tls import trust_instructions

    host, port = sock.getsockname()[:2]
    scheme = "https" if emulator.tls is not None else "http"
    endpoint = f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"
    print(f"BATCH_ENDPOINT={endpoint}", flush=True)
    print(f"BATCH_ACCOUNT_NAME={account}", flush=True)
    print(f"BATCH_ACCOUNT_KEY={key}", flush=True)
    if emulator.work_dir is not None:
        print(f"BATCH_EMULATOR_WORK_DIR={emulator.work_dir}", flush=True)
    if emulator.tls is not None:
        print(f"BATCH_EMULATOR_CA_FILE={emulator.tls.cert_file}", flush=True)
        print(trust_instructions(emulator.tls.cert_file), file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, print the endpoint, account and key, and serve until interrupted."""
    arguments = _parser().parse_args(argv)
    import uvicorn

    from batchaio.emulator._server import bind_socket, make_config

    key = arguments.key
    if key == "random":
        key = base64.b64encode(secrets.token_bytes(64)).decode()
    try:
        emulator = _emulator(arguments, key)
    except (ValueError, re.error) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        emulator._check_serving(arguments.host, arguments.allow_non_loopback, tuple(arguments.allowed_host))
    except ValueError as error:
        emulator.close()
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        sock = bind_socket(arguments.host, arguments.port)
    except OSError as error:
        emulator.close()
        print(
            f"error: cannot listen on {arguments.host}:{arguments.port}: {error.strerror or error}",
            file=sys.stderr,
        )
        return 2
    _announce(emulator, sock, arguments.account, key)
    server = uvicorn.Server(make_config(emulator.app, log_level=arguments.log_level, tls=emulator.tls))
    # uvicorn re-raises SIGTERM after its shutdown: let it end the process through SystemExit, so that
    # close() still removes the temporary work directory and certificate.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        # Ctrl-C while a request was in flight: uvicorn cancels it and re-raises; stopping is what was asked.
        return 130
    finally:
        emulator.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
