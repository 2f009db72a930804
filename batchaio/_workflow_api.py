"""The resource groups a workflow helper talks through, built on the pipeline of the group it hangs on.

The helpers live on one resource group (``client.tasks.watch``, ``client.jobs.run``) but call the public
methods of others (``jobs.get_task_counts``, ``tasks.list``, ``pools.get``...): :func:`groups` gives them
those groups, sharing the client's pipeline (its connections, credentials, retries).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from batchaio._options import DefaultOptions
    from batchaio._transport import Pipeline
    from batchaio.resources import Jobs, JobsWithRawResponse, Nodes, Pools, Tasks

__all__ = ["Groups", "groups"]


@attrs.frozen
class Groups:
    """``jobs``, ``tasks``, ``pools`` and ``nodes`` of one client, and ``raw_jobs`` (the job operations
    returning the response with its headers, for the service's ``Date``)."""

    jobs: Jobs
    tasks: Tasks
    pools: Pools
    nodes: Nodes
    raw_jobs: JobsWithRawResponse


def groups(pipeline: Pipeline, defaults: DefaultOptions) -> Groups:
    """The resource groups on ``pipeline`` with the per-call ``defaults`` of the group the helper was called
    on (a :meth:`~batchaio.BatchClient.with_options` view's). Imported here: their modules import the
    helpers."""
    from batchaio.resources import Jobs, JobsWithRawResponse, Nodes, Pools, Tasks

    jobs = Jobs(pipeline, defaults)
    return Groups(
        jobs=jobs,
        tasks=Tasks(pipeline, defaults),
        pools=Pools(pipeline, defaults),
        nodes=Nodes(pipeline, defaults),
        raw_jobs=JobsWithRawResponse(jobs),
    )
