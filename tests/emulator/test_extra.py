"""Importing the emulator without its extra says which extra to install."""

from __future__ import annotations

import subprocess
import sys


def test_missing_extra_names_the_extra_to_install() -> None:
    code = (
        "import sys; sys.modules['starlette'] = None\n"
        "try:\n"
        "    import batchaio.emulator\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'batchaio[emulator]'" in result.stdout
    assert "starlette" in result.stdout
