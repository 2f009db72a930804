"""Every one of the 77 operations, over real HTTP against the emulator, with each transport.

The emulator checks the Shared Key signature of each request exactly as it arrived on the socket (raw path
and query), so a 403 here means that the client signed something other than what it sent."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest

from batchaio import BatchClient, BatchStatusError, Limits, SharedKeyCredential, models
from batchaio.emulator import Emulator

from .conftest import POOL_ID, echo_task, eventually, fast_retry

pytestmark = pytest.mark.integration

OPERATIONS = Path(__file__).parents[2] / "tools" / "spec" / "batch-2024-07-01.20.0.operations.json"
THUMBPRINT = "0123456789abcdef0123456789abcdef01234567"
# Characters that must survive path encoding and signing: a separator, a space, '=', parentheses, '%'.
ODD_FILE = "wd/sub dir/a=b (1)%.txt"


@attrs.define
class Sent:
    operation: str
    method: str
    url: httpx.URL
    headers: httpx.Headers
    status: int


class Recording(httpx.AsyncBaseTransport):
    """Passes requests through to ``inner`` and records, per operation, what went out and the status."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.operation = ""
        self.sent: list[Sent] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        self.sent.append(
            Sent(self.operation, request.method, request.url, request.headers, response.status_code)
        )
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


class RecordingSeam:
    """The same for a batchaio transport (the pipeline's seam), recording each ``HttpRequest``."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.operation = ""
        self.sent: list[Sent] = []

    @property
    def is_closed(self) -> bool:
        return bool(self.inner.is_closed)

    async def send(self, request: Any, *, stream: bool, deadline: float | None) -> Any:
        response = await self.inner.send(request, stream=stream, deadline=deadline)
        url, headers = httpx.URL(request.url), httpx.Headers(request.headers)
        self.sent.append(Sent(self.operation, request.method, url, headers, response.status_code))
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def make_transport(name: str) -> Any:
    if name == "aiohttp":
        pytest.importorskip("aiohttp")
        from batchaio.transports import AiohttpTransport

        return RecordingSeam(AiohttpTransport())
    # What BatchClient builds when transport= is left unset.
    return httpx.AsyncHTTPTransport(limits=Limits().as_httpx(), verify=True)


@pytest.fixture(params=["httpx", "aiohttp"])
async def recorded(
    request: pytest.FixtureRequest, emulator: Emulator
) -> AsyncIterator[tuple[BatchClient, Recording]]:
    transport = make_transport(request.param)
    recording = transport if isinstance(transport, RecordingSeam) else Recording(transport)
    assert emulator.endpoint is not None
    async with BatchClient(
        emulator.endpoint,
        SharedKeyCredential(emulator.account, emulator.key),
        allow_insecure_http=True,
        retry=fast_retry(),
        transport=recording,
    ) as client:
        yield client, recording


async def first(items: AsyncIterator[Any], limit: int = 3) -> list[Any]:
    """Up to ``limit`` items of a pager (small ``max_results`` make it follow ``odata.nextLink``)."""
    found = []
    async for item in items:
        found.append(item)
        if len(found) == limit:
            break
    return found


def pool_spec(pool_id: str) -> models.BatchPoolCreateContent:
    return models.BatchPoolCreateContent(
        id=pool_id,
        vm_size="standard_d2s_v3",
        virtual_machine_configuration=models.VirtualMachineConfiguration(
            image_reference=models.ImageReference(
                publisher="canonical", offer="0001-com-ubuntu-server-jammy", sku="22_04-lts", version="latest"
            ),
            node_agent_sku_id="batch.node.ubuntu 22.04",
        ),
        target_dedicated_nodes=2,
        metadata=[models.MetadataItem(name="owner", value="signing test")],
    )


def calls(c: BatchClient, tag: str) -> dict[str, Callable[[], Awaitable[object]]]:
    """One call per operation, keyed by the operation's ``client`` name, in an order where each finds what
    it needs (later failures with a typed status error are fine: only the signature is under test)."""
    pool, job, task, schedule = f"sign-pool-{tag}", f"sign-job-{tag}", "sign-task", f"sign-sched-{tag}"
    node: list[str] = []
    since = datetime.now(timezone.utc) - timedelta(hours=1)
    certificate = models.BatchCertificate(
        thumbprint=THUMBPRINT,
        thumbprint_algorithm="sha1",
        data=base64.b64encode(b"not really a pfx").decode(),
        certificate_format=models.BatchCertificateFormat.CER,
    )
    schedule_spec = models.BatchJobSpecification(pool_info=models.BatchPoolInfo(pool_id=POOL_ID))

    async def node_id() -> str:
        if not node:

            async def ready() -> bool:
                listed = await first(c.nodes.list(pool, select=["id", "state"]), limit=2)
                node.extend(item.id for item in listed if item.state == models.BatchNodeState.IDLE)
                return bool(node)

            await eventually(ready)
        return node[0]

    async def task_done() -> bool:
        state = (await c.tasks.get(job, task, select=["state"])).state
        return state is models.BatchTaskState.COMPLETED

    async def job_etag() -> str:
        etag = (await c.jobs.get(job, select=["id", "eTag"])).e_tag
        assert etag is not None
        return etag

    async def download_task_file() -> None:
        await eventually(task_done)
        async with c.tasks.download_file(job, task, "stdout.txt", offset=1, length=4) as stream:
            await stream.read()

    async def download_node_file() -> None:
        async with c.nodes.download_file(pool, await node_id(), ODD_FILE, offset=2) as stream:
            await stream.read()

    return {
        # Pools (a pool of this test's own, so that node operations disturb no other test).
        "pools.create": lambda: c.pools.create(pool_spec(pool)),
        "pools.list": lambda: first(
            c.pools.list(max_results=1, filter="startswith(id, 'sign-') and state eq 'active'", select=["id"])
        ),
        "pools.get": lambda: c.pools.get(pool, select=["id", "state", "eTag"], expand=["stats"]),
        "pools.exists": lambda: c.pools.exists(pool, if_modified_since=since),
        "pools.update": lambda: c.pools.update(
            pool, models.BatchPoolUpdateContent(metadata=[models.MetadataItem(name="stage", value="a b=c")])
        ),
        "pools.replace_properties": lambda: c.pools.replace_properties(
            pool,
            models.BatchPoolReplaceContent(
                certificate_references=[], application_package_references=[], metadata=[]
            ),
        ),
        "pools.list_node_counts": lambda: first(c.pools.list_node_counts(filter="poolId eq 'x'")),
        "pools.list_usage_metrics": lambda: first(
            c.pools.list_usage_metrics(start_time=since, end_time=since + timedelta(minutes=30))
        ),
        "pools.list_supported_images": lambda: first(
            c.pools.list_supported_images(max_results=2, filter="osType eq 'linux'")
        ),
        # Nodes, once the pool has some.
        "nodes.list": lambda: first(c.nodes.list(pool, max_results=1, filter="state eq 'idle'")),
        "nodes.get": lambda: _node(c.nodes.get, pool, node_id, select=["id", "state"]),
        "nodes.list_extensions": lambda: _node(
            lambda p, n: first(c.nodes.list_extensions(p, n, select=["vmExtension"])), pool, node_id
        ),
        "nodes.get_extension": lambda: _node(c.nodes.get_extension, pool, node_id, "ext (1)"),
        "nodes.list_files": lambda: _node(
            lambda p, n: first(c.nodes.list_files(p, n, recursive=True, filter="startswith(name, 'wd/')")),
            pool,
            node_id,
        ),
        "nodes.get_file_properties": lambda: _node(c.nodes.get_file_properties, pool, node_id, ODD_FILE),
        "nodes.download_file": download_node_file,
        "nodes.delete_file": lambda: _node(c.nodes.delete_file, pool, node_id, ODD_FILE, recursive=False),
        "nodes.create_user": lambda: _node(
            c.nodes.create_user,
            pool,
            node_id,
            models.BatchNodeUserCreateContent(name="sign user", password="pa ss=word", is_admin=False),
        ),
        "nodes.replace_user": lambda: _node(
            c.nodes.replace_user,
            pool,
            node_id,
            "sign user",
            models.BatchNodeUserUpdateContent(password="other", expiry_time=since + timedelta(days=2)),
        ),
        "nodes.delete_user": lambda: _node(c.nodes.delete_user, pool, node_id, "sign user"),
        "nodes.get_remote_login_settings": lambda: _node(c.nodes.get_remote_login_settings, pool, node_id),
        "nodes.upload_logs": lambda: _node(
            c.nodes.upload_logs,
            pool,
            node_id,
            models.UploadBatchServiceLogsContent(
                container_url="https://store.blob.core.windows.net/logs?sv=1&sig=x%2By", start_time=since
            ),
        ),
        "nodes.disable_scheduling": lambda: _node(c.nodes.disable_scheduling, pool, node_id),
        "nodes.enable_scheduling": lambda: _node(c.nodes.enable_scheduling, pool, node_id),
        "nodes.reboot": lambda: _node(c.nodes.reboot, pool, node_id),
        "nodes.reimage": lambda: _node(
            c.nodes.reimage,
            pool,
            node_id,
            models.BatchNodeReimageContent(node_reimage_option=models.BatchNodeReimageOption.REQUEUE),
        ),
        "nodes.deallocate": lambda: _node(c.nodes.deallocate, pool, node_id),
        "nodes.start": lambda: _node(c.nodes.start, pool, node_id),
        # Autoscale and resizing of that pool.
        "pools.evaluate_auto_scale": lambda: c.pools.evaluate_auto_scale(
            pool, models.BatchPoolEvaluateAutoScaleContent(auto_scale_formula="$TargetDedicatedNodes = 1;")
        ),
        "pools.enable_auto_scale": lambda: c.pools.enable_auto_scale(
            pool,
            models.BatchPoolEnableAutoScaleContent(
                auto_scale_formula="$TargetDedicatedNodes = 1;",
                auto_scale_evaluation_interval=timedelta(minutes=5),
            ),
        ),
        "pools.disable_auto_scale": lambda: c.pools.disable_auto_scale(pool),
        "pools.resize": lambda: c.pools.resize(
            pool,
            models.BatchPoolResizeContent(target_dedicated_nodes=3),
            if_unmodified_since=datetime.now(timezone.utc) + timedelta(minutes=1),
        ),
        "pools.stop_resize": lambda: c.pools.stop_resize(pool),
        "pools.remove_nodes": lambda: _node(
            lambda p, n: c.pools.remove_nodes(p, models.BatchNodeRemoveContent(node_list=[n])), pool, node_id
        ),
        # Jobs and tasks on the session's pool.
        "jobs.create": lambda: c.jobs.create(
            models.BatchJobCreateContent(id=job, pool_info=models.BatchPoolInfo(pool_id=POOL_ID))
        ),
        "jobs.list": lambda: first(
            c.jobs.list(max_results=1, filter="state eq 'active'", select=["id", "state"], expand=["stats"])
        ),
        "jobs.get": lambda: c.jobs.get(job, select=["id", "eTag"], if_none_match='"0xNOPE"'),
        "jobs.update": lambda: _with_etag(
            job_etag, lambda etag: c.jobs.update(job, models.BatchJobUpdateContent(priority=5), if_match=etag)
        ),
        "jobs.replace": lambda: _with_etag(
            job_etag,
            lambda etag: c.jobs.replace(
                job,
                models.BatchJob(priority=6, pool_info=models.BatchPoolInfo(pool_id=POOL_ID)),
                if_match=etag,
            ),
        ),
        "tasks.create": lambda: c.tasks.create(job, echo_task(task, "signed")),
        "tasks.add_collection": lambda: c.tasks.add_collection(
            job, models.BatchTaskGroup(value=[echo_task(f"bulk-{n}") for n in range(3)])
        ),
        "tasks.list": lambda: first(
            c.tasks.list(job, max_results=1, filter="state ne 'active'", select=["id", "state"])
        ),
        "tasks.get": lambda: c.tasks.get(job, task, select=["id", "state"], expand=["stats"]),
        "tasks.replace": lambda: c.tasks.replace(
            job,
            task,
            models.BatchTask(constraints=models.BatchTaskConstraints(max_task_retry_count=1)),
        ),
        "tasks.list_subtasks": lambda: first(c.tasks.list_subtasks(job, task, select=["id", "state"])),
        "tasks.download_file": download_task_file,
        "tasks.list_files": lambda: first(c.tasks.list_files(job, task, recursive=True, max_results=1)),
        "tasks.get_file_properties": lambda: c.tasks.get_file_properties(
            job, task, "stdout.txt", if_modified_since=since
        ),
        "tasks.delete_file": lambda: c.tasks.delete_file(job, task, ODD_FILE),
        "tasks.reactivate": lambda: c.tasks.reactivate(job, task),
        "tasks.terminate": lambda: c.tasks.terminate(job, task),
        "tasks.delete": lambda: c.tasks.delete(job, "bulk-0"),
        "jobs.get_task_counts": lambda: c.jobs.get_task_counts(job),
        "jobs.list_preparation_and_release_task_status": lambda: first(
            c.jobs.list_preparation_and_release_task_status(
                job, filter="nodeId eq 'tvm-1'", select=["poolId", "nodeId"]
            )
        ),
        "jobs.disable": lambda: c.jobs.disable(
            job, models.BatchJobDisableContent(disable_tasks=models.DisableBatchJobOption.REQUEUE)
        ),
        "jobs.enable": lambda: c.jobs.enable(job),
        "jobs.terminate": lambda: c.jobs.terminate(job),
        "jobs.delete": lambda: c.jobs.delete(job, if_unmodified_since=datetime.now(timezone.utc)),
        # Job schedules.
        "job_schedules.create": lambda: c.job_schedules.create(
            models.BatchJobScheduleCreateContent(
                id=schedule,
                schedule=models.BatchJobScheduleConfiguration(recurrence_interval=timedelta(hours=1)),
                job_specification=schedule_spec,
            )
        ),
        "job_schedules.list": lambda: first(
            c.job_schedules.list(max_results=1, filter="state eq 'active'", select=["id"], expand=["stats"])
        ),
        "job_schedules.get": lambda: c.job_schedules.get(schedule, select=["id", "state"]),
        "job_schedules.exists": lambda: c.job_schedules.exists(schedule),
        "job_schedules.update": lambda: c.job_schedules.update(
            schedule,
            models.BatchJobScheduleUpdateContent(metadata=[models.MetadataItem(name="k", value="v")]),
        ),
        "job_schedules.replace": lambda: c.job_schedules.replace(
            schedule,
            models.BatchJobSchedule(
                schedule=models.BatchJobScheduleConfiguration(recurrence_interval=timedelta(hours=2)),
                job_specification=schedule_spec,
            ),
        ),
        "jobs.list_from_schedule": lambda: first(
            c.jobs.list_from_schedule(schedule, filter="state eq 'active'", select=["id"])
        ),
        "job_schedules.disable": lambda: c.job_schedules.disable(schedule),
        "job_schedules.enable": lambda: c.job_schedules.enable(schedule),
        "job_schedules.terminate": lambda: c.job_schedules.terminate(schedule, force=True),
        "job_schedules.delete": lambda: c.job_schedules.delete(schedule),
        # Certificates: parentheses and '=' in the path.
        "certificates.create": lambda: c.certificates.create(certificate),
        "certificates.list": lambda: first(
            c.certificates.list(filter="state eq 'active'", select=["thumbprint", "state"])
        ),
        "certificates.get": lambda: c.certificates.get("sha1", THUMBPRINT, select=["thumbprint", "state"]),
        "certificates.delete": lambda: c.certificates.delete("sha1", THUMBPRINT),
        "certificates.cancel_deletion": lambda: c.certificates.cancel_deletion("sha1", THUMBPRINT),
        # Applications (none exist in the emulator: NotFound is expected for get).
        "applications.list": lambda: first(c.applications.list(max_results=1)),
        "applications.get": lambda: c.applications.get("some app=1"),
        "pools.delete": lambda: c.pools.delete(pool),
    }


async def _node(
    call: Callable[..., Awaitable[object]],
    pool: str,
    node: Callable[[], Awaitable[str]],
    *args: Any,
    **kwargs: Any,
) -> object:
    return await call(pool, await node(), *args, **kwargs)


async def _with_etag(etag: Callable[[], Awaitable[str]], call: Callable[[str], Awaitable[object]]) -> object:
    return await call(await etag())


async def test_every_operation_is_signed_as_sent(
    recorded: tuple[BatchClient, Recording], unique: Callable[[str], str]
) -> None:
    client, recording = recorded
    operations = json.loads(OPERATIONS.read_text())["operations"]
    assert len(operations) == 77
    table = calls(client, unique("t"))
    assert sorted(table) == sorted(operation["client"] for operation in operations)

    statuses: dict[str, str] = {}
    for name in table:
        recording.operation = name
        try:
            await table[name]()
        except BatchStatusError as exc:
            statuses[name] = f"{exc.status_code} {exc.code}"

    rejected = [f"{sent.operation}: {sent.method} {sent.url.raw_path.decode()}" for sent in recording.sent
                if sent.status == 403]  # fmt: skip
    assert rejected == [], rejected
    assert not [name for name, status in statuses.items() if status.startswith("403")]
    # Each operation's own request reached the emulator (not only the calls that set it up).
    for operation in operations:
        pattern = route(operation["path"])
        assert any(
            sent.operation == operation["client"]
            and sent.method == operation["method"]
            and pattern.fullmatch(sent.url.raw_path.decode().partition("?")[0])
            for sent in recording.sent
        ), operation["client"]
    # The awkward parts of the wire format were all exercised (and so signed and verified).
    raw = [sent.url.raw_path.decode() for sent in recording.sent]
    assert any("/files/wd%2Fsub%20dir%2Fa%3Db%20%281%29%25.txt" in url for url in raw)
    assert any("/certificates(thumbprintAlgorithm=sha1,thumbprint=" in url for url in raw)
    assert any("$filter=state%20eq%20%27active%27" in url for url in raw)
    assert any("$select=id%2Cstate" in url for url in raw)
    assert any("starttime=" in url and "endtime=" in url for url in raw)
    assert any("$skiptoken=" in url for url in raw)  # an absolute odata.nextLink, followed
    assert any("ocp-range" in sent.headers for sent in recording.sent)
    assert any("if-match" in sent.headers for sent in recording.sent)
    assert any("if-unmodified-since" in sent.headers for sent in recording.sent)
    bodiless = {(sent.method, sent.headers.get("content-length")) for sent in recording.sent
                if sent.method in ("POST", "DELETE") and "content-type" not in sent.headers}  # fmt: skip
    assert bodiless == {("POST", "0"), ("DELETE", "0")}


def route(template: str) -> re.Pattern[str]:
    """The spec's path template as a pattern over raw (percent-encoded) paths."""
    parts = re.split(r"\{[^}]+\}", template)
    return re.compile("[^/?]+".join(re.escape(part) for part in parts))
