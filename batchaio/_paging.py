"""Async paging over the Batch list operations.

A list call returns an :class:`AsyncPager` at once (nothing is sent yet). ``async for item in pager`` walks
every page; :meth:`AsyncPager.pages` yields the pages themselves, each with its ``next_link``, which
:meth:`AsyncPager.from_link` accepts to resume a listing later. One page is held in memory at a time; empty
pages that carry a next link are followed; a failed page request is retried by the transport like any other
read, so the listing carries on from the page that failed.

Resuming works by whole pages. ``pager.next_link`` is the link to the page *after* the one fetched last, so
after stopping in the middle of a page, resume from ``pager.current_link`` (the link of that page; ``None``
while on the first page, which the original call fetches again) to see the rest of it, and skip the items
already handled. After an error while fetching a page, ``next_link`` is the page that failed.

A listing body that is empty or not a listing raises :class:`~batchaio.errors.ResponseParseError`, and so
does a next link already followed in this listing, or more than ``max_empty_pages`` empty pages in a row that
each carry a new next link (a server loop would otherwise never end).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Generic, TypeVar

import attrs

from batchaio import _constants as C
from batchaio._redact import redact_url
from batchaio._response import BatchResponse, ResponseMetadata
from batchaio._results import PARSE_FAILURES, parse_error
from batchaio._serde import decode_page
from batchaio.errors import ResponseParseError, ValidationError

if TYPE_CHECKING:
    from batchaio._transport import BatchRequest, Pipeline

__all__ = ["AsyncPager", "Page"]

T = TypeVar("T")


@attrs.frozen
class Page(Generic[T]):
    """One page of a listing: its ``items``, the ``next_link`` to the following page (``None`` on the
    last page) and the response ``metadata``."""

    items: Sequence[T]
    next_link: str | None = attrs.field(repr=lambda link: repr(redact_url(link) if link else link))
    metadata: ResponseMetadata


class AsyncPager(Generic[T]):
    """Lazily iterates over a Batch listing, page by page.

    ``async for item in pager`` yields items; ``async for page in pager.pages()`` yields :class:`Page`
    objects. ``next_link`` holds the link to the page after the last one fetched and ``current_link`` the
    link of the last one fetched (``None`` for the first page), for saving and resuming with
    :meth:`from_link`: resuming works by page, so after stopping inside a page resume from ``current_link``.
    ``max_empty_pages`` bounds the empty pages in a row that are followed (set it before iterating).
    """

    def __init__(
        self,
        pipeline: Pipeline,
        request: BatchRequest,
        item_type: type[T],
        *,
        link: str | None = None,
        finished: bool = False,
    ) -> None:
        self._pipeline = pipeline
        self._request = request
        self._item_type = item_type
        self._link = link
        self._finished = finished
        self.next_link: str | None = None
        self.current_link: str | None = None
        self._max_empty_pages = C.PAGER_MAX_EMPTY_PAGES

    @property
    def max_empty_pages(self) -> int:
        """Empty pages in a row (each with a new next link) followed before giving up with
        :class:`~batchaio.errors.ResponseParseError`."""
        return self._max_empty_pages

    @max_empty_pages.setter
    def max_empty_pages(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValidationError("max_empty_pages must be a positive int", field="max_empty_pages")
        self._max_empty_pages = value

    def __repr__(self) -> str:
        return f"<AsyncPager of {self._item_type.__name__} ({self._request.operation_id})>"

    def from_link(self, link: str | None) -> AsyncPager[T]:
        """A pager for the same operation that starts at a saved ``next_link``.

        ``None`` (the ``next_link`` of a listing that had no more pages) gives a pager with nothing left.
        """
        if link is None:
            return self._resumed(self._request, None, finished=True)
        if not isinstance(link, str) or not link.lower().startswith(("https://", "http://")):
            raise ValidationError("link must be an absolute odata.nextLink URL or None", field="link")
        return self._resumed(self._follow(link), link, finished=False)

    def _resumed(self, request: BatchRequest, link: str | None, *, finished: bool) -> AsyncPager[T]:
        pager = AsyncPager(self._pipeline, request, self._item_type, link=link, finished=finished)
        pager.max_empty_pages = self.max_empty_pages
        return pager

    async def pages(self) -> AsyncIterator[Page[T]]:
        """Yield the pages in order, following ``odata.nextLink`` until the service gives none."""
        request: BatchRequest | None = None if self._finished else self._request
        link = self._link
        followed = {link}
        empty_in_a_row = 0
        while request is not None:
            response = await self._pipeline.send(request)
            items, next_link = self._decode(response, request.operation_id)
            empty_in_a_row = empty_in_a_row + 1 if not items and next_link is not None else 0
            problem = _loop_problem(next_link, followed, empty_in_a_row, self.max_empty_pages)
            if problem is not None:
                raise ResponseParseError(
                    f"{request.operation_id}: {problem}; stopping instead of looping",
                    metadata=response.metadata,
                    operation=request.operation_id,
                )
            followed.add(next_link)
            self.current_link, self.next_link = link, next_link
            link = next_link
            request = None if next_link is None else self._follow(next_link)
            yield Page(items, next_link, response.metadata)

    def _decode(self, response: BatchResponse, operation: str) -> tuple[list[T], str | None]:
        if not response.content:
            raise ResponseParseError(
                f"{operation}: the listing response has an empty body",
                metadata=response.metadata,
                operation=operation,
            )
        try:
            return decode_page(self._item_type, response.content)
        except PARSE_FAILURES as err:
            raise parse_error(err, response.metadata, operation) from err

    def __aiter__(self) -> AsyncIterator[T]:
        return self._items()

    async def _items(self) -> AsyncIterator[T]:
        async for page in self.pages():
            for item in page.items:
                yield item

    def _follow(self, link: str) -> BatchRequest:
        return attrs.evolve(self._request, path=link, query={})


def _loop_problem(
    next_link: str | None, followed: set[str | None], empty_in_a_row: int, max_empty_pages: int
) -> str | None:
    """Why following ``next_link`` would go on forever, if it would."""
    if next_link is not None and next_link in followed:
        return "the service sent a next link that this listing already followed"
    if empty_in_a_row > max_empty_pages:
        return f"the service sent {empty_in_a_row} empty pages in a row, each with a new next link"
    return None
