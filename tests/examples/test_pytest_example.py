"""``examples/pytest_emulator`` is a project of its own: run its tests as its users would, in a subprocess."""

from __future__ import annotations

import subprocess
import sys

from tests.examples.conftest import EXAMPLES


def test_the_example_project_passes() -> None:
    folder = EXAMPLES / "pytest_emulator"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(folder)],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout
