"""File headers and ranged reads as the service sends them (compared with recorded service answers)."""

from __future__ import annotations

from urllib.parse import unquote

import httpx

from .test_app import add_tasks, setup_job, wait_for


async def _completed_task(client: httpx.AsyncClient) -> None:
    await setup_job(client)
    await add_tasks(client, [{"id": "t", "commandLine": "/bin/sh -c 'echo hello world'"}])
    await wait_for(client, "/jobs/job/tasks/t", lambda body: body["state"] == "completed")


async def test_file_url_header_is_the_whole_url_percent_encoded(client: httpx.AsyncClient) -> None:
    """Recorded service answers of "Get Task File Properties" and "Get Node File": ``ocp-batch-file-url`` is
    the file's URL percent-encoded as one value (``https%3A%2F%2F<account>...%2Ffiles%2Fstdout.txt``),
    while a listing's ``url`` keeps its ``/`` separators."""
    await _completed_task(client)
    for method in ("HEAD", "GET"):
        response = await client.request(method, "/jobs/job/tasks/t/files/stdout.txt")
        header = response.headers["ocp-batch-file-url"]
        assert "/" not in header and ":" not in header
        assert unquote(header) == "http://emulator.local/jobs/job/tasks/t/files/stdout.txt"
    node_id = (await client.get("/jobs/job/tasks/t")).json()["nodeInfo"]["nodeId"]
    listing = await client.get(f"/pools/pool/nodes/{node_id}/files", params={"recursive": "true"})
    urls = {entry["name"]: entry["url"] for entry in listing.json()["value"]}
    assert urls["workitems/job/job-1/t/stdout.txt"].endswith("/files/workitems/job/job-1/t/stdout.txt")


async def test_content_type_is_sent_without_a_charset(client: httpx.AsyncClient) -> None:
    """Recorded answers: ``content-type: text/plain`` on HEAD and GET of ``stdout.txt``, and
    ``contentType: text/plain`` in the listing (no ``; charset=``)."""
    await _completed_task(client)
    head = await client.head("/jobs/job/tasks/t/files/stdout.txt")
    get = await client.get("/jobs/job/tasks/t/files/stdout.txt")
    assert head.headers["content-type"] == get.headers["content-type"] == "text/plain"
    listing = (await client.get("/jobs/job/tasks/t/files")).json()["value"]
    assert {entry["properties"]["contentType"] for entry in listing if not entry["isDirectory"]} == {
        "text/plain"
    }


async def test_linux_files_have_a_mode_and_no_creation_time(client: httpx.AsyncClient) -> None:
    """REST reference, ``FileProperties``: "The creation time is not returned for files on Linux Compute
    Nodes"; "The file mode is returned only for files on Linux Compute Nodes"."""
    await _completed_task(client)
    head = await client.head("/jobs/job/tasks/t/files/stdout.txt")
    assert "ocp-creation-time" not in head.headers and head.headers["ocp-batch-file-mode"] == "0o100644"


async def test_ranged_reads_answer_200_with_the_inclusive_range(client: httpx.AsyncClient) -> None:
    """REST reference, "Get Task File": ``ocp-range`` is "The byte range to be retrieved. The default is to
    retrieve the entire file. The format is bytes=startRange-endRange"; the only documented answer is
    200 OK. The range is inclusive; an open range runs to the end."""
    await _completed_task(client)
    part = await client.get("/jobs/job/tasks/t/files/stdout.txt", headers={"ocp-range": "bytes=0-4"})
    assert (part.status_code, part.content, part.headers["content-length"]) == (200, b"hello", "5")
    rest = await client.get("/jobs/job/tasks/t/files/stdout.txt", headers={"ocp-range": "bytes=6-"})
    assert rest.content == b"world\n"
