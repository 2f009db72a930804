"""Turn on batchaio's emulator fixtures for the tests of this folder (in a project: its top conftest.py)."""

pytest_plugins = ["batchaio.emulator.pytest_plugin"]
