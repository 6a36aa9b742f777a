"""The local scheduler: schedules fire on their rate or cron, in UTC, with EventBridge's event."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from chalice import Chalice, Cron, Rate

from chalicelib.core import clock
from local.scheduler import ScheduleError, Scheduler, parse


def test_a_rate_schedule_fires_after_each_period():
    app = Chalice("schedule-test")
    fired: list[dict] = []
    ran = threading.Event()

    @app.schedule(Rate(1, unit=Rate.MINUTES))
    def every_minute(event):
        fired.append(event.to_dict())
        ran.set()

    scheduler = Scheduler(app, max_sleep=0.05).start()
    try:
        assert not ran.wait(0.3), "fired before its first period passed"
        clock.advance(timedelta(seconds=61))
        assert ran.wait(3), "did not fire once its period passed"
        ran.clear()
        assert not ran.wait(0.3), "fired twice for one period"
        clock.advance(timedelta(seconds=60))
        assert ran.wait(3), "did not fire in the next period"
    finally:
        scheduler.stop()
    event = fired[0]
    assert (event["detail-type"], event["source"]) == ("Scheduled Event", "aws.events")
    assert event["resources"] == ["arn:aws:events:us-east-1:123456789012:rule/every_minute"]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize("expression, after, expected", [
    ("rate(5 minutes)", "2030-01-01T10:00:00", "2030-01-01T10:05:00"),
    ("rate(1 day)", "2030-01-01T10:00:00", "2030-01-02T10:00:00"),
    ("cron(0 12 * * ? *)", "2030-01-01T12:00:00", "2030-01-02T12:00:00"),
    ("cron(15 10 ? * MON-FRI *)", "2030-01-05T09:00:00", "2030-01-07T10:15:00"),  # Saturday -> Monday
    ("cron(0/20 * * * ? *)", "2030-01-01T10:41:30", "2030-01-01T11:00:00"),
    ("cron(30 8 1 JAN,JUL ? 2031)", "2030-06-01T00:00:00", "2031-01-01T08:30:00"),
    ("cron(0 9 ? * 1 *)", "2030-01-01T00:00:00", "2030-01-06T09:00:00"),  # 1 = Sunday in AWS
])
def test_next_fire_time(expression, after, expected):
    assert parse(expression)(at(after)) == at(expected)


def test_chalice_schedule_objects_are_understood():
    assert parse(Cron(0, 3, "?", "*", "SUN", "*"))(at("2030-01-01T00:00:00")) == at("2030-01-06T03:00:00")


@pytest.mark.parametrize("expression", [
    "cron(0 0 L * ? *)", "cron(0 0 ? * 6#3 *)", "cron(0 0 * * * *)", "cron(0 0 * *)", "rate(0 minutes)",
    "every day",
])
def test_unsupported_schedules_fail_at_start(expression):
    app = Chalice("schedule-test")
    app.schedule(expression)(lambda event: None)
    with pytest.raises(ScheduleError):
        Scheduler(app)
