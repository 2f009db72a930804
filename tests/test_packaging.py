"""The distributions: ``python -m build`` makes an sdist and, from it, a wheel that installs and imports.

The build runs once per session (``--no-isolation``: the backend, hatchling, is in the ``test`` extra, so no
download is needed). The wheel is installed with ``--no-deps`` into a new virtual environment that takes its
dependencies from this one's site-packages, and imported from outside the checkout.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tarfile
import venv
import zipfile
from email.parser import Parser
from pathlib import Path
from typing import NamedTuple

import pytest

import batchaio

ROOT = Path(__file__).resolve().parent.parent
NAME = f"batchaio-{batchaio.__version__}"


class Dists(NamedTuple):
    wheel: Path
    sdist: Path


@pytest.fixture(scope="session")
def dists(tmp_path_factory: pytest.TempPathFactory) -> Dists:
    for module in ("build", "hatchling"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"the {module!r} package is not installed (it is in the 'test' extra)")
    out = tmp_path_factory.mktemp("dist")
    command = [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)]
    subprocess.run(command, check=True, capture_output=True, text=True, timeout=120)
    (wheel,) = out.glob("*.whl")
    (sdist,) = out.glob("*.tar.gz")
    return Dists(wheel, sdist)


def _wheel_names(dists: Dists) -> list[str]:
    with zipfile.ZipFile(dists.wheel) as wheel:
        return wheel.namelist()


def test_the_wheel_holds_the_package_and_nothing_else(dists: Dists) -> None:
    names = _wheel_names(dists)
    info = f"{NAME}.dist-info/"
    assert dists.wheel.name == f"{NAME}-py3-none-any.whl"
    assert {name.split("/", 1)[0] + "/" for name in names} == {"batchaio/", info}
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]
    assert not [name for name in names if name.startswith(("tests/", "batchaio/tests/"))]
    assert f"{info}licenses/LICENSE" in names


def test_the_wheel_ships_every_module_the_type_marker_and_the_emulator(dists: Dists) -> None:
    names = set(_wheel_names(dists))
    on_disk = {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "batchaio").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert on_disk - names == set()
    assert "batchaio/py.typed" in names
    for module in ("__init__", "__main__", "_app", "_server", "pytest_plugin"):
        assert f"batchaio/emulator/{module}.py" in names


def test_the_wheel_metadata(dists: Dists) -> None:
    with zipfile.ZipFile(dists.wheel) as wheel:
        text = wheel.read(f"{NAME}.dist-info/METADATA").decode()
    metadata = Parser().parsestr(text)
    assert metadata["License"] == "MIT"
    assert metadata["Requires-Python"] == ">=3.10"
    classifiers = metadata.get_all("Classifier") or []
    assert "License :: OSI Approved :: MIT License" in classifiers
    for minor in (10, 11, 12, 13):
        assert f"Programming Language :: Python :: 3.{minor}" in classifiers
    urls = dict(entry.split(", ", 1) for entry in metadata.get_all("Project-URL") or [])
    assert {"Homepage", "Documentation", "Repository", "Issues", "Changelog"} <= set(urls)
    requirements = metadata.get_all("Requires-Dist") or []
    assert [req for req in requirements if "==" in req.split(";")[0]] == []
    assert {"emulator", "aiohttp", "http2", "test", "benchmark", "docs"} <= set(
        metadata.get_all("Provides-Extra") or []
    )


def test_the_sdist_builds_the_wheel_and_carries_tests_and_licence(dists: Dists) -> None:
    with tarfile.open(dists.sdist) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    for needed in ("pyproject.toml", "LICENSE", "README.rst", "CHANGELOG.md", ".ci/constraints.txt"):
        assert needed in names
    assert "batchaio/py.typed" in names
    assert "tests/test_packaging.py" in names
    assert not [
        name for name in names if name.startswith((".venv/", "docs/_build/")) or "__pycache__" in name
    ]


def test_the_wheel_installs_into_a_new_environment_and_imports(
    dists: Dists, tmp_path_factory: pytest.TempPathFactory
) -> None:
    env_dir = tmp_path_factory.mktemp("env")
    venv.create(env_dir, with_pip=False, symlinks=os.name != "nt")
    python = env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    pip = [
        sys.executable,
        "-m",
        "pip",
        "--python",
        str(python),
        "install",
        "--no-deps",
        "--no-index",
        "--no-compile",
    ]
    subprocess.run([*pip, str(dists.wheel)], check=True, capture_output=True, text=True, timeout=120)
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # The dependencies come from this environment's site-packages: listed in a .pth file, a directory is only
    # put on sys.path (its own .pth files do not run), so the editable install of the checkout stays unseen.
    import httpx

    (Path(site) / "dependencies.pth").write_text(f"{Path(httpx.__file__).resolve().parents[1]}\n")
    script = (
        "import batchaio, batchaio.models, batchaio.emulator, batchaio.transports, importlib.resources as r\n"
        "print(batchaio.__file__)\n"
        "print(batchaio.__version__)\n"
        "print(r.files('batchaio').joinpath('py.typed').is_file())\n"
    )
    clean = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    result = subprocess.run(
        [str(python), "-I", "-c", script], check=True, capture_output=True, text=True, cwd=env_dir, env=clean
    )
    location, version, typed = result.stdout.split()
    assert Path(location).resolve().is_relative_to(Path(site).resolve())
    assert version == batchaio.__version__
    assert typed == "True"
