"""batchaio: an asyncio-native, typed client for the Azure Batch data-plane REST API 2024-07-01.20.0."""

from __future__ import annotations

from batchaio._version import API_VERSION, __version__

__all__ = [
    "API_VERSION",
    "__version__",
]
