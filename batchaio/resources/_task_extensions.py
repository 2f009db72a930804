"""Hand-written base of the generated :class:`batchaio.resources.tasks.Tasks`: task methods that are not one
REST operation (streaming bulk submission) live here, so regenerating the operations never touches them."""

from __future__ import annotations

from batchaio.resources._base import Resource

__all__ = ["TaskExtensions"]


class TaskExtensions(Resource):
    """Task methods built on top of the REST operations of :class:`~batchaio.resources.tasks.Tasks`."""
