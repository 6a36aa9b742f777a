"""Runs every ``@app.schedule`` handler on its EventBridge schedule, in UTC.

Supports ``rate(n unit)`` and six-field ``cron(min hour day-of-month month day-of-week
year)`` with ``*``, ``?``, lists, ranges, steps and month/day names. Forms it cannot
compute (``L``, ``W``, ``#``) fail at start rather than silently never firing. A rate
schedule first fires one period after start, as a new EventBridge rule does. Time comes
from chalicelib.core.clock, so tests move it with ``clock.advance``.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from chalice.app import Chalice, ScheduledEventConfig, ScheduleExpression
from chalice.local import LambdaContext

from chalicelib.core import clock
from chalicelib.core.config import settings

log = logging.getLogger("postline.local.scheduler")

LOCAL_ACCOUNT_ID = "123456789012"  # moto's default account
_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$", re.IGNORECASE)
_CRON = re.compile(r"^cron\((.*)\)$", re.IGNORECASE)
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_MONTHS = {m: i for i, m in enumerate(
    ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], start=1)}
_DAYS = {d: i for i, d in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"], start=1)}  # AWS: 1 = Sunday
MAX_YEARS_AHEAD = 10


class ScheduleError(ValueError):
    pass


def _field(text: str, low: int, high: int, names: dict[str, int] | None = None) -> set[int] | None:
    """Values a cron field allows; None means any (``*`` or ``?``)."""
    text = text.strip().upper()
    if text in ("*", "?"):
        return None
    values: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if base == "*":
            start, end = low, high
        elif "-" in base:
            a, b = base.split("-", 1)
            start, end = _value(a, names), _value(b, names)
        else:
            start = _value(base, names)
            end = high if step_text else start
        if not (low <= start <= end <= high) or step < 1:
            raise ScheduleError(f"cron field {text!r}: values must be ascending within {low}-{high}")
        values.update(range(start, end + 1, step))
    return values


def _value(token: str, names: dict[str, int] | None) -> int:
    if names and token in names:
        return names[token]
    try:
        return int(token)
    except ValueError:
        if "#" in token or token.endswith(("L", "W")):
            raise ScheduleError(f"cron value {token!r}: L, W and # are not supported locally") from None
        raise ScheduleError(f"cron value {token!r} is not understood") from None


@dataclass(frozen=True)
class Cron:
    minutes: set[int] | None
    hours: set[int] | None
    days: set[int] | None
    months: set[int] | None
    weekdays: set[int] | None  # AWS numbering: 1 = Sunday ... 7 = Saturday
    years: set[int] | None

    @classmethod
    def parse(cls, fields: str) -> Cron:
        parts = fields.split()
        if len(parts) != 6:
            raise ScheduleError(f"cron({fields}) needs 6 fields: minutes hours day-of-month month day-of-week year")
        if parts[2] != "?" and parts[4] != "?":
            raise ScheduleError(f"cron({fields}): one of day-of-month and day-of-week must be '?'")
        return cls(_field(parts[0], 0, 59), _field(parts[1], 0, 23), _field(parts[2], 1, 31),
                   _field(parts[3], 1, 12, _MONTHS), _field(parts[4], 1, 7, _DAYS), _field(parts[5], 1970, 2199))

    def _day_matches(self, day: date) -> bool:
        aws_weekday = (day.isoweekday() % 7) + 1  # Monday=1..Sunday=7 -> Sunday=1..Saturday=7
        return ((self.years is None or day.year in self.years)
                and (self.months is None or day.month in self.months)
                and (self.days is None or day.day in self.days)
                and (self.weekdays is None or aws_weekday in self.weekdays))

    def next_after(self, moment: datetime) -> datetime:
        """The first matching minute strictly after ``moment`` (UTC)."""
        start = moment.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
        hours = sorted(self.hours) if self.hours is not None else range(24)
        minutes = sorted(self.minutes) if self.minutes is not None else range(60)
        day = start.date()
        for _ in range(366 * MAX_YEARS_AHEAD):
            if self._day_matches(day):
                for hour in hours:
                    for minute in minutes:
                        candidate = datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)
                        if candidate >= start:
                            return candidate
            day += timedelta(days=1)
        raise ScheduleError(f"cron never fires in the next {MAX_YEARS_AHEAD} years")


@dataclass
class Job:
    name: str  # handler name in app.handler_map
    expression: str
    next_due: Callable[[datetime], datetime]  # given the last due time, the next one
    due: datetime = field(default_factory=clock.now)
    running: threading.Thread | None = None


def parse(expression: str | ScheduleExpression) -> Callable[[datetime], datetime]:
    """The function from one fire time to the next; raises ScheduleError if not understood."""
    text = expression if isinstance(expression, str) else expression.to_string()
    rate = _RATE.match(text.strip())
    if rate:
        value, unit = int(rate.group(1)), rate.group(2).lower().rstrip("s")
        if value < 1:
            raise ScheduleError(f"{text}: the rate must be at least 1")
        period = timedelta(seconds=value * _UNIT_SECONDS[unit])
        return lambda last: last + period
    cron = _CRON.match(text.strip())
    if cron:
        return Cron.parse(cron.group(1)).next_after
    raise ScheduleError(f"schedule expression {text!r} is not understood")


def scheduled_event(job: Job, when: datetime) -> dict[str, Any]:
    """The EventBridge "Scheduled Event" Lambda receives."""
    region = settings().region
    return {
        "version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
        "account": LOCAL_ACCOUNT_ID, "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"), "region": region,
        "resources": [f"arn:aws:events:{region}:{LOCAL_ACCOUNT_ID}:rule/{job.name}"], "detail": {},
    }


class Scheduler:
    def __init__(self, app: Chalice, function_prefix: str = "", max_sleep: float = 1.0) -> None:
        self.app, self.function_prefix, self.max_sleep = app, function_prefix, max_sleep
        now = clock.now()
        self.jobs: list[Job] = []
        for source in app.event_sources:
            if isinstance(source, ScheduledEventConfig):
                expression = source.schedule_expression
                text = expression if isinstance(expression, str) else expression.to_string()
                next_due = parse(expression)
                self.jobs.append(Job(source.name, text, next_due, due=next_due(now)))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scheduler", daemon=True)

    def start(self) -> Scheduler:
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        deadline = time.monotonic() + timeout
        self._thread.join(timeout)
        for job in self.jobs:
            if job.running is not None:
                job.running.join(max(0.0, deadline - time.monotonic()))

    def running(self) -> list[str]:
        """Schedules whose run has not finished."""
        return [job.name for job in self.jobs if job.running is not None and job.running.is_alive()]

    def _run(self) -> None:
        # Wake at least every max_sleep so a clock moved by a test (or a suspended laptop) is seen.
        while not self._stop.is_set():
            self.tick()
            self._stop.wait(self.max_sleep)

    def tick(self) -> list[str]:
        """Fire every job that is due now; returns their names."""
        now = clock.now()
        fired = []
        for job in self.jobs:
            if job.due > now:
                continue
            when = job.due
            while job.due <= now:  # after a long sleep, fire once, not once per missed period
                job.due = job.next_due(job.due)
            if job.running is not None and job.running.is_alive():
                log.warning("schedule %s is due but its previous run has not finished; skipped", job.name)
                continue
            job.running = threading.Thread(target=self._invoke, args=(job, when), name=f"schedule:{job.name}",
                                           daemon=True)
            job.running.start()
            fired.append(job.name)
        return fired

    def _invoke(self, job: Job, when: datetime) -> None:
        context = LambdaContext(f"{self.function_prefix}{job.name}", memory_size=128, max_runtime_ms=900_000)
        try:
            result = self.app.handler_map[job.name](scheduled_event(job, when), context)
            log.debug("schedule %s ran: %s", job.name, result)  # the app logs each run (core.logs)
        except Exception:
            log.exception("schedule %s failed", job.name)
