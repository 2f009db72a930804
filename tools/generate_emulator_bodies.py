"""Generate the emulator's tables of request bodies and projections (``batchaio/emulator/_bodies.py``).

Usage::

    python tools/generate_emulator_bodies.py            # write the module
    python tools/generate_emulator_bodies.py --check    # exit 1 if the module is not what it would write

For each operation of ``tools/spec/batch-2024-07-01.20.0.operations.json`` that takes a body, the table names
the body model and its writable (not ``readOnly``) top-level properties, taken from the schema file. The
emulator answers 400 to a body with any other top-level property; it never reads ``tools/`` at run time.
``SHAPES`` and ``ENUMS`` give the type of every writable property of the models bodies reach (for type,
range and required checks); ``SELECTABLE`` the properties ``$select`` may name on each GET operation.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "tools/spec/batch-2024-07-01.20.0.schema.json"
OPERATIONS = ROOT / "tools/spec/batch-2024-07-01.20.0.operations.json"
TARGET = ROOT / "batchaio/emulator/_bodies.py"
# Bodies whose items are models too: the items are checked against the item model.
ITEM_MODELS = {"BatchTaskGroup": "BatchTaskCreateContent"}


def route_key(path: str) -> str:
    """The path with every ``{parameter}`` emptied, so that route templates match whatever their names."""
    return re.sub(r"\{[^}]*\}", "{}", path)


def describe(kind: object) -> str:
    """A property type as the emulator's checker reads it: ``string``, ``model:X``, ``array:<type>``..."""
    if isinstance(kind, str):
        return kind
    assert isinstance(kind, dict)
    if "model" in kind:
        return f"model:{kind['model']}"
    if "enum" in kind:
        return f"enum:{kind['enum']}"
    if "array" in kind:
        return f"array:{describe(kind['array'])}"
    return f"map:{describe(kind['map'])}"


def reachable(models: dict[str, dict[str, list[dict[str, object]]]], roots: list[str]) -> list[str]:
    """Every model reachable from ``roots`` through writable properties."""
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for prop in models[name]["properties"]:
            if not prop.get("readOnly"):
                todo += re.findall(r"model:(\w+)", describe(prop["type"]))
    return sorted(seen)


def shape_lines(models: dict[str, dict[str, list[dict[str, object]]]], needed: list[str]) -> list[str]:
    lines = ["", "# model -> (property, type, required) of each writable property, for the body checker"]
    lines.append("SHAPES: dict[str, tuple[tuple[str, str, bool], ...]] = {")
    enums: set[str] = set()
    for model in reachable(models, needed):
        lines.append(f"    {model!r}: (")
        for prop in models[model]["properties"]:
            if prop.get("readOnly"):
                continue
            kind = describe(prop["type"])
            enums.update(re.findall(r"enum:(\w+)", kind))
            lines.append(f"        ({prop['name']!r}, {kind!r}, {bool(prop.get('required'))!r}),")
        lines.append("    ),")
    lines += ["}", "", "# enum -> its values in lower case (a body may spell them in any case)"]
    lines.append("ENUMS: dict[str, frozenset[str]] = {")
    all_enums = json.loads(SCHEMA.read_text())["enums"]
    for enum in sorted(enums):
        values = ", ".join(repr(value.lower()) for value in sorted(all_enums[enum]))
        lines.append(f"    {enum!r}: frozenset({{{values}}}),")
    lines.append("}")
    return lines


def selectable_lines(
    models: dict[str, dict[str, list[dict[str, object]]]], operations: list[dict[str, object]]
) -> list[str]:
    lines = ["", "# GET route (parameters emptied) -> the properties $select may name"]
    lines.append("SELECTABLE: dict[str, frozenset[str]] = {")
    for operation in operations:
        model = operation.get("itemType") or operation.get("resultType")
        if operation["method"] != "GET" or not isinstance(model, str) or model not in models:
            continue
        names = ", ".join(repr(prop["name"]) for prop in models[model]["properties"])
        lines.append(f"    {route_key(str(operation['path']))!r}: frozenset({{{names}}}),")
    lines.append("}")
    return lines


def render() -> str:
    models = json.loads(SCHEMA.read_text())["models"]
    operations = json.loads(OPERATIONS.read_text())["operations"]
    bodies: dict[tuple[str, str], str] = {}
    optional: list[tuple[str, str]] = []
    for operation in operations:
        body_type = operation.get("bodyType")
        if body_type:
            key = (operation["method"], route_key(operation["path"]))
            bodies[key] = body_type.removeprefix("optional ")
            if body_type.startswith("optional "):
                optional.append(key)
    needed = sorted({*bodies.values(), *ITEM_MODELS.values()})
    lines = [
        '"""Writable top-level properties of each request body.',
        "",
        'Generated by tools/generate_emulator_bodies.py from the schema: do not edit."""',
        "",
        "from __future__ import annotations",
        "",
        "__all__ = ['BODY_MODELS', 'ENUMS', 'ITEM_MODELS', 'OPTIONAL_BODIES', 'SELECTABLE', 'SHAPES',"
        " 'WRITABLE']",
        "",
        "# (method, path with parameters emptied) -> body model",
        "BODY_MODELS: dict[tuple[str, str], str] = {",
    ]
    lines += [f"    ({method!r}, {path!r}): {model!r}," for (method, path), model in sorted(bodies.items())]
    lines += ["}", "", "# (method, path) of the operations whose body may be left out"]
    lines += ["OPTIONAL_BODIES: frozenset[tuple[str, str]] = frozenset("]
    lines += ["    {"] + [f"        {key!r}," for key in sorted(optional)] + ["    }", ")"]
    lines += ["", "# list-of-items body model -> item model", "ITEM_MODELS: dict[str, str] = {"]
    lines += [f"    {outer!r}: {inner!r}," for outer, inner in sorted(ITEM_MODELS.items())]
    lines += ["}", "", "# model -> its properties that are not read-only"]
    lines += ["WRITABLE: dict[str, frozenset[str]] = {"]
    for model in needed:
        names = sorted(prop["name"] for prop in models[model]["properties"] if not prop.get("readOnly"))
        lines.append(f"    {model!r}: frozenset(")
        lines.append("        {")
        lines += [f"            {name!r}," for name in names]
        lines.append("        }")
        lines.append("    ),")
    lines += ["}"]
    lines += shape_lines(models, needed)
    lines += selectable_lines(models, operations)
    lines.append("")
    return formatted("\n".join(lines).replace("'", '"'))


def formatted(text: str) -> str:
    """``text`` as ``ruff format`` leaves it (the tables are long)."""
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--stdin-filename", str(TARGET), "-"],
        input=text,
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return result.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the module is out of date")
    arguments = parser.parse_args(argv)
    text = render()
    if arguments.check:
        if not TARGET.exists() or TARGET.read_text() != text:
            print(f"{TARGET.relative_to(ROOT)} is out of date: run {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
