"""Handlers for applications, certificates, node counts, usage metrics and supported images."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from batchaio.emulator import _constants as C
from batchaio.emulator._call import Call, Routes, _created, _empty, _entity_headers, _listing, _page, _single
from batchaio.emulator._checks import _require
from batchaio.emulator._render import NODE_COUNT_FIELDS, certificate_url, render_certificate
from batchaio.emulator._state import Certificate, Pool
from batchaio.emulator._wire import ServiceError, format_time


class MiscRoutes(Routes):
    """The account-wide operations."""

    async def list_applications(self, call: Call) -> Response:
        return _page(call, "applications", _listing(self.store.applications), dict, filterable=False)

    async def get_application(self, call: Call) -> Response:
        wanted = call.params["applicationId"].lower()
        for application in self.store.applications:
            if str(application["id"]).lower() == wanted:
                return _single(call, "applications/@Element", dict(application))
        raise ServiceError("ApplicationNotFound")

    async def list_certificates(self, call: Call) -> Response:
        certificates = self.store.certificates
        return _page(
            call,
            "certificates",
            lambda start: certificates.scan(start, call.now),
            lambda item: render_certificate(item, call.base),
            limit=C.MAX_RESULTS_LIMIT_CERTIFICATES,
        )

    async def create_certificate(self, call: Call) -> Response:
        doc = await call.body()
        thumbprint = str(_require(doc, "thumbprint")).lower()
        algorithm = str(_require(doc, "thumbprintAlgorithm")).lower()
        _require(doc, "data")
        key = f"{algorithm}-{thumbprint}"
        existing = self.store.certificates.find(key, call.now)
        if existing is not None:
            raise ServiceError(
                "CertificateBeingDeleted" if existing.state == "deleting" else "CertificateExists"
            )
        stored = {
            "thumbprint": thumbprint,
            "thumbprintAlgorithm": algorithm,
            "certificateFormat": doc.get("certificateFormat", "pfx"),
            "publicData": "ZW11bGF0ZWQtY2VydGlmaWNhdGU=",
        }
        certificate = self.store.certificates.add(Certificate(key, stored, call.now))
        return _created(certificate, certificate_url(call.base, algorithm, thumbprint))

    def _certificate(self, call: Call) -> Certificate:
        return self.store.certificate(
            call.params["thumbprintAlgorithm"].lower(), call.params["thumbprint"].lower(), call.now
        )

    async def get_certificate(self, call: Call) -> Response:
        certificate = self._certificate(call)
        return _single(call, "certificates/@Element", render_certificate(certificate, call.base))

    async def delete_certificate(self, call: Call) -> Response:
        certificate = self._certificate(call)
        if certificate.state == "deleting":
            raise ServiceError("CertificateBeingDeleted")
        certificate.set_state("deleting", call.now)
        certificate.deleting_until = call.now + self.store.delete_delay
        return _empty(202, _entity_headers(certificate))

    async def cancel_delete_certificate(self, call: Call) -> Response:
        certificate = self._certificate(call)
        if certificate.state == "deleting":
            raise ServiceError("CertificateBeingDeleted")
        if certificate.state != "deletefailed":
            raise ServiceError(
                "CertificateStateActive", status=409, message="The specified certificate is in active state."
            )
        certificate.set_state("active", call.now)
        return _empty(204)

    async def node_counts(self, call: Call) -> Response:
        def render(pool: Pool) -> dict[str, Any]:
            result: dict[str, Any] = {"poolId": pool.id}
            for label, dedicated in (("dedicated", True), ("lowPriority", False)):
                counts = dict.fromkeys(NODE_COUNT_FIELDS.values(), 0)
                for node in pool.live_nodes(call.now):
                    if node.is_dedicated == dedicated:
                        field = NODE_COUNT_FIELDS.get(node.current_state(call.now), "unknown")
                        counts[field] += 1
                counts["total"] = sum(counts.values())
                result[label] = counts
            return result

        pools = self.store.pools
        return _page(call, "poolnodecounts", lambda start: pools.scan(start, call.now), render, limit=10)

    async def usage_metrics(self, call: Call) -> Response:
        def render(pool: Pool) -> dict[str, Any]:
            hours = (call.now - pool.created) / 3600 * len(pool.live_nodes(call.now))
            return {
                "poolId": pool.id,
                "startTime": format_time(pool.created - pool.created % 1800),
                "endTime": format_time(call.now),
                "vmSize": pool.doc.get("vmSize", ""),
                "totalCoreHours": round(hours, 6),
            }

        pools = self.store.pools
        return _page(call, "poolusagemetrics", lambda start: pools.scan(start, call.now), render)

    async def supported_images(self, call: Call) -> Response:
        return _page(call, "supportedimages", _listing(_SUPPORTED_IMAGES), dict)


_SUPPORTED_IMAGES: list[dict[str, Any]] = [
    {
        "nodeAgentSKUId": "batch.node.ubuntu 22.04",
        "imageReference": {
            "publisher": "canonical",
            "offer": "0001-com-ubuntu-server-jammy",
            "sku": "22_04-lts",
            "version": "latest",
        },
        "osType": "linux",
        "capabilities": [],
        "batchSupportEndOfLife": "2027-04-30T00:00:00Z",
        "verificationType": "verified",
    },
    {
        "nodeAgentSKUId": "batch.node.windows amd64",
        "imageReference": {
            "publisher": "microsoftwindowsserver",
            "offer": "windowsserver",
            "sku": "2022-datacenter",
            "version": "latest",
        },
        "osType": "windows",
        "capabilities": [],
        "verificationType": "verified",
    },
]
