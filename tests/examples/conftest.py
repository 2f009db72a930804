"""Fixtures for running the files of ``examples/`` against the emulator, as their users would."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from batchaio.emulator.pytest_plugin import batch_emulator  # noqa: F401

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load_example(name: str) -> ModuleType:
    """Import ``examples/<name>.py`` as a fresh module (the examples are not a package)."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
