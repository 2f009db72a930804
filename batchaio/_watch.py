"""Watching a job's tasks complete: ``client.tasks.watch``.

The decisions are pure and apart from the polling:

- :class:`CompletionTracker` keeps the watermark and the completions already yielded near it. Each listing
  asks for the tasks completed at or after ``watermark - overlap``: ``ge`` so that ties with the watermark are
  listed again, the overlap so that a completion the service reports late, stamped before the watermark, is
  still found. A completion is ``(task id, stateTransitionTime)``, so the ones listed again are recognised and
  skipped, and a task that was reactivated and completed again (a new time) is new. Only the completions at
  or after the low edge of the next listing are remembered: memory follows the completions of one overlap
  window, not the job's size.
- The watermark is a time of the service, never of the local clock: after a listing it moves up to the
  latest ``stateTransitionTime`` listed, but not past a time known to precede the listing's first page: the
  service's ``Date`` of the poll just before it, or the latest completion on that first page, whichever is
  later. A listing of several pages takes time, and a task that completes meanwhile in a part already read
  is not in it; it completed after the first page was served, so the next listing, which starts from there,
  finds it. (Without a ``Date``, the latest time of the listing before stands in.)
- :func:`next_step` decides from the task counts whether to list (the counts of completed tasks moved), to
  finish (no task active or running: confirm it, then list once more), or to wait.

:class:`TaskWatch` is the thin loop: one ``get_task_counts`` per poll, a listing only when the counts moved,
one page in memory at a time. :class:`WatchPosition` is where a watch stands; a new watch resumes from it.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable, Sequence
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import attrs

from batchaio import _constants as C
from batchaio import filters as f
from batchaio._polling import delay_after_error, keep_polling
from batchaio._serde import format_datetime
from batchaio._task_progress import TaskProgress
from batchaio._workflow_checks import check_seconds
from batchaio.errors import BatchStatusError, ServerError, ThrottledError, ValidationError
from batchaio.models import BatchTask, BatchTaskState

if TYPE_CHECKING:
    from batchaio._paging import AsyncPager
    from batchaio._workflow_api import Groups

__all__ = [
    "CompletionTracker",
    "Step",
    "TaskWatch",
    "WatchPosition",
    "completed_filter",
    "next_step",
    "service_date",
    "watch_fields",
]

Completion = tuple[str, datetime]
# The service keeps times to 100 ns, a parsed datetime to 1 us (truncated): a task listed as just below the
# low edge may be at or above it for the service's filter, so it is remembered a microsecond longer.
PARSED_PRECISION = timedelta(microseconds=1)
T = TypeVar("T")


@attrs.frozen
class WatchPosition:
    """Where a watch stands: pass it to ``client.tasks.watch(..., position=...)`` to go on from there.

    ``watermark`` is the low edge (before the overlap) of the listing in progress or the next one, ``high``
    the latest completion time seen; ``seen`` the completions yielded at or after ``watermark - overlap``;
    ``listing`` whether a listing was in progress, with ``bound`` the service time before it (the most its
    watermark may move to), ``link`` the link of its current page (``None``: its first page) and ``skip``
    the items of that page already yielded. :meth:`to_dict` and :meth:`from_dict`
    turn it into plain JSON-ready data and back.
    """

    watermark: datetime | None = None
    high: datetime | None = None
    seen: frozenset[Completion] = frozenset()
    listing: bool = False
    bound: datetime | None = None
    link: str | None = None
    skip: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain data (strings, ints, lists) that :meth:`from_dict` reads back."""
        return {
            "watermark": _time_text(self.watermark),
            "high": _time_text(self.high),
            "seen": sorted([task_id, format_datetime(moment, "seen")] for task_id, moment in self.seen),
            "listing": self.listing,
            "bound": _time_text(self.bound),
            "link": self.link,
            "skip": self.skip,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WatchPosition:
        """The position saved by :meth:`to_dict`."""
        try:
            return cls(
                watermark=_parse_time(data.get("watermark")),
                high=_parse_time(data.get("high")),
                seen=frozenset((str(task_id), _time(moment)) for task_id, moment in data.get("seen", ())),
                listing=bool(data.get("listing", False)),
                bound=_parse_time(data.get("bound")),
                link=data.get("link"),
                skip=int(data.get("skip", 0)),
            )
        except (TypeError, ValueError) as err:
            raise ValidationError(f"not a saved watch position: {err}", field="position") from None


class CompletionTracker:
    """The watermark and the completions yielded near it (no I/O)."""

    def __init__(self, overlap: float, position: WatchPosition | None = None) -> None:
        position = position or WatchPosition()
        self.overlap = timedelta(seconds=overlap)
        self.watermark = position.watermark
        self.high = position.high
        # Yielded before the listing in progress, at or after its low edge: the listing returns them again.
        self._before: set[Completion] = set(position.seen)
        # Yielded by the listing in progress, kept only if the next listing may return them again.
        self._fresh: set[Completion] = set()
        self._prune_at = C.WATCH_PAGE_SIZE
        self.listing = position.listing
        self.bound = position.bound
        self.link = position.link
        self.skip = position.skip
        # Reading the first page of a listing (not a resumed one): its completions precede the listing too.
        self._first_page = False

    def low_edge(self) -> datetime | None:
        """The ``stateTransitionTime`` from which the listing asks for completions (``None``: all)."""
        return None if self.watermark is None else self.watermark - self.overlap

    def begin_listing(self, service_time: datetime | None) -> None:
        """A listing starts (from its first page); ``service_time`` is the service's ``Date`` before it."""
        self.listing, self.link, self.skip = True, None, 0
        self.bound = service_time if service_time is not None else self.high
        self._first_page = True

    def page_started(self, link: str | None) -> None:
        """The listing moved on to the page at ``link``."""
        if link != self.link:
            self.link, self.skip = link, 0
            self._first_page = False

    def admit(self, task_id: str, moment: datetime) -> bool:
        """Whether the completion of ``task_id`` at ``moment`` is new; remember it if so."""
        self.skip += 1
        if self._first_page and (self.bound is None or moment > self.bound):
            self.bound = moment  # served on the first page: it completed before the listing began
        key = (task_id, moment)
        if key in self._before or key in self._fresh:
            return False
        self._fresh.add(key)
        if self.high is None or moment > self.high:
            self.high = moment
        if len(self._fresh) >= self._prune_at:
            self._fresh = self._keep(self._fresh, self._next_watermark())
            self._prune_at = max(C.WATCH_PAGE_SIZE, 2 * len(self._fresh))
        return True

    def end_listing(self) -> None:
        """The listing reached its last page: the watermark moves up (see the module docstring)."""
        self.watermark = self._next_watermark()
        self._before = self._keep(self._before | self._fresh, self.watermark)
        self._fresh = set()
        self._prune_at = C.WATCH_PAGE_SIZE
        self.listing, self.bound, self.link, self.skip = False, None, None, 0

    def position(self) -> WatchPosition:
        """A snapshot to resume from."""
        return WatchPosition(
            watermark=self.watermark,
            high=self.high,
            seen=frozenset(self._before | self._fresh),
            listing=self.listing,
            bound=self.bound,
            link=self.link,
            skip=self.skip,
        )

    def _next_watermark(self) -> datetime | None:
        if self.high is None:
            return self.watermark
        moved = self.high if self.bound is None else min(self.high, self.bound)
        return moved if self.watermark is None else max(moved, self.watermark)

    def _keep(self, keys: Iterable[Completion], edge: datetime | None) -> set[Completion]:
        if edge is None:
            return set(keys)
        low = edge - self.overlap - PARSED_PRECISION
        return {key for key in keys if key[1] >= low}


class Step(enum.Enum):
    """What a watch does after reading the task counts."""

    WAIT = "wait"  # nothing completed since the last listing
    LIST = "list"  # completions moved: list those after the watermark
    FINISH = "finish"  # no task is active or running: confirm it, list once more, and end


def next_step(listed: TaskProgress | None, counts: TaskProgress, *, unfinished_listed: bool = False) -> Step:
    """Decide from the counts now and those at the last listing (``None``: none yet).

    ``unfinished_listed``: the counts said no task was active or running, but a listing found one (the counts
    lag behind): do not finish yet.
    """
    if counts.unfinished == 0 and not unfinished_listed:
        return Step.FINISH
    before = listed if listed is not None else TaskProgress()
    moved = (counts.completed, counts.succeeded, counts.failed) != (
        before.completed,
        before.succeeded,
        before.failed,
    )
    return Step.LIST if moved else Step.WAIT


def completed_filter(low_edge: datetime | None) -> f.Filter:
    """``$filter`` of a watch's listing: completed tasks, from ``low_edge`` on when there is one."""
    completed = f.eq("state", "completed")
    if low_edge is None:
        return completed
    return completed & f.ge("stateTransitionTime", low_edge)


def watch_fields(select: Sequence[str] | None) -> list[str] | None:
    """``$select`` of a watch's listing: the caller's fields plus those the watch reads (``None``: all)."""
    if select is None:
        return None
    if isinstance(select, str):
        raise ValidationError("select must be a sequence of property names, not one str", field="select")
    fields = list(select)
    lowered = {name.lower() for name in fields if isinstance(name, str)}
    fields += [name for name in C.WATCH_REQUIRED_FIELDS if name.lower() not in lowered]
    return fields


class TaskWatch(AsyncIterator[BatchTask]):
    """The async iterator returned by ``client.tasks.watch``; :attr:`position` says where it stands.

    Use ``async for task in client.tasks.watch(job_id): ...``. To leave the loop early (``break``), use it
    as ``async with client.tasks.watch(job_id) as watch:`` (or call :meth:`aclose`), which closes the listing
    in progress; a new watch resumes from :attr:`position`.
    """

    def __init__(
        self,
        api: Groups,
        job_id: str,
        *,
        poll_interval: float,
        overlap: float,
        select: Sequence[str] | None,
        position: WatchPosition | None,
    ) -> None:
        check_seconds("poll_interval", poll_interval, optional=False, zero=False)
        check_seconds("overlap", overlap, optional=False)
        if position is not None and not isinstance(position, WatchPosition):
            raise ValidationError("position must be a WatchPosition", field="position")
        self._api = api
        self._tasks = api.tasks
        self._service_time: datetime | None = None
        self._job_id = job_id
        self._poll_interval = poll_interval
        self._select = watch_fields(select)
        self._tracker = CompletionTracker(overlap, position)
        self._iterator = self._run()

    @property
    def position(self) -> WatchPosition:
        """Where the watch stands: every task yielded so far is behind it."""
        return self._tracker.position()

    def __aiter__(self) -> TaskWatch:
        return self

    async def __anext__(self) -> BatchTask:
        return await self._iterator.__anext__()

    async def aclose(self) -> None:
        """Stop the watch (closing the listing in progress)."""
        await self._iterator.aclose()

    async def __aenter__(self) -> TaskWatch:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _run(self) -> AsyncGenerator[BatchTask, None]:
        listed: TaskProgress | None = None
        if self._tracker.listing:
            async for task in self._listing(resume=True):
                yield task
            listed = TaskProgress()
        while True:
            counts = await self._poll(self._counts)
            step = next_step(listed, counts)
            if step is Step.FINISH and await self._poll(self._unfinished_exists):
                step = next_step(listed, counts, unfinished_listed=True)
            if step is not Step.WAIT:
                listed = counts
                async for task in self._listing(resume=False):
                    yield task
            if step is Step.FINISH:
                return
            await anyio.sleep(self._poll_interval)

    async def _counts(self) -> TaskProgress:
        raw = await self._api.raw_jobs.get_task_counts(self._job_id)
        self._service_time = service_date(raw.headers.get("date"))
        return TaskProgress.from_counts(raw.parse())

    async def _unfinished_exists(self) -> bool:
        pager = self._tasks.list(
            self._job_id, filter=f.ne("state", "completed"), select=["id"], max_results=1
        )
        async for _ in pager:
            return True
        return False

    async def _listing(self, *, resume: bool) -> AsyncIterator[BatchTask]:
        tracker = self._tracker
        if not resume:
            tracker.begin_listing(self._service_time)
        while True:
            try:
                async for task in self._list_from(tracker.link, tracker.skip):
                    yield task
                break
            except (ThrottledError, ServerError) as err:
                await self._wait_after(err)
        tracker.end_listing()

    async def _list_from(self, link: str | None, skip: int) -> AsyncIterator[BatchTask]:
        tracker = self._tracker
        pager: AsyncPager[BatchTask] = self._tasks.list(
            self._job_id,
            filter=completed_filter(tracker.low_edge()),
            select=self._select,
            max_results=C.WATCH_PAGE_SIZE,
        )
        if link is not None:
            pager = pager.from_link(link)
        async for page in pager.pages():
            tracker.page_started(pager.current_link)
            for index, task in enumerate(page.items):
                if index < skip:
                    continue
                moment = task.state_transition_time
                if task.id is None or moment is None or task.state != BatchTaskState.COMPLETED:
                    tracker.skip += 1
                    continue
                if tracker.admit(task.id, moment):
                    yield task
            skip = 0

    async def _poll(self, call: Callable[[], Awaitable[T]]) -> T:
        return await keep_polling(call, self._poll_interval)

    async def _wait_after(self, err: BatchStatusError) -> None:
        delay = delay_after_error(err, self._poll_interval)
        if delay is None:
            raise err
        await anyio.sleep(delay)


def service_date(value: str | None) -> datetime | None:
    """The service's clock from a ``Date`` header (RFC 1123, whole seconds), or ``None``."""
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo is not None else None


def _time_text(moment: datetime | None) -> str | None:
    return None if moment is None else format_datetime(moment, "watermark")


def _parse_time(text: object) -> datetime | None:
    return None if text is None else _time(text)


def _time(text: object) -> datetime:
    if not isinstance(text, str):
        raise TypeError("a time must be a string")
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("a time must carry its UTC offset")
    return moment
