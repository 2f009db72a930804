"""Handlers for the files of tasks and compute nodes: listings, properties, content, deletion."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.responses import Response

from batchaio.emulator._call import Call, Routes, _check_conditions, _empty, _listing, _page
from batchaio.emulator._files import FileEntry, node_files, task_files
from batchaio.emulator._render import node_url, task_url
from batchaio.emulator._state import Node, Pool
from batchaio.emulator._wire import ServiceError, format_rfc1123, format_time


class FileRoutes(Routes):
    """The task and node file operations.

    Names are kept with ``/`` inside; a Windows node shows them (and accepts them) with ``\\``."""

    def _node_files(self, call: Call) -> tuple[Pool, Node, dict[str, FileEntry]]:
        pool, node = self.store.node(call.params["poolId"], call.params["nodeId"], call.now)
        ran_here = [
            (job, task)
            for _, job in self.store.jobs.scan(0, call.now)
            for _, task in job.tasks.scan(0, call.now)
            if task.node_id == node.id
            and task.pool_id is not None
            and task.pool_id.lower() == pool.id.lower()
        ]
        return pool, node, node_files(pool, node, self.work_root, ran_here, call.now)

    async def list_node_files(self, call: Call) -> Response:
        pool, node, files = self._node_files(call)
        base_url = f"{node_url(call.base, pool.id, node.id)}/files"
        return self._list_files(call, files, base_url, node.windows)

    async def get_node_file(self, call: Call) -> Response:
        pool, node, files = self._node_files(call)
        return self._serve_file(call, files, f"{node_url(call.base, pool.id, node.id)}/files", node.windows)

    async def delete_node_file(self, call: Call) -> Response:
        _, _, files = self._node_files(call)
        entry = files.get(_file_name(call))
        if entry is None:
            raise ServiceError("FileNotFound")
        self._delete_on_disk(entry, call.flag("recursive"))
        return _empty(200)

    @staticmethod
    def _list_files(call: Call, files: dict[str, FileEntry], base_url: str, windows: bool) -> Response:
        recursive = call.flag("recursive")
        names = sorted(name for name in files if recursive or "/" not in name)

        def render(name: str) -> dict[str, Any]:
            entry = files[name]
            item: dict[str, Any] = {
                "name": name.replace("/", "\\") if windows else name,
                "url": f"{base_url}/{quote(name, safe='/')}",
                "isDirectory": entry.is_directory,
            }
            if not entry.is_directory:
                properties: dict[str, Any] = {}
                if windows:
                    properties["creationTime"] = format_time(entry.created)
                properties["lastModified"] = format_time(entry.modified)
                properties["contentLength"] = str(entry.size)
                properties["contentType"] = _content_type(name)
                if not windows:
                    properties["fileMode"] = _FILE_MODE
                item["properties"] = properties
            return item

        return _page(call, "files", _listing(names), render)

    @staticmethod
    def _serve_file(call: Call, files: dict[str, FileEntry], base_url: str, windows: bool) -> Response:
        name = _file_name(call)
        entry = files.get(name)
        if entry is None:
            raise ServiceError("FileNotFound")
        etag = f"0x8DC{int(entry.modified * 10_000_000) & 0xFFFFFFFFFFFF:012X}"
        not_modified = _check_conditions(call, etag, entry.modified, read=True)
        if not_modified is not None:
            return not_modified
        headers = {
            "ETag": etag,
            "Last-Modified": format_rfc1123(entry.modified),
            "Content-Type": _content_type(name),
            "ocp-batch-file-isdirectory": "True" if entry.is_directory else "False",
            # The service percent-encodes the whole URL in this header, scheme and slashes included.
            "ocp-batch-file-url": quote(f"{base_url}/{name}", safe=""),
        }
        if windows:
            headers["ocp-creation-time"] = format_rfc1123(entry.created)
        else:
            headers["ocp-batch-file-mode"] = _DIRECTORY_MODE if entry.is_directory else _FILE_MODE
        data = entry.read()
        range_header = call.request.headers.get("ocp-range")
        if range_header:
            data = _slice(data, range_header)
        if call.request.method == "HEAD":
            headers["Content-Length"] = str(entry.size)
            return Response(b"", status_code=200, headers=headers)
        return Response(data, status_code=200, headers=headers)

    @staticmethod
    def _delete_on_disk(entry: FileEntry, recursive: bool) -> None:
        if entry.path is None:
            return
        if entry.is_directory:
            if not recursive:
                raise ServiceError(
                    "DirectoryNotEmpty", status=409, message="The directory is not empty; use recursive."
                )
            import shutil

            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            entry.path.unlink(missing_ok=True)

    async def list_task_files(self, call: Call) -> Response:
        job, task = self._task(call)
        files = task_files(job, task, call.now, self.work_root)
        return self._list_files(call, files, f"{task_url(call.base, job.id, task.id)}/files", task.on_windows)

    async def get_task_file(self, call: Call) -> Response:
        job, task = self._task(call)
        files = task_files(job, task, call.now, self.work_root)
        base_url = f"{task_url(call.base, job.id, task.id)}/files"
        return self._serve_file(call, files, base_url, task.on_windows)

    async def delete_task_file(self, call: Call) -> Response:
        job, task = self._task(call)
        name = _file_name(call)
        entry = task_files(job, task, call.now, self.work_root).get(name)
        if entry is None:
            raise ServiceError("FileNotFound")
        recursive = call.flag("recursive")
        if entry.is_directory and entry.path is None and not recursive:
            raise ServiceError(
                "DirectoryNotEmpty", status=409, message="The directory is not empty; use recursive."
            )
        self._delete_on_disk(entry, recursive)
        if task.deleted_files is None:
            task.deleted_files = set()
        task.deleted_files.add(name)
        return _empty(200)


def _file_name(call: Call) -> str:
    """The requested file's name with ``/`` separators (Windows clients may send ``\\``)."""
    return str(call.params["filePath"]).replace("\\", "/").strip("/")


_FILE_MODE = "0o100644"


_DIRECTORY_MODE = "0o40755"


def _content_type(name: str) -> str:
    """The Content-Type of a node or task file, the same in its listing, on GET and on HEAD (the service
    sends ``text/plain`` without a charset)."""
    return "text/plain" if name.endswith(".txt") else "application/octet-stream"


def _slice(data: bytes, header: str) -> bytes:
    """Apply ``ocp-range: bytes=START-END`` (inclusive; ``START-`` to the end; ``-N`` the last N bytes)."""
    text = header.strip()
    if not text.lower().startswith("bytes="):
        raise ServiceError(
            "InvalidHeaderValue", values=[("HeaderName", "ocp-range"), ("HeaderValue", header)]
        )
    first, _, last = text[6:].partition("-")
    try:
        if first == "":
            count = int(last)
            return data[-count:] if count else b""
        start = int(first)
        end = int(last) if last else len(data) - 1
    except ValueError:
        raise ServiceError(
            "InvalidHeaderValue", values=[("HeaderName", "ocp-range"), ("HeaderValue", header)]
        ) from None
    if start > end or (start >= len(data) and len(data) > 0):
        raise ServiceError(
            "InvalidRange",
            status=416,
            message="The range specified is invalid for the current size of the resource.",
        )
    return data[start : end + 1]
