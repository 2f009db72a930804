"""Async paging over the Batch list operations.

A list call returns an :class:`AsyncPager` at once (nothing is sent yet). ``async for item in pager`` walks
every page; :meth:`AsyncPager.pages` yields the pages themselves, each with its ``next_link``, which
:meth:`AsyncPager.from_link` accepts to resume a listing later. One page is held in memory at a time; empty
pages that carry a next link are followed; a failed page request is retried by the transport like any other
read, so the listing carries on from the page that failed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Generic, TypeVar

import attrs

from batchaio._response import ResponseMetadata
from batchaio._serde import decode_page
from batchaio.errors import ValidationError

if TYPE_CHECKING:
    from batchaio._transport import BatchRequest, Pipeline

__all__ = ["AsyncPager", "Page"]

T = TypeVar("T")


@attrs.frozen
class Page(Generic[T]):
    """One page of a listing: its ``items``, the ``next_link`` to the following page (``None`` on the
    last page) and the response ``metadata``."""

    items: Sequence[T]
    next_link: str | None
    metadata: ResponseMetadata


class AsyncPager(Generic[T]):
    """Lazily iterates over a Batch listing, page by page.

    ``async for item in pager`` yields items; ``async for page in pager.pages()`` yields :class:`Page`
    objects. ``next_link`` holds the link to the page after the last one fetched, for saving and resuming with
    :meth:`from_link`.
    """

    def __init__(self, pipeline: Pipeline, request: BatchRequest, item_type: type[T]) -> None:
        self._pipeline = pipeline
        self._request = request
        self._item_type = item_type
        self.next_link: str | None = None

    def __repr__(self) -> str:
        return f"<AsyncPager of {self._item_type.__name__} ({self._request.operation_id})>"

    def from_link(self, link: str) -> AsyncPager[T]:
        """A pager for the same operation that starts at a saved ``next_link``."""
        if not isinstance(link, str) or not link.lower().startswith(("https://", "http://")):
            raise ValidationError("link must be an absolute odata.nextLink URL", field="link")
        return AsyncPager(self._pipeline, self._follow(link), self._item_type)

    async def pages(self) -> AsyncIterator[Page[T]]:
        """Yield the pages in order, following ``odata.nextLink`` until the service gives none."""
        request: BatchRequest | None = self._request
        while request is not None:
            response = await self._pipeline.send(request)
            items, link = decode_page(self._item_type, response.content or b"{}")
            page = Page(items, link, response.metadata)
            self.next_link = link
            request = None if link is None else self._follow(link)
            yield page

    def __aiter__(self) -> AsyncIterator[T]:
        return self._items()

    async def _items(self) -> AsyncIterator[T]:
        async for page in self.pages():
            for item in page.items:
                yield item

    def _follow(self, link: str) -> BatchRequest:
        return attrs.evolve(self._request, path=link, query={})
