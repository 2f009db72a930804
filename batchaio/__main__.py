"""``python -m batchaio``: the ``batchaio`` command line (needs the ``cli`` extra)."""

from __future__ import annotations

import sys


def _run() -> int:
    try:
        from batchaio.cli import main
    except ImportError as exc:
        print(
            f"error: the command line needs the 'cli' extra: pip install 'batchaio[cli]' ({exc})",
            file=sys.stderr,
        )
        return 2
    return main()


if __name__ == "__main__":
    try:
        sys.exit(_run())
    except KeyboardInterrupt:  # Ctrl-C while still starting up
        print("interrupted", file=sys.stderr)
        sys.exit(130)
