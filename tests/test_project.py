"""Checks on the project's own promises: the README's commands, the CI script and the public surface."""

from __future__ import annotations

import re
from pathlib import Path

import batchaio

ROOT = Path(__file__).resolve().parent.parent


def _readme_commands() -> list[str]:
    text = (ROOT / "README.rst").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip().startswith("python3 -m venv .venv")]


def test_readme_has_a_demo_command_and_a_test_command() -> None:
    commands = _readme_commands()
    assert any(command.endswith("-m batchaio.demo") for command in commands)
    assert any(command.endswith("-m pytest") for command in commands)


def test_ci_runs_exactly_the_readme_test_command() -> None:
    test_command = next(command for command in _readme_commands() if command.endswith("-m pytest"))
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()]
    assert f"{test_command} || exit 1" in ci_lines


def test_public_names_are_sorted_and_importable() -> None:
    names = list(batchaio.__all__)
    assert names == sorted(names, key=str.casefold) or names == sorted(names)
    for name in names:
        assert hasattr(batchaio, name), name


def test_versions_agree() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    match = re.search(r'^version = "([^"]+)"$', pyproject, re.MULTILINE)
    assert match is not None
    assert match.group(1) == batchaio.__version__
    assert batchaio.API_VERSION == "2024-07-01.20.0"


def test_package_does_not_reach_outside_the_repository() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "batchaio").rglob("*.py")
        if re.search(r"\.\./shared|/work/shared", path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_package_ships_its_type_marker() -> None:
    assert (ROOT / "batchaio" / "py.typed").exists()
