"""The public surface: what the README uses is exported, everything public is documented, and the exception
tree drawn in ``batchaio.errors``' docstring is the real one."""

from __future__ import annotations

import importlib
import inspect
import re
from types import ModuleType

import pytest

import batchaio
import batchaio.errors

PUBLIC_MODULES = [
    "batchaio",
    "batchaio.models",
    "batchaio.auth",
    "batchaio.errors",
    "batchaio.filters",
    "batchaio.transports",
    "batchaio.emulator",
]


def _public_names(module: ModuleType) -> list[str]:
    names = getattr(module, "__all__", None)
    if names is None:
        names = [name for name in vars(module) if not name.startswith("_")]
    return list(names)


def _undocumented(module: ModuleType) -> list[str]:
    missing: list[str] = []
    for name in _public_names(module):
        obj = getattr(module, name)
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue
        if not inspect.getdoc(obj):
            missing.append(f"{module.__name__}.{name}")
        if not inspect.isclass(obj) or module.__name__ == "batchaio.models":
            continue  # the generated models document their fields in the class docstring
        for attr, member in vars(obj).items():
            if attr.startswith("_"):
                continue
            function = member.fget if isinstance(member, property) else getattr(member, "__func__", member)
            if inspect.isfunction(function) and not inspect.getdoc(function):
                missing.append(f"{module.__name__}.{name}.{attr}")
    return missing


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_every_public_class_function_and_method_has_a_docstring(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert inspect.getdoc(module)
    assert _undocumented(module) == []


def test_the_names_the_readme_uses_are_exported() -> None:
    for name in (
        "AsyncPager",
        "BatchClient",
        "BulkAddDeadlineExceeded",
        "BulkAddError",
        "FileChangedError",
        "Limits",
        "NotModifiedError",
        "ResponseMetadata",
        "ResponseParseError",
        "RetryPolicy",
        "SharedKeyCredential",
        "TaskOutcomeStatus",
        "Timeout",
        "ValidationError",
        "converter",
    ):
        assert name in batchaio.__all__, name
    from batchaio import filters

    assert callable(filters.eq)


def _drawn_tree() -> dict[str, str]:
    """Each class name in the ``errors`` docstring's drawing, mapped to the class drawn as its parent."""
    doc = batchaio.errors.__doc__ or ""
    parents: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    for line in doc.splitlines():
        match = re.match(r"^[│├└─ ]*([A-Z]\w+)\s{2,}", line)
        if match is None:
            continue
        depth, name = match.start(1), match.group(1)
        while stack and stack[-1][0] >= depth:
            stack.pop()
        if stack:
            parents[name] = stack[-1][1]
        stack.append((depth, name))
    return parents


def test_the_exception_tree_in_the_errors_docstring_is_the_real_one() -> None:
    drawn = _drawn_tree()
    classes = {
        name: obj
        for name, obj in vars(batchaio.errors).items()
        if inspect.isclass(obj)
        and issubclass(obj, batchaio.errors.BatchaioError)
        and not name.startswith("_")
    }
    assert set(drawn) | {"BatchaioError"} == set(classes)
    for name, parent in drawn.items():
        assert issubclass(classes[name], classes[parent]), (name, parent)
        public_bases = [base.__name__ for base in classes[name].__mro__[1:] if base.__name__ in classes]
        assert public_bases[0] == parent, (name, public_bases)


def test_dir_of_the_package_shows_only_exports_and_modules() -> None:
    public = {name for name in dir(batchaio) if not name.startswith("_")}
    assert "annotations" not in public  # the __future__ import is not part of the API
    stray = {name for name in public - set(batchaio.__all__) if not inspect.ismodule(getattr(batchaio, name))}
    assert stray == set()
