"""The general rate limit is a sliding window: no span of the window's length passes more
than the limit, across what used to be a fixed window's edge too, and Retry-After says when
the next request passes. Time is moved with chalicelib.core.clock, never slept."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.core import clock, ratelimit

LIMIT, WINDOW = 10, 10


@pytest.fixture(autouse=True)
def still_clock(monkeypatch):
    """Time moves only when a test moves it: under load the requests themselves take seconds,
    which would shift a burst across the edges these tests place it at."""
    start = datetime.now(UTC)
    monkeypatch.setattr(clock, "now", lambda: start + clock._offset)


def _to_window_edge(window: int, before: float) -> None:
    """Move the clock to ``before`` seconds ahead of the next multiple of ``window``."""
    now = clock.now().timestamp()
    clock.advance(timedelta(seconds=window - now % window - before + window))


def test_a_burst_across_a_fixed_windows_edge_is_held_to_the_limit(api, settings_env):
    settings_env(POSTLINE_RATE_LIMIT_REQUESTS=LIMIT, POSTLINE_RATE_LIMIT_WINDOW_SECONDS=WINDOW)
    _to_window_edge(WINDOW, before=0.5)
    first = [api.get("/api/accounts").status for _ in range(LIMIT)]
    clock.advance(timedelta(seconds=1))  # now past the edge, in what a fixed window calls a new one
    second = [api.get("/api/accounts") for _ in range(LIMIT)]
    assert first == [200] * LIMIT
    assert [r.status for r in second] == [429] * LIMIT  # 20 in one second was the old behaviour
    assert second[-1].json == {"errors": "Rate limit exceeded"}
    retry_after = int(second[-1].headers["retry-after"])
    assert WINDOW - 2 <= retry_after <= WINDOW  # the first ten leave the window ~9 s from now
    clock.advance(timedelta(seconds=retry_after - 1.5))
    assert api.get("/api/accounts").status == 429  # refused ones were not counted, nor pushed it out
    clock.advance(timedelta(seconds=1.5))
    assert api.get("/api/accounts").status == 200


def test_no_span_of_the_window_passes_more_than_the_limit(api, settings_env):
    settings_env(POSTLINE_RATE_LIMIT_REQUESTS=LIMIT, POSTLINE_RATE_LIMIT_WINDOW_SECONDS=WINDOW)
    clock.advance(timedelta(days=1))
    rng = random.Random(13)
    passed = []
    for _ in range(400):  # ~4 requests a second for 100 s, in bursts and gaps
        clock.advance(timedelta(seconds=rng.choice([0, 0, 0, 0.05, 0.2, 0.5, 1.3])))
        before = clock.now().timestamp()  # the request is counted between these two moments
        if api.get("/api/accounts").status == 200:
            passed.append((before, clock.now().timestamp()))
    for i, (start, _) in enumerate(passed):
        in_span = [end for _, end in passed[i:] if end - start <= WINDOW]
        assert len(in_span) <= LIMIT, f"{len(in_span)} requests passed within {WINDOW} s from {start}"
    assert len(passed) >= LIMIT * 8  # and the limit is still used: about 100 s / 10 s windows


def test_counts_are_shared_through_dynamodb_and_old_slices_are_removed(settings_env):
    scope = f"test:{random.random()}"
    clock.advance(timedelta(days=2))
    for _ in range(ratelimit.CLEANUP_AFTER + 5):  # one hit per slice, each slice leaving the window
        ratelimit.hit(scope, 5, 60)
        clock.advance(timedelta(seconds=61))
    item = ratelimit.RateWindow.get(scope, consistent_read=True)
    assert item.expires > clock.now()
    from chalicelib.core import aws

    raw = aws.client("dynamodb").get_item(TableName=ratelimit.RateWindow.Meta.table_name,
                                         Key={"key": {"S": scope}})["Item"]
    assert len([k for k in raw if k.startswith("s")]) <= ratelimit.CLEANUP_AFTER
