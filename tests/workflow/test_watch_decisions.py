"""The watch's decisions, without I/O: the watermark and its overlap window, ties, late reports, reactivated
tasks, memory, when to list, and what to ask for."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from batchaio import (
    TaskProgress,
    ValidationError,
    WatchPosition,
)
from batchaio._watch import (
    CompletionTracker,
    Step,
    completed_filter,
    next_step,
    service_date,
    watch_fields,
)

T0 = datetime(2024, 7, 1, 12, 0, 0, tzinfo=timezone.utc)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def listing(
    tracker: CompletionTracker,
    completions: list[tuple[str, float]],
    service_time: float | None = None,
    *,
    later_pages: tuple[list[tuple[str, float]], ...] = (),
) -> list[str]:
    """One listing: what the service returns at or after the tracker's low edge, in the given order (the
    first page, then ``later_pages``), after a poll whose ``Date`` was ``service_time`` (``None``: none)."""
    tracker.begin_listing(None if service_time is None else at(service_time))
    low = tracker.low_edge()
    new = []
    for number, page in enumerate([completions, *later_pages]):
        if number:
            tracker.page_started(f"https://acct/jobs/j/tasks?page={number + 1}")
        new += [
            task_id
            for task_id, seconds in page
            if (low is None or at(seconds) >= low) and tracker.admit(task_id, at(seconds))
        ]
    tracker.end_listing()
    return new


def test_first_listing_takes_every_completion_and_sets_the_watermark_to_the_latest() -> None:
    tracker = CompletionTracker(overlap=5)
    assert tracker.low_edge() is None
    assert listing(tracker, [("a", 3), ("b", 10), ("c", 1)]) == ["a", "b", "c"]
    assert tracker.watermark == at(10)
    assert tracker.low_edge() == at(5)


# (earlier listings, next listing, yielded by the next listing)
CASES = [
    pytest.param([[("a", 10)]], [("a", 10), ("b", 10)], ["b"], id="tie with the watermark is listed again"),
    pytest.param([[("a", 10)]], [("a", 10), ("b", 7)], ["b"], id="late report inside the overlap"),
    pytest.param([[("a", 10)]], [("a", 10), ("b", 4)], [], id="late report before the overlap is not asked"),
    pytest.param([[("a", 10)]], [("a", 10), ("a", 12)], ["a"], id="reactivated task completes again"),
    pytest.param([[("a", 10), ("b", 10)]], [("a", 10), ("b", 10)], [], id="nothing new: nothing yielded"),
    pytest.param([[("a", 1)], [("b", 20)]], [("a", 1), ("b", 20), ("c", 19)], ["c"], id="watermark moves on"),
    pytest.param([[("a", 10)], []], [("a", 10), ("b", 9)], ["b"], id="empty listing keeps the watermark"),
]


@pytest.mark.parametrize(("before", "after", "expected"), CASES)
def test_listing_after_a_watermark(
    before: list[list[tuple[str, float]]], after: list[tuple[str, float]], expected: list[str]
) -> None:
    tracker = CompletionTracker(overlap=5)
    for earlier in before:
        listing(tracker, earlier)
    assert listing(tracker, after) == expected


def test_the_watermark_stops_at_the_service_time_before_a_listing() -> None:
    """A listing of many pages takes time: a task that completes meanwhile in a part already read (here "b",
    at 100.5, after the poll's Date of 100) is missing from it, while a later page lists one at 160. The
    watermark moves to 100, not 160, so the next listing asks from 95 and finds "b"."""
    tracker = CompletionTracker(overlap=5)
    assert listing(tracker, [("a", 99)], service_time=100, later_pages=([("c", 160)],)) == ["a", "c"]
    assert tracker.watermark == at(100)
    assert listing(tracker, [("a", 99), ("b", 100.5), ("c", 160)], service_time=170) == ["b"]
    assert tracker.watermark == at(160)


def test_the_first_page_bounds_the_watermark_more_finely_than_the_date() -> None:
    """The Date has whole seconds; a completion served on the first page precedes the listing as well."""
    tracker = CompletionTracker(overlap=5)
    assert listing(tracker, [("a", 100.75)], service_time=100, later_pages=([("c", 160)],)) == ["a", "c"]
    assert tracker.watermark == at(100.75)
    assert listing(tracker, [("d", 170)], service_time=150) == ["d"]  # one page: up to its latest
    assert tracker.watermark == at(170)


def test_without_a_service_date_the_previous_listing_bounds_the_watermark() -> None:
    tracker = CompletionTracker(overlap=5)
    listing(tracker, [("a", 10)])
    assert tracker.watermark == at(10)
    assert listing(tracker, [], later_pages=([("c", 160)],)) == ["c"]
    assert tracker.watermark == at(10)  # the latest time known before this listing began
    assert listing(tracker, [("b", 100), ("c", 160)]) == ["b"]
    assert tracker.watermark == at(160)


def test_a_completion_a_microsecond_below_the_low_edge_is_still_remembered() -> None:
    """The service compares 100 ns times, the client sees them truncated to 1 us: a task it parses as just
    below the low edge (94.9999995 s seen as 94.999999 s) can still match ``ge 95``; not yielded twice."""
    tracker = CompletionTracker(overlap=5)
    listing(tracker, [("edge", 94.999999), ("top", 100)])
    assert tracker.low_edge() == at(95)
    tracker.begin_listing(at(101))
    assert tracker.admit("edge", at(94.999999)) is False  # returned by the service for "ge 95"
    assert tracker.admit("top", at(100)) is False


def test_the_watermark_never_moves_back() -> None:
    tracker = CompletionTracker(overlap=5)
    listing(tracker, [("a", 50)], service_time=60)
    listing(tracker, [("a", 50)], service_time=40)  # a skewed clock
    assert tracker.watermark == at(50)


def test_memory_holds_only_the_completions_of_the_overlap_window() -> None:
    tracker = CompletionTracker(overlap=5)
    listing(tracker, [(f"t{n}", n / 10) for n in range(20_000)])  # 2,000 s of completions
    seen = tracker.position().seen
    assert len(seen) <= 51  # 5 s at 10 per second, plus the edge
    assert min(moment for _, moment in seen) >= at(1999.9 - 5)


def test_every_completion_of_a_long_listing_out_of_time_order_is_yielded_once() -> None:
    tracker = CompletionTracker(overlap=5)
    completions = [(f"t{n}", (n * 7919) % 3000 / 3) for n in range(3000)]  # shuffled times
    assert len(listing(tracker, completions)) == 3000
    assert listing(tracker, completions) == []


def test_a_position_taken_mid_listing_resumes_without_repeats_or_gaps() -> None:
    tracker = CompletionTracker(overlap=5)
    listing(tracker, [("a", 10)])
    tracker.begin_listing(at(30))
    tracker.page_started("https://acct/jobs/j/tasks?page=2")
    assert tracker.admit("a", at(10)) is False
    assert tracker.admit("b", at(11)) is True
    saved = WatchPosition.from_dict(tracker.position().to_dict())
    assert (saved.listing, saved.link, saved.skip) == (True, "https://acct/jobs/j/tasks?page=2", 2)
    assert (saved.watermark, saved.bound) == (at(10), at(30))

    resumed = CompletionTracker(overlap=5, position=saved)
    assert resumed.low_edge() == at(5)  # the same listing, the same low edge
    assert resumed.admit("b", at(11)) is False
    assert resumed.admit("c", at(12)) is True
    resumed.end_listing()
    assert resumed.watermark == at(12)


def test_position_round_trips_through_plain_data() -> None:
    position = WatchPosition(
        watermark=at(1),
        high=at(2),
        seen=frozenset({("a", at(1)), ("b", at(2))}),
        listing=True,
        bound=at(3),
        skip=3,
    )
    data = position.to_dict()
    assert data["watermark"] == "2024-07-01T12:00:01Z"
    assert WatchPosition.from_dict(data) == position


@pytest.mark.parametrize("data", [{"watermark": 3}, {"seen": [["a", "not a time"]]}, {"seen": [["a"]]}])
def test_a_bad_saved_position_is_a_validation_error(data: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        WatchPosition.from_dict(data)


def counts(active: int = 0, running: int = 0, succeeded: int = 0, failed: int = 0) -> TaskProgress:
    return TaskProgress(active, running, succeeded + failed, succeeded, failed)


STEPS = [
    (None, counts(active=5), False, Step.WAIT),
    (None, counts(active=4, succeeded=1), False, Step.LIST),
    (counts(active=4, succeeded=1), counts(active=3, running=1, succeeded=1), False, Step.WAIT),
    (counts(active=4, succeeded=1), counts(active=4, failed=1), False, Step.LIST),  # same total, other split
    (counts(running=1, succeeded=1), counts(succeeded=2), False, Step.FINISH),
    (None, counts(), False, Step.FINISH),  # no task at all
    (counts(running=1, succeeded=1), counts(succeeded=2), True, Step.LIST),  # counts lag the listing
    (counts(succeeded=2), counts(succeeded=2), True, Step.WAIT),
]


@pytest.mark.parametrize(("listed", "now", "unfinished_listed", "expected"), STEPS)
def test_next_step(
    listed: TaskProgress | None, now: TaskProgress, unfinished_listed: bool, expected: Step
) -> None:
    assert next_step(listed, now, unfinished_listed=unfinished_listed) is expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [("Mon, 01 Jul 2024 12:00:07 GMT", at(7)), (None, None), ("", None), ("yesterday", None)],
)
def test_service_date(header: str | None, expected: datetime | None) -> None:
    assert service_date(header) == expected


def test_completed_filter() -> None:
    assert str(completed_filter(None)) == "state eq 'completed'"
    assert str(completed_filter(at(0))) == (
        "(state eq 'completed') and (stateTransitionTime ge datetime'2024-07-01T12:00:00Z')"
    )


@pytest.mark.parametrize(
    ("select", "expected"),
    [
        (None, None),
        (["executionInfo"], ["executionInfo", "id", "state", "stateTransitionTime"]),
        (["ID", "State", "nodeInfo"], ["ID", "State", "nodeInfo", "stateTransitionTime"]),
    ],
)
def test_watch_fields(select: list[str] | None, expected: list[str] | None) -> None:
    assert watch_fields(select) == expected


def test_watch_fields_refuses_one_string() -> None:
    with pytest.raises(ValidationError):
        watch_fields("id")
