"""Sphinx configuration: the API reference from the docstrings (autodoc), the guide from README.rst.

Build: ``.venv/bin/python -m sphinx -W --keep-going -b html docs docs/_build/html`` (``tests/test_docs.py``
builds it the same way, warnings as errors, and checks that every public name is documented).
"""

from __future__ import annotations

import builtins
import sys
from pathlib import Path
from typing import Any

from sphinx import addnodes
from sphinx.transforms.post_transforms import SphinxPostTransform

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import batchaio  # noqa: E402

project = "batchaio"
author = "batchaio developers"
copyright = "2026, batchaio developers"
version = release = batchaio.__version__

extensions = ["sphinx.ext.autodoc"]
exclude_patterns = ["_build"]
root_doc = "index"
html_theme = "alabaster"
html_static_path: list[str] = []

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
autodoc_inherit_docstrings = False


def _skip_reexported(app: Any, what: str, name: str, obj: Any, skip: bool, options: Any) -> bool | None:
    """Document each public object once: under ``batchaio`` when the package re-exports it."""
    if what == "module" and name in batchaio.__all__ and getattr(batchaio, name) is obj:
        current = app.env.temp_data.get("autodoc:module") or app.env.ref_context.get("py:module")
        if current not in (None, "batchaio"):
            return True
    return None


class _PlainForeignNames(SphinxPostTransform):
    """Show names from outside batchaio in signatures (``str``, ``None``, ``httpx.Timeout``) as plain text.

    Nothing here documents them, so Sphinx would search every documented name for one ending in ``.str`` (the
    model fields alone carry thousands: most of the build's time) and would take ``type`` for the ``type``
    field of three models. Runs before the resolver; names of batchaio itself are resolved as usual.
    """

    default_priority = 5

    def run(self, **kwargs: Any) -> None:
        for node in list(self.document.findall(addnodes.pending_xref)):
            target = node.get("reftarget", "")
            foreign = target in vars(builtins) or ("." in target and not target.startswith("batchaio."))
            if node.get("refdomain") == "py" and foreign:
                node.replace_self(node.children)


def setup(app: Any) -> None:
    app.connect("autodoc-skip-member", _skip_reexported)
    app.add_post_transform(_PlainForeignNames)
