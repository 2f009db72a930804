"""Every ``.. code-block:: python`` block of README.rst runs, as written, against the local emulator.

Plain ``::`` literal blocks are illustrations (shell commands, Entra credentials, the emulator CLI) and are
not run. A runnable block is either a whole script (it calls ``anyio.run``) or a fragment run with top-level
``await`` in a namespace holding ``client``, ``endpoint``, ``credential``, ``node_id``, ``tasks`` and
``batchaio``, against an account that has pool ``pool-1``, job ``job-1`` and a completed task ``task-1``.
The README's placeholder endpoint and key are replaced by the emulator's; each replacement must be used.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import io
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

import batchaio
from batchaio import BatchClient, RetryPolicy, SharedKeyCredential
from batchaio.emulator import Emulator
from batchaio.models import (
    BatchJobCreateContent,
    BatchPoolCreateContent,
    BatchPoolInfo,
    BatchTaskCreateContent,
    BatchTaskState,
)

README = Path(__file__).resolve().parent.parent / "README.rst"

SUBSTITUTIONS = {
    '"https://myaccount.westeurope.batch.azure.com"': "endpoint",
    '"myaccount", "<base64 key from the portal>"': "account, key",
    "BatchClient(endpoint, credential": "BatchClient(endpoint, credential, allow_insecure_http=True",
}

# What some blocks must print, as their comments promise.
EXPECTED_OUTPUT = {
    "Usage": "t1 active",
    "Errors and request IDs": "JobNotFound",
    "Downloads": "hello",
}


def _sections_and_blocks() -> list[tuple[str, str]]:
    """``(section title, code)`` of each runnable block, padded to keep the line numbers of README.rst."""
    lines = README.read_text(encoding="utf-8").splitlines()
    blocks: list[tuple[str, str]] = []
    section = ""
    index = 0
    while index < len(lines):
        line = lines[index]
        if index + 1 < len(lines) and re.fullmatch(r"([-~=])\1{2,}", lines[index + 1]) and line.strip():
            section = line.strip()
        if line.strip() == ".. code-block:: python":
            index += 1
            body: list[str] = []
            while index < len(lines) and (not lines[index].strip() or lines[index].startswith(" ")):
                body.append(lines[index])
                index += 1
            indent = min(len(row) - len(row.lstrip()) for row in body if row.strip())
            code = "\n".join(row[indent:] for row in body)
            blocks.append((section, "\n" * (index - len(body)) + code + "\n"))
            continue
        index += 1
    return blocks


BLOCKS = _sections_and_blocks()


def _substituted(code: str) -> str:
    for placeholder, replacement in SUBSTITUTIONS.items():
        code = code.replace(placeholder, replacement)
    return code


def test_the_readme_has_runnable_blocks_for_every_feature() -> None:
    sections = {section for section, _ in BLOCKS}
    for expected in (
        "Usage",
        "Pagination",
        "Filters",
        "Adding many tasks",
        "Downloads",
        "Errors and request IDs",
        "Raw responses",
        "Retries and timeouts",
        "Testing your code with the emulator",
    ):
        assert expected in sections, expected
    assert set(EXPECTED_OUTPUT) <= sections


def test_every_placeholder_is_still_in_the_readme() -> None:
    code = "\n".join(code for _, code in BLOCKS)
    for placeholder, replacement in SUBSTITUTIONS.items():
        assert placeholder in code, placeholder
        code = code.replace(placeholder, replacement)


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    emu = Emulator(task_duration=(0.01, 0.02), delete_delay=0.01, seed=1)
    emu.start()
    try:
        yield emu
    finally:
        emu.close()


async def _prepare_account(client: BatchClient) -> str:
    """Pool ``pool-1`` (one node), job ``job-1``, completed tasks ``task-1``..``task-5``; the node id."""
    await client.pools.create(
        BatchPoolCreateContent(id="pool-1", vm_size="standard_d2s_v3", target_dedicated_nodes=1)
    )
    await client.jobs.create(BatchJobCreateContent(id="job-1", pool_info=BatchPoolInfo(pool_id="pool-1")))
    for n in range(1, 6):
        await client.tasks.create("job-1", BatchTaskCreateContent(id=f"task-{n}", command_line="echo hello"))
    give_up = time.monotonic() + 30
    while (await client.tasks.get("job-1", "task-1", select=["state"])).state != BatchTaskState.COMPLETED:
        assert time.monotonic() < give_up, "task-1 did not complete"
        await anyio.sleep(0.02)
    nodes = [node async for node in client.nodes.list("pool-1")]
    assert nodes and nodes[0].id is not None
    return nodes[0].id


async def _run_fragment(code: str, emulator: Emulator) -> None:
    assert emulator.endpoint is not None
    credential = SharedKeyCredential(emulator.account, emulator.key)
    fast = RetryPolicy(backoff_base=0.01, backoff_cap=0.05, retry_after_cap=0.1)
    async with BatchClient(emulator.endpoint, credential, allow_insecure_http=True, retry=fast) as client:
        namespace: dict[str, Any] = {
            # what the README says its fragments assume: ``import batchaio`` and the imports of "Usage"
            "batchaio": batchaio,
            "BatchClient": BatchClient,
            "SharedKeyCredential": SharedKeyCredential,
            "BatchJobCreateContent": BatchJobCreateContent,
            "BatchPoolInfo": BatchPoolInfo,
            "BatchTaskCreateContent": BatchTaskCreateContent,
            "client": client,
            "account": emulator.account,
            "credential": credential,
            "endpoint": emulator.endpoint,
            "key": emulator.key,
            "node_id": await _prepare_account(client),
            "tasks": [BatchTaskCreateContent(id=f"new-{n}", command_line="echo new") for n in range(3)],
        }
        compiled = compile(code, "README.rst", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        result = eval(compiled, namespace)
        if asyncio.iscoroutine(result):
            await result
        made = namespace.get("client")
        if made is not client and isinstance(made, BatchClient):
            await made.aclose()


@pytest.mark.parametrize(
    ("section", "code"), BLOCKS, ids=[f"{section}-{n}" for n, (section, _) in enumerate(BLOCKS)]
)
def test_readme_block_runs(
    section: str, code: str, emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code = _substituted(code)
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        if "anyio.run(" in code or "emulator.close()" in code:
            namespace: dict[str, Any] = {
                "endpoint": emulator.endpoint,
                "account": emulator.account,
                "key": emulator.key,
            }
            exec(compile(code, "README.rst", "exec"), namespace)
        else:
            asyncio.run(_run_fragment(code, emulator))
    if section in EXPECTED_OUTPUT:
        assert EXPECTED_OUTPUT[section] in output.getvalue()
