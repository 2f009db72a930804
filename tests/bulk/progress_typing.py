"""Checked by mypy in ``test_bulk_progress.py`` (not collected by pytest): what ``progress=`` accepts.

Each wrong callable carries an ``ignore`` for the error it must cause; mypy runs with
``--warn-unused-ignores``, so a wrong callable that were accepted fails the check as surely as a right one
that were refused.
"""

from __future__ import annotations

from batchaio import BatchClient, BulkAddReport
from batchaio._bulk_options import BulkOptions


def plain(report: BulkAddReport) -> None: ...


async def awaited(report: BulkAddReport) -> None: ...


def takes_an_int(count: int) -> None: ...


def returns_a_value(report: BulkAddReport) -> int:
    return report.created


def takes_nothing() -> None: ...


async def checks(client: BatchClient) -> None:
    await client.tasks.add_many("job-1", [], progress=plain)
    await client.tasks.add_many("job-1", [], progress=awaited)
    await client.tasks.add_many("job-1", [], progress=lambda report: None)
    client.tasks.iter_add("job-1", [], progress=awaited)
    BulkOptions(progress=plain)
    await client.tasks.add_many("job-1", [], progress=takes_an_int)  # type: ignore[arg-type]
    await client.tasks.add_many("job-1", [], progress=returns_a_value)  # type: ignore[arg-type]
    await client.tasks.add_many("job-1", [], progress=takes_nothing)  # type: ignore[arg-type]
    client.tasks.iter_add("job-1", [], progress=returns_a_value)  # type: ignore[arg-type]
    BulkOptions(progress=returns_a_value)  # type: ignore[arg-type]
