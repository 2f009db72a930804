"""Checks on the project's own promises: the README's commands, the CI script and the public surface."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

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


def _requirement_name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_the_readme_test_command_installs_with_the_ci_constraints() -> None:
    test_command = next(command for command in _readme_commands() if command.endswith("-m pytest"))
    assert "pip install -c .ci/constraints.txt -e '.[test]'" in test_command


def test_extras_give_ranges_and_the_constraints_file_gives_the_pins() -> None:
    tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        requirements += extra
    assert [req for req in requirements if "==" in req.split(";")[0]] == []
    named = {_requirement_name(req) for req in requirements}
    lines = (ROOT / ".ci" / "constraints.txt").read_text(encoding="utf-8").splitlines()
    pins = [line for line in lines if line.strip() and not line.startswith("#")]
    assert pins == sorted(pins)
    for pin in pins:
        assert re.fullmatch(r"[A-Za-z0-9._-]+==[0-9][0-9A-Za-z.]*(; .+)?", pin), pin
    # every pin is of a package the extras name, or a dependency of one that decides results (docutils)
    assert {_requirement_name(pin) for pin in pins} - named <= {"docutils"}


def test_the_licence_file_is_the_licence_the_metadata_names() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'license = { text = "MIT" }' in pyproject
    assert '"License :: OSI Approved :: MIT License"' in pyproject
    licence = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert licence.startswith("MIT License\n")
    assert "Permission is hereby granted, free of charge" in licence
