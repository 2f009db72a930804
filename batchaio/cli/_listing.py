"""``tasks list`` output: which properties to ask for; rows as a table, JSON Lines or CSV, a page at a time.

A task is turned into its wire-shaped dict (camelCase, as the REST API and ``--select`` name properties) by
the library's converter; a column is a top-level property, or one of the derived columns ``exitCode``
(``executionInfo.exitCode``) and ``nodeId`` (``nodeInfo.nodeId``).
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

import orjson

__all__ = ["DEFAULT_COLUMNS", "ListWriter", "cell", "plan_columns"]

DEFAULT_COLUMNS = ("id", "state", "exitCode", "nodeId", "stateTransitionTime")
_DERIVED = {"exitCode": ("executionInfo", "exitCode"), "nodeId": ("nodeInfo", "nodeId")}
_MAX_TABLE_WIDTH = 48


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def plan_columns(select: Sequence[str] | None) -> tuple[list[str], list[str]]:
    """``(select sent to the service, columns shown)`` for ``--select`` (``None``: the default columns)."""
    columns = list(select) if select else list(DEFAULT_COLUMNS)
    wanted: list[str] = []
    for column in columns:
        name = _DERIVED[column][0] if column in _DERIVED else _camel(column)
        if name not in wanted:
            wanted.append(name)
    return wanted, columns


def cell(data: Mapping[str, Any], column: str) -> str:
    """The text of one column of one task (``data`` in wire names): scalars as they are, objects as JSON."""
    if column in _DERIVED:
        outer, inner = _DERIVED[column]
        holder = data.get(outer)
        value = holder.get(inner) if isinstance(holder, dict) else None
    else:
        value = data.get(column, data.get(_camel(column)))
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return orjson.dumps(value).decode()


class ListWriter:
    """Writes tasks (as wire dicts) to ``out`` in ``table``, ``jsonl`` or ``csv`` format, a page at a time.

    The table's column widths come from its header and first page, so rows stream out without holding the
    listing; a later value that is longer just widens its own row.
    """

    def __init__(self, out: TextIO, fmt: str, columns: Sequence[str]) -> None:
        self.out = out
        self.format = fmt
        self.columns = list(columns)
        self._widths: list[int] | None = None
        self._csv = csv.writer(out, lineterminator="\n") if fmt == "csv" else None
        self.rows = 0
        if self._csv is not None:
            self._csv.writerow(self.columns)

    def write_page(self, tasks: Sequence[Mapping[str, Any]]) -> None:
        if self.format == "jsonl":
            self.out.write("".join(orjson.dumps(task).decode() + "\n" for task in tasks))
        else:
            rows = [[cell(task, column) for column in self.columns] for task in tasks]
            if self._csv is not None:
                self._csv.writerows(rows)
            else:
                self._write_table(rows)
        self.rows += len(tasks)
        self.out.flush()

    def _write_table(self, rows: list[list[str]]) -> None:
        if self._widths is None:
            self._widths = [
                min(max([len(column)] + [len(row[i]) for row in rows]), _MAX_TABLE_WIDTH)
                for i, column in enumerate(self.columns)
            ]
            self.out.write(self._line(self.columns))
        self.out.write("".join(self._line(row) for row in rows))

    def _line(self, values: Sequence[str]) -> str:
        assert self._widths is not None
        return (
            "  ".join(value.ljust(width) for value, width in zip(values, self._widths, strict=True)).rstrip()
            + "\n"
        )

    def finish(self) -> None:
        """An empty table still shows its header."""
        if self.format == "table" and self._widths is None:
            self._write_table([])
            self.out.flush()
