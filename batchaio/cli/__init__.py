"""The ``batchaio`` command line (``pip install 'batchaio[cli]'``): bulk task submission with live progress,
task factories, listing, waiting and downloads, built on the library's public client.

Run ``batchaio --help``; the same program runs as ``python -m batchaio``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from batchaio.cli import (  # noqa: F401  (they register their commands)
    _cmd_emulator,
    _cmd_files,
    _cmd_jobs,
    _cmd_pools,
    _cmd_tasks,
)
from batchaio.cli._app import cli

__all__ = ["cli", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``) and return its exit code."""
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="batchaio")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
    except KeyboardInterrupt:  # Ctrl-C before a command's event loop took the signal over
        print("interrupted", file=sys.stderr)
        return 130
