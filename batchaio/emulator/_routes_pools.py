"""Handlers for pools and their compute nodes (actions, extensions, users, login settings)."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any
from urllib.parse import quote

from starlette.responses import Response

from batchaio.emulator import _constants as C
from batchaio.emulator._call import (
    Call,
    Handler,
    Routes,
    _check_conditions,
    _created,
    _empty,
    _entity_headers,
    _json,
    _listing,
    _page,
    _single,
)
from batchaio.emulator._checks import _replace, _require, _require_id
from batchaio.emulator._nodes import BATCH_NODE_EXTENSION, remote_login
from batchaio.emulator._render import node_url, pool_url, render_node, render_pool
from batchaio.emulator._scheduler import required_slots
from batchaio.emulator._state import NODE_STARTUP_STATES, Pool, task_state
from batchaio.emulator._wire import ServiceError, format_time


class PoolRoutes(Routes):
    """The pool and compute node operations."""

    async def list_pools(self, call: Call) -> Response:
        pools = self.store.pools
        return _page(
            call,
            "pools",
            lambda start: pools.scan(start, call.now),
            lambda pool: render_pool(pool, call.base, call.now),
        )

    async def create_pool(self, call: Call) -> Response:
        doc = await call.body()
        pool_id = _require_id(doc)
        _require(doc, "vmSize")
        if doc.get("enableAutoScale") and not doc.get("autoScaleFormula"):
            raise ServiceError("MissingRequiredProperty", values=[("PropertyName", "autoScaleFormula")])
        pool = self.store.create_pool(doc, call.now)
        return _created(pool, pool_url(call.base, pool_id))

    async def get_pool(self, call: Call) -> Response:
        pool = self.store.pool(call.params["poolId"], call.now)
        not_modified = _check_conditions(call, pool.etag, pool.last_modified, read=True)
        if not_modified is not None:
            return not_modified
        return _single(call, "pools/@Element", render_pool(pool, call.base, call.now), _entity_headers(pool))

    async def pool_exists(self, call: Call) -> Response:
        pool = self.store.pools.find(call.params["poolId"], call.now)
        if pool is None:
            return _empty(404)
        not_modified = _check_conditions(call, pool.etag, pool.last_modified, read=True)
        return not_modified or _empty(200, _entity_headers(pool))

    def _pool_for_write(self, call: Call) -> Pool:
        pool = self.store.pool(call.params["poolId"], call.now)
        _check_conditions(call, pool.etag, pool.last_modified, read=False)
        if pool.deleting_until is not None:
            raise ServiceError("PoolBeingDeleted")
        return pool

    async def update_pool(self, call: Call) -> Response:
        pool = self._pool_for_write(call)
        doc = await call.body()
        for key, value in doc.items():
            if key not in ("id", "targetDedicatedNodes", "targetLowPriorityNodes", "enableAutoScale"):
                pool.doc[key] = value
        pool.touch(call.now)
        return _empty(200, _entity_headers(pool, pool_url(call.base, pool.id)))

    async def replace_pool_properties(self, call: Call) -> Response:
        pool = self._pool_for_write(call)
        doc = await call.body()
        for name in ("certificateReferences", "applicationPackageReferences", "metadata"):
            if name not in doc:
                raise ServiceError("MissingRequiredProperty", values=[("PropertyName", name)])
        _replace(pool.doc, doc, "BatchPoolReplaceContent")
        pool.touch(call.now)
        return _empty(204, _entity_headers(pool, pool_url(call.base, pool.id)))

    async def delete_pool(self, call: Call) -> Response:
        pool = self.store.pool(call.params["poolId"], call.now)
        _check_conditions(call, pool.etag, pool.last_modified, read=False)
        self.store.delete_pool(pool, call.now)
        return _empty(202, _entity_headers(pool))

    async def resize_pool(self, call: Call) -> Response:
        pool = self._pool_for_write(call)
        doc = await call.body()
        if pool.doc.get("enableAutoScale"):
            raise ServiceError("AutoScaleEnabled")
        dedicated = int(doc.get("targetDedicatedNodes", pool.doc.get("targetDedicatedNodes") or 0))
        low = int(doc.get("targetLowPriorityNodes", pool.doc.get("targetLowPriorityNodes") or 0))
        if "resizeTimeout" in doc:
            pool.doc["resizeTimeout"] = doc["resizeTimeout"]
        option = str(doc.get("nodeDeallocationOption") or "requeue")
        self.store.resize_pool(pool, dedicated, low, call.now, option)
        return _empty(202, _entity_headers(pool, pool_url(call.base, pool.id)))

    async def stop_resize(self, call: Call) -> Response:
        pool = self._pool_for_write(call)
        pool.touch(call.now)
        return _empty(202, _entity_headers(pool, pool_url(call.base, pool.id)))

    async def remove_nodes(self, call: Call) -> Response:
        pool = self._pool_for_write(call)
        doc = await call.body()
        node_ids = _require(doc, "nodeList")
        if not isinstance(node_ids, list) or len(node_ids) > 100:
            raise ServiceError("InvalidPropertyValue", values=[("PropertyName", "nodeList")])
        nodes = [pool.nodes.find(str(node_id), call.now) for node_id in node_ids]
        if any(node is None for node in nodes):
            raise ServiceError("NodeNotFound")
        option = str(doc.get("nodeDeallocationOption") or "requeue").lower()
        self.store.advance_pool(pool.id.lower(), call.now)
        self.store.capacity_changed(pool.id)
        for node in nodes:
            assert node is not None
            self.store.deallocate_node(node, option, call.now)
            pool.nodes.remove(node)
            key = "targetDedicatedNodes" if node.is_dedicated else "targetLowPriorityNodes"
            pool.doc[key] = max(0, int(pool.doc.get(key) or 0) - 1)
        pool.touch(call.now)
        return _empty(202, _entity_headers(pool, pool_url(call.base, pool.id)))

    async def enable_autoscale(self, call: Call) -> Response:
        pool = self._pool_for_write(call)
        doc = await call.body(optional=True)
        formula = doc.get("autoScaleFormula") or pool.doc.get("autoScaleFormula")
        if not formula:
            raise ServiceError("MissingRequiredProperty", values=[("PropertyName", "autoScaleFormula")])
        pool.doc["enableAutoScale"] = True
        pool.doc["autoScaleFormula"] = formula
        pool.doc["autoScaleEvaluationInterval"] = doc.get(
            "autoScaleEvaluationInterval", pool.doc.get("autoScaleEvaluationInterval", "PT15M")
        )
        self.store.run_autoscale(pool, formula, call.now, apply=True)
        pool.touch(call.now)
        return _empty(200, _entity_headers(pool, pool_url(call.base, pool.id)))

    async def disable_autoscale(self, call: Call) -> Response:
        pool = self._pool_for_write(call)
        pool.doc["enableAutoScale"] = False
        pool.doc.pop("autoScaleFormula", None)
        pool.doc.pop("autoScaleEvaluationInterval", None)
        pool.touch(call.now)
        return _empty(200, _entity_headers(pool, pool_url(call.base, pool.id)))

    async def evaluate_autoscale(self, call: Call) -> Response:
        pool = self.store.pool(call.params["poolId"], call.now)
        doc = await call.body()
        formula = str(_require(doc, "autoScaleFormula"))
        if not pool.doc.get("enableAutoScale"):
            raise ServiceError("AutoScaleDisabled")
        run = self.store.run_autoscale(pool, formula, call.now, apply=False)
        run["timestamp"] = format_time(run["timestamp"])
        return _json(
            {
                "odata.metadata": f"{call.base}/$metadata#Microsoft.Azure.Batch.Protocol.Entities."
                "AutoScaleRun",
                **run,
            },
            headers={"DataServiceId": f"{pool_url(call.base, pool.id)}/evaluateautoscale"},
        )

    def _running_by_node(self, pool: Pool, now: float) -> dict[str, tuple[int, int]]:
        """(tasks, slots) running on each node of ``pool`` at ``now``."""
        if self.store.simulate:
            self.store.advance_pool(pool.id.lower(), now)
            scheduler = self.store.schedulers.get(pool.id.lower())
            return scheduler.running_by_node(now) if scheduler is not None else {}
        counts: dict[str, tuple[int, int]] = {}
        for _, job in self.store.jobs.scan(0, now):
            if job.pool_id is None or job.pool_id.lower() != pool.id.lower():
                continue
            for _, task in job.tasks.scan(0, now):
                if task.node_id is not None and task_state(task, now) == "running":
                    tasks, slots = counts.get(task.node_id, (0, 0))
                    counts[task.node_id] = (tasks + 1, slots + required_slots(task))
        return counts

    async def list_nodes(self, call: Call) -> Response:
        pool = self.store.pool(call.params["poolId"], call.now)
        running = self._running_by_node(pool, call.now)
        return _page(
            call,
            "nodes",
            lambda start: pool.nodes.scan(start, call.now),
            lambda node: render_node(pool, node, call.base, call.now, running.get(node.id, (0, 0))),
        )

    async def get_node(self, call: Call) -> Response:
        pool, node = self.store.node(call.params["poolId"], call.params["nodeId"], call.now)
        running = self._running_by_node(pool, call.now)
        counts = running.get(node.id, (0, 0))
        return _single(call, "nodes/@Element", render_node(pool, node, call.base, call.now, counts))

    def node_action(self, action: str) -> Handler:
        transient = {
            "reboot": "rebooting",
            "reimage": "reimaging",
            "start": "starting",
            "deallocate": "deallocating",
        }

        async def handler(call: Call) -> Response:
            pool, node = self.store.node(call.params["poolId"], call.params["nodeId"], call.now)
            await call.body(optional=True)
            state = node.current_state(call.now)
            if action == "start" and state != "deallocated":
                raise ServiceError("NodeNotReady")
            if action != "start" and state in (
                "deallocated",
                "deallocating",
                "rebooting",
                "reimaging",
                "starting",
            ):
                raise ServiceError("NodeNotReady")
            node.transient_state = transient[action]
            node.state_until = call.now + self.store.delete_delay
            node.state = "deallocated" if action == "deallocate" else "idle"
            node.state_time = call.now
            self.store.capacity_changed(pool.id)
            return _empty(202, {"DataServiceId": f"{node_url(call.base, pool.id, node.id)}/{action}"})

        return handler

    def node_scheduling(self, enable: bool) -> Handler:
        async def handler(call: Call) -> Response:
            pool, node = self.store.node(call.params["poolId"], call.params["nodeId"], call.now)
            await call.body(optional=True)
            node.scheduling_state = "enabled" if enable else "disabled"
            self.store.capacity_changed(pool.id)
            action = "enablescheduling" if enable else "disablescheduling"
            return _empty(200, {"DataServiceId": f"{node_url(call.base, pool.id, node.id)}/{action}"})

        return handler

    def _extensions(self, call: Call) -> list[dict[str, Any]]:
        """The service's own extension, then the pool's; ``Creating`` until the node has started."""
        _, node = self.store.node(call.params["poolId"], call.params["nodeId"], call.now)
        ready = node.current_state(call.now) not in NODE_STARTUP_STATES
        installed = format_time(node.ready_at if ready else node.created)
        return [
            {
                "provisioningState": "Succeeded" if ready else "Creating",
                "vmExtension": extension,
                "instanceView": {
                    "name": extension.get("name"),
                    "statuses": [
                        {
                            "code": "ProvisioningState/succeeded",
                            "displayStatus": "Provisioning succeeded",
                            "level": "Info",
                            "time": installed,
                        }
                        if ready
                        else {
                            "code": "ProvisioningState/creating",
                            "displayStatus": "Provisioning in progress",
                            "level": "Info",
                            "time": installed,
                        }
                    ],
                },
            }
            for extension in [dict(BATCH_NODE_EXTENSION), *node.extensions]
        ]

    async def list_extensions(self, call: Call) -> Response:
        return _page(call, "extensions", _listing(self._extensions(call)), dict, filterable=False)

    async def get_extension(self, call: Call) -> Response:
        for extension in self._extensions(call):
            if str(extension["vmExtension"].get("name", "")).lower() == call.params["extensionName"].lower():
                return _single(call, "extensions/@Element", extension)
        raise ServiceError("ExtensionNotFound")

    async def remote_login_settings(self, call: Call) -> Response:
        pool, node = self.store.node(call.params["poolId"], call.params["nodeId"], call.now)
        address, port = remote_login(pool.doc, pool.id, node.index, node.ip_address)
        return _json(
            {
                "odata.metadata": f"{call.base}/$metadata#Microsoft.Azure.Batch.Protocol.Entities."
                "RemoteLoginSettings",
                "remoteLoginIPAddress": address,
                "remoteLoginPort": port,
            }
        )

    async def upload_logs(self, call: Call) -> Response:
        pool, node = self.store.node(call.params["poolId"], call.params["nodeId"], call.now)
        doc = await call.body()
        _require(doc, "containerUrl")
        _require(doc, "startTime")
        # The service names the directory <account>-<account hash>/<pool>/<node>/<request id>.
        account_hash = hashlib.sha256(self.account.encode()).hexdigest()[:16].upper()
        request_id = call.request.scope.get("batchaio.request_id") or str(uuid.uuid4())
        return _json(
            {
                "odata.metadata": f"{call.base}/$metadata#Microsoft.Azure.Batch.Protocol.Entities."
                "UploadBatchServiceLogsResult",
                "virtualDirectoryName": f"{self.account}-{account_hash}/{pool.id}/{node.id}/{request_id}",
                "numberOfFilesUploaded": C.UPLOADED_SERVICE_LOG_FILES,
            }
        )

    async def create_node_user(self, call: Call) -> Response:
        pool, node = self.store.node(call.params["poolId"], call.params["nodeId"], call.now)
        doc = await call.body()
        name = str(_require(doc, "name"))
        if name.lower() in node.users:
            raise ServiceError("NodeUserExists")
        node.users[name.lower()] = {"name": name, **{k: v for k, v in doc.items() if k != "name"}}
        url = f"{node_url(call.base, pool.id, node.id)}/users/{quote(name, safe='')}"
        return _empty(201, {"Location": url, "DataServiceId": url})

    async def replace_node_user(self, call: Call) -> Response:
        pool, node = self.store.node(call.params["poolId"], call.params["nodeId"], call.now)
        name = call.params["userName"]
        if name.lower() not in node.users:
            raise ServiceError("NodeUserNotFound")
        doc = await call.body()
        node.users[name.lower()] = {"name": name, **doc}
        return _empty(
            200, {"DataServiceId": f"{node_url(call.base, pool.id, node.id)}/users/{quote(name, safe='')}"}
        )

    async def delete_node_user(self, call: Call) -> Response:
        _, node = self.store.node(call.params["poolId"], call.params["nodeId"], call.now)
        if node.users.pop(call.params["userName"].lower(), None) is None:
            raise ServiceError("NodeUserNotFound")
        return _empty(200)
