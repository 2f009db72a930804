"""What a compute node looks like from outside: its OS family, inbound endpoints, remote login, the extension
the service installs, and where a task's directory lies on it.

Pure functions of the pool's document and the node's index in the pool (the lowest index free when the node
was allocated), so that a node keeps its ports and its endpoint names while it lives. The formats follow the
service's own answers: one endpoint per inbound NAT pool and node, named ``<pool name>.<index>`` with the
frontend port ``frontendPortRangeStart + index``, plus the remote access rule the service adds itself
(``SSHRule.<index>`` on port 22, or ``RDPRule.<index>`` on 3389 for Windows) on frontend ports from 50000.
"""

from __future__ import annotations

import functools
import hashlib
import uuid
from typing import Any

from batchaio.emulator import _constants as C

__all__ = [
    "BATCH_NODE_EXTENSION",
    "inbound_endpoints",
    "is_windows",
    "public_address",
    "remote_login",
    "task_root_directory",
]

# The extension the service itself installs on every node of a virtual machine pool, listed first.
BATCH_NODE_EXTENSION: dict[str, Any] = {
    "name": "batchNodeExtension",
    "publisher": "Microsoft.Azure.Extensions",
    "type": "CustomScript",
    "typeHandlerVersion": "2.0",
    "autoUpgradeMinorVersion": True,
}


def is_windows(pool_doc: dict[str, Any]) -> bool:
    """Whether the pool's nodes run Windows (its node agent SKU, else its image's publisher or offer)."""
    configuration = pool_doc.get("virtualMachineConfiguration") or {}
    sku = str(configuration.get("nodeAgentSKUId") or "").lower()
    if sku:
        return sku.startswith("batch.node.windows")
    image = configuration.get("imageReference") or {}
    text = f"{image.get('publisher') or ''} {image.get('offer') or ''}".lower()
    return "windows" in text


@functools.lru_cache(maxsize=1024)
def public_address(pool_id: str) -> tuple[str, str]:
    """The public IP address and FQDN of a pool's load balancer (stable for a pool id).

    The address is taken from 203.0.113.0/24, the range reserved for documentation, so that it can never be
    mistaken for a real host."""
    digest = hashlib.sha256(pool_id.lower().encode()).digest()
    deployment = uuid.UUID(bytes=digest[:16])
    ip = f"203.0.113.{digest[16] % 254 + 1}"
    return ip, f"dns{deployment}-azurebatch-cloudservice.{C.EMULATED_REGION}.cloudapp.azure.com"


def _nat_pools(pool_doc: dict[str, Any]) -> list[dict[str, Any]]:
    network = pool_doc.get("networkConfiguration") or {}
    endpoints = network.get("endpointConfiguration") or {}
    pools = endpoints.get("inboundNATPools") or []
    return [nat for nat in pools if isinstance(nat, dict)]


def _has_public_address(pool_doc: dict[str, Any]) -> bool:
    network = pool_doc.get("networkConfiguration") or {}
    configuration = network.get("publicIPAddressConfiguration") or {}
    return str(configuration.get("provision") or "").lower() != "nopublicipaddresses"


def inbound_endpoints(pool_doc: dict[str, Any], pool_id: str, index: int) -> list[dict[str, Any]]:
    """The ``inboundEndpoints`` of node ``index``: the pool's NAT pools, then the remote access rule."""
    if not _has_public_address(pool_doc):
        return []
    ip, fqdn = public_address(pool_id)
    rules = [
        (
            str(nat.get("name")),
            str(nat.get("protocol") or "tcp").lower(),
            nat.get("frontendPortRangeStart"),
            nat.get("backendPort"),
        )
        for nat in _nat_pools(pool_doc)
    ]
    remote_name, remote_port = ("RDPRule", 3389) if is_windows(pool_doc) else ("SSHRule", 22)
    rules.append((remote_name, "tcp", C.REMOTE_ACCESS_FRONTEND_PORT_START, remote_port))
    endpoints: list[dict[str, Any]] = []
    for name, protocol, start, backend in rules:
        frontend = start + index if isinstance(start, int) else None
        endpoint: dict[str, Any] = {
            "name": f"{name}.{index}",
            "protocol": protocol,
            "publicIPAddress": ip,
            "publicFQDN": fqdn,
            "frontendPort": frontend,
            "backendPort": backend,
        }
        endpoints.append({key: value for key, value in endpoint.items() if value is not None})
    return endpoints


def remote_login(pool_doc: dict[str, Any], pool_id: str, index: int, private_ip: str) -> tuple[str, int]:
    """The address and port to log in to node ``index``: its remote access rule's public side.

    Without a public address (``publicIPAddressConfiguration.provision = NoPublicIPAddresses``) the node is
    reached on its private address and the backend port."""
    for endpoint in inbound_endpoints(pool_doc, pool_id, index):
        if endpoint["name"].startswith(("SSHRule.", "RDPRule.")):
            return endpoint["publicIPAddress"], int(endpoint["frontendPort"])
    return private_ip, 3389 if is_windows(pool_doc) else 22


def task_root_directory(job_id: str, task_id: str, windows: bool) -> str:
    """A task's directory relative to the node's root, with the node's path separator."""
    parts = ("workitems", job_id, "job-1", task_id)
    return "\\".join(parts) if windows else "/".join(parts)
