"""The resource groups a workflow helper talks through, built on the pipeline of the group it hangs on.

The helpers live on one resource group (``client.tasks.watch``, ``client.jobs.run``) but call the public
methods of others (``jobs.get_task_counts``, ``tasks.list``, ``pools.get``...): :func:`groups` gives them
those groups, sharing the client's pipeline (its connections, credentials, retries).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
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


def groups(pipeline: Pipeline) -> Groups:
    """The resource groups on ``pipeline`` (imported here: the groups' modules import the helpers)."""
    from batchaio.resources import Jobs, JobsWithRawResponse, Nodes, Pools, Tasks

    jobs = Jobs(pipeline)
    return Groups(
        jobs=jobs,
        tasks=Tasks(pipeline),
        pools=Pools(pipeline),
        nodes=Nodes(pipeline),
        raw_jobs=JobsWithRawResponse(jobs),
    )
