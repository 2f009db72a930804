"""Hand-written base of the generated :class:`batchaio.resources.pools.Pools`: waiting for a pool to be
ready for work."""

from __future__ import annotations

from batchaio import _constants as C
from batchaio import _pool_ready
from batchaio._tracing import traced
from batchaio._workflow_api import groups
from batchaio.models import BatchPool
from batchaio.resources._base import Resource

__all__ = ["PoolExtensions"]


class PoolExtensions(Resource):
    """Pool helpers built on the public operations: :meth:`wait_until_ready`."""

    @traced("pools.wait_until_ready", pool_id="poolId")
    async def wait_until_ready(
        self,
        pool_id: str,
        *,
        timeout: float | None = C.POOL_READY_TIMEOUT,
        min_nodes: int | None = None,
        poll_interval: float = C.POOL_POLL_INTERVAL,
    ) -> BatchPool:
        """Return the pool once its allocation is steady and ``min_nodes`` nodes (default: all its target
        nodes, at least one) are idle or running.

        Reads the pool and its nodes every ``poll_interval`` seconds and gives up as soon as it can tell the
        pool will not get there: :class:`~batchaio.PoolResizeError` (resize errors; quota codes in
        ``quota_codes``), :class:`~batchaio.StartTaskFailedError` (node ids and the tail of each start
        task's stderr) or :class:`~batchaio.NodesUnusableError`, all :class:`~batchaio.PoolNotReadyError`,
        which is also raised for a pool that does not exist or is being deleted. After ``timeout`` seconds it
        raises :class:`~batchaio.PoolWaitTimeoutError` (a ``PoolNotReadyError`` and a ``WaitTimeoutError``).
        Throttling and server errors that outlast the client's retries are waited out within ``timeout``.
        """
        api = groups(self._pipeline, self._defaults)
        return await _pool_ready.wait_until_ready(
            api.pools,
            api.nodes,
            pool_id,
            time_limit=timeout,
            min_nodes=min_nodes,
            poll_interval=poll_interval,
        )
