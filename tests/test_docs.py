"""The documentation builds with Sphinx, warnings as errors, and documents every public name.

One HTML build per session (``python -m sphinx -W --keep-going``, as ``docs/building.rst`` says); the checks
read its ``objects.inv`` (the inventory of documented objects) and pages.
"""

from __future__ import annotations

import importlib.util
import itertools
import re
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

import batchaio
from batchaio import models

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if importlib.util.find_spec("sphinx") is None:
        pytest.skip("Sphinx is not installed (it is in the 'docs' extra, part of 'test')")
    out = tmp_path_factory.mktemp("docs")
    command = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", "docs", str(out)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return out


def _documented(built: Path) -> set[str]:
    """The Python objects in the build's inventory (format version 2: four header lines, then zlib)."""
    data = (built / "objects.inv").read_bytes()
    header_end = 0
    for _ in range(4):
        header_end = data.index(b"\n", header_end) + 1
    lines = zlib.decompress(data[header_end:]).decode().splitlines()
    return {line.split(" ", 1)[0] for line in lines if " py:" in line}


def test_every_public_name_of_the_package_is_in_the_reference(built: Path) -> None:
    documented = _documented(built)
    assert [name for name in batchaio.__all__ if f"batchaio.{name}" not in documented] == []


def test_every_model_and_enum_is_in_the_reference(built: Path) -> None:
    documented = _documented(built)
    assert len(models.__all__) >= 205
    assert [name for name in models.__all__ if f"batchaio.models.{name}" not in documented] == []
    assert "batchaio.models.BatchTask.execution_info" in documented
    assert "batchaio.models.BatchTaskState.COMPLETED" in documented


def test_the_resource_groups_are_in_the_reference(built: Path) -> None:
    documented = _documented(built)
    for method in (
        "batchaio.resources.Tasks.list",
        "batchaio.resources.Tasks.add_many",
        "batchaio.resources.Jobs.get",
    ):
        assert method in documented


def test_every_section_of_the_readme_is_a_page_of_the_guide(built: Path) -> None:
    readme = (ROOT / "README.rst").read_text(encoding="utf-8").splitlines()
    titles = [
        line
        for line, underline in itertools.pairwise(readme)
        if line and re.fullmatch(r"-+|~+", underline) and len(underline) == len(line)
    ]
    pages = "".join(path.read_text(encoding="utf-8") for path in built.glob("*.html"))
    text = re.sub(r"<[^>]+>", "", pages)
    assert len(titles) > 10
    for title in titles:
        assert title.replace("&", "&amp;") in text, title
