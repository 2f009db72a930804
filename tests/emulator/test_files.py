"""File properties as a Linux node reports them: in the listing, on GET and on HEAD."""

from __future__ import annotations

import httpx
import pytest

from .test_app import add_tasks, setup_job, wait_for


@pytest.mark.parametrize("name", ["stdout.txt", "wd"])
async def test_linux_file_properties_and_one_content_type(client: httpx.AsyncClient, name: str) -> None:
    await setup_job(client)
    await add_tasks(client, [{"id": "t", "commandLine": "/bin/sh -c 'echo hi'"}])
    await wait_for(client, "/jobs/job/tasks/t", lambda body: body["state"] == "completed")
    listing = (await client.get("/jobs/job/tasks/t/files", params={"recursive": "true"})).json()["value"]
    entries = {entry["name"]: entry for entry in listing}
    head = await client.head(f"/jobs/job/tasks/t/files/{name}")
    assert head.status_code == 200
    assert "ocp-creation-time" not in head.headers
    if name == "wd":
        assert head.headers["ocp-batch-file-mode"] == "0o40755"
        return
    properties = entries[name]["properties"]
    assert properties["fileMode"] == head.headers["ocp-batch-file-mode"] == "0o100644"
    assert "creationTime" not in properties
    get = await client.get(f"/jobs/job/tasks/t/files/{name}")
    content_type = properties["contentType"]
    assert head.headers["Content-Type"].split(";")[0] == content_type
    assert get.headers["Content-Type"].split(";")[0] == content_type
