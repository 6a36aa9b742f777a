"""Sending limits and throttling, enforced where mail leaves: the delivery worker's hooks.

Two kinds of limit (seed: Sending Limits):
- **Rates** (``sending_hold``): the account's hourly rate, each domain's per-minute share of
  the SES rate, and the deployment's SES rate. A dispatch that does not fit waits on its SQS
  queue (the worker re-enqueues it with the delay returned here, and shows the email log
  why and until when) and is sent later; it is never dropped. Capacity is reserved with
  one conditional ADD per window, so concurrent workers can't overshoot.
- **Caps** (``admit``): the daily cap (free plan) and the monthly quota. Usage is counted per
  recipient message (to, cc, bcc and auto-BCC copies each count, as billing does) when the
  worker clears them to go; recipients over a cap are rejected with the seeds' message. The
  owner is told once each at 80, 90 and 100 % of the monthly quota (notices.py).
Windows are UTC calendar hours, days and months (the billing cycle); counters expire by TTL.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pynamodb.exceptions import DoesNotExist, UpdateError

from chalicelib.accounts import service as accounts
from chalicelib.core import clock, db
from chalicelib.core.config import settings
from chalicelib.core.errors import NotFound
from chalicelib.core.permissions import VIEWER, Principal
from chalicelib.limits import notices, plans
from chalicelib.limits.models import AccountLimits, UsageWindow

log = logging.getLogger("postline.limits")

DAILY_LIMIT_REASON = "Your account has reached its daily sending limit."
MONTHLY_LIMIT_REASON = "Monthly messages limit reached"
CACHE_SECONDS = 60.0  # how long a process trusts an account's limits (operator changes apply within it)
MONTHLY_CHECK_SECONDS = 10.0  # how long a "monthly limit not reached" answer may be reused
JITTER_SECONDS = 30  # spread the dispatches that wake at a window boundary


@dataclass(frozen=True)
class Limits:
    plan: plans.Plan
    hourly: int | None
    daily: int | None
    monthly: int | None


# ---------------------------------------------------------------- the account's limits

_cache: dict[int, tuple[float, Limits]] = {}
_not_reached: dict[int, float] = {}  # account -> when its monthly quota was last seen not used up
_cache_lock = threading.Lock()


def _value(override: Any, default: int | None) -> int | None:
    if override is None:
        return default
    return None if int(override) < 0 else int(override)


def limits_for(account_id: int, fresh: bool = False) -> Limits:
    account_id = int(account_id)
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(account_id)
    if hit and not fresh and now - hit[0] < CACHE_SECONDS:
        return hit[1]
    try:
        override = AccountLimits.get(account_id)
    except DoesNotExist:
        override = None
    plan_key = (override.plan if override and override.plan else None) or settings().default_plan \
        or _account_plan(account_id)
    plan = plans.plan(plan_key)
    limits = Limits(plan,
                    _value(override.hourly if override else None, plan.hourly),
                    _value(override.daily if override else None, plan.daily),
                    _value(override.monthly if override else None, plan.monthly))
    with _cache_lock:
        _cache[account_id] = (now, limits)
    return limits


def _account_plan(account_id: int) -> str:
    try:
        return accounts.get_account(account_id).plan
    except NotFound:
        return plans.DEFAULT_PLAN


def set_limits(account_id: int, *, plan: str | None = None, **values: int | None) -> Limits:
    """Operator: move an account to a plan and/or set hourly, daily, monthly (-1: no limit)."""
    accounts.get_account(account_id)  # NotFound for an unknown account
    if plan is not None and plan not in plans.PLANS:
        raise ValueError(f"unknown plan {plan!r}; plans: {', '.join(plans.PLANS)}")
    try:
        item = AccountLimits.get(int(account_id))
    except DoesNotExist:
        item = AccountLimits(int(account_id))
    if plan is not None:
        item.plan = plan
    for name in ("hourly", "daily", "monthly"):
        if name in values:
            setattr(item, name, values[name])
    item.save()
    with _cache_lock:
        _not_reached.pop(int(account_id), None)
    return limits_for(account_id, fresh=True)  # replaces the cached limits


def forget_cached(account_id: int | None = None) -> None:
    """Drop what this process remembers of an account's limits (all accounts: None)."""
    with _cache_lock:
        if account_id is None:
            _cache.clear()
            _not_reached.clear()
        else:
            _cache.pop(int(account_id), None)
            _not_reached.pop(int(account_id), None)


# ---------------------------------------------------------------- windows


def _account_scope(account_id: int) -> str:
    return f"account#{int(account_id)}"


def _hour(now: datetime) -> tuple[str, datetime]:
    start = now.replace(minute=0, second=0, microsecond=0)
    return f"h{start:%Y-%m-%dT%H}", start + timedelta(hours=1)


def _day(now: datetime) -> tuple[str, datetime]:
    start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return f"d{start:%Y-%m-%d}", start + timedelta(days=1)


def cycle(now: datetime | None = None) -> tuple[datetime, datetime]:
    """The billing cycle containing ``now``: the UTC calendar month."""
    now = (now or clock.now()).astimezone(UTC)
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (start + timedelta(days=32)).replace(day=1)
    return start, end


def _month(now: datetime) -> tuple[str, datetime]:
    start, end = cycle(now)
    return f"m{start:%Y-%m}", end


def _minute(now: datetime) -> tuple[str, datetime]:
    start = now.replace(second=0, microsecond=0)
    return f"t{int(start.timestamp()) // 60}", start + timedelta(minutes=1)


def _reserve(scope: str, window: str, ends: datetime, count: int, limit: int) -> bool:
    """Add ``count`` to a window if it stays within ``limit``. A window nobody used yet takes
    any one reservation, so a dispatch larger than the whole limit still goes, alone."""
    room = limit - count
    condition = UsageWindow.used.does_not_exist() | (UsageWindow.used <= 0)
    if room >= 0:
        condition = condition | (UsageWindow.used <= room)
    try:
        UsageWindow(scope, window).update(
            actions=[UsageWindow.used.add(count), UsageWindow.expires.set(ends + timedelta(hours=2))],
            condition=condition)
        return True
    except UpdateError as exc:
        if db.condition_failed(exc):
            return False
        raise


def _add(scope: str, window: str, ends: datetime, count: int, keep: timedelta) -> int:
    return int(_add_window(scope, window, ends, count, keep).used)


def _add_window(scope: str, window: str, ends: datetime, count: int, keep: timedelta) -> UsageWindow:
    item = UsageWindow(scope, window)
    item.update(actions=[UsageWindow.used.add(count), UsageWindow.expires.set(ends + keep)])
    return item  # as it is now (the update returns every attribute)


def _wait(until: datetime, now: datetime) -> int:
    return max(1, int((until - now).total_seconds()) + 1 + random.randint(0, JITTER_SECONDS))


# ---------------------------------------------------------------- the worker's questions


@dataclass(frozen=True)
class Hold:
    """Why mail waits: which rate (``hourly``, ``domain_rate``, ``ses_rate``), until when, and
    how many seconds to put it back on its queue for (the window's end plus jitter)."""

    limit: str
    until: datetime
    seconds: int

    @property
    def reason(self) -> str:
        """What the email log says, e.g. "held by the hourly sending limit until 21:00 UTC"."""
        return f"held by {HOLD_NAMES[self.limit]} until {self.until.astimezone(UTC):%H:%M} UTC"


HOLD_NAMES = {"hourly": "the hourly sending limit", "domain_rate": "the sending domain's rate limit",
              "ses_rate": "the SES sending rate"}


def sending_hold(account_id: int, domain_id: int, count: int, hourly: bool = True) -> Hold | None:
    """None when the next ``count`` messages of this account and domain may go now (their
    room is reserved), else why and how long they must wait. The account's hourly rate
    first, then the domain's and SES's per-minute rates; a refusal gives back what was
    reserved before it. ``hourly=False``: the messages took their share of the hour already
    (a retry after SES throttling, a continuation), but each attempt still needs room in the
    current minute."""
    if count <= 0:
        return None
    now = clock.now()
    reserved: list[tuple[str, str, datetime]] = []
    checks: list[tuple[str, str, tuple[str, datetime], int | None]] = [
        ("domain_rate", f"domain#{int(account_id)}#{int(domain_id)}", _minute(now),
         _per_minute(settings().domain_send_rate)),
        ("ses_rate", "ses", _minute(now), _per_minute(settings().ses_max_send_rate)),
    ]
    if hourly:
        checks.insert(0, ("hourly", _account_scope(account_id), _hour(now), limits_for(account_id).hourly))
    for name, scope, (window, ends), limit in checks:
        if limit is None:
            continue
        if not _reserve(scope, window, ends, count, limit):
            for r_scope, r_window, r_ends in reserved:
                _add(r_scope, r_window, r_ends, -count, timedelta(hours=2))
            log.warning("account %s: %d messages held by %s (%d) until %s UTC", account_id, count,
                        HOLD_NAMES[name], limit, ends.astimezone(UTC).strftime("%H:%M"))
            return Hold(name, ends, _wait(ends, now))
        reserved.append((scope, window, ends))
    return None


def sending_delay(account_id: int, domain_id: int, count: int, hourly: bool = True) -> int:
    """Seconds the next ``count`` messages must wait (0: reserved, send now); see sending_hold."""
    hold = sending_hold(account_id, domain_id, count, hourly)
    return hold.seconds if hold else 0


def _per_minute(rate_per_second: float) -> int | None:
    return max(1, int(rate_per_second * 60)) if rate_per_second > 0 else None


def admit(account_id: int, count: int) -> tuple[int, str | None]:
    """Count ``count`` recipient messages against the day and the billing cycle. Returns how
    many may go (the first ones) and, if not all, the reason the rest are rejected."""
    if count <= 0:
        return 0, None
    limits = limits_for(account_id)
    now = clock.now()
    scope = _account_scope(account_id)
    month, month_end = _month(now)
    window = _add_window(scope, month, month_end, count, timedelta(days=400))  # kept for billing history
    total = int(window.used)
    over_month = max(0, total - limits.monthly) if limits.monthly is not None else 0
    over_day = 0
    day = day_end = None
    if limits.daily is not None:
        day, day_end = _day(now)
        over_day = max(0, _add(scope, day, day_end, count, timedelta(days=2)) - limits.daily)
    over = min(count, max(over_month, over_day))
    if over:
        _add(scope, month, month_end, -over, timedelta(days=400))  # what is rejected is not usage
        if day is not None:
            _add(scope, day, day_end, -over, timedelta(days=2))
    if limits.monthly:
        try:  # once counting is done: a notice that fails is logged, never a failure of the count
            notices.send_due(account_id, scope, month, limits.monthly, total, window.notified, month_end)
        except Exception:
            log.exception("usage notice for account %s not sent; the next counted message tries again", account_id)
    if not over:
        return count, None
    reason = MONTHLY_LIMIT_REASON if over_month >= over_day and over_month else DAILY_LIMIT_REASON
    log.warning("account %s: %d of %d messages refused: %s", account_id, over, count, reason)
    return count - over, reason


def monthly_used(account_id: int, now: datetime | None = None) -> int:
    month, _ = _month(now or clock.now())
    try:
        return int(UsageWindow.get(_account_scope(account_id), month).used)
    except DoesNotExist:
        return 0


def recently_not_reached(account_id: int, max_age: float) -> bool:
    """Whether the monthly quota was seen not used up within ``max_age`` seconds: no AWS
    call, so the SMTP ingress asks this on its event loop before paying a thread hop."""
    with _cache_lock:
        checked = _not_reached.get(int(account_id))
    return checked is not None and time.monotonic() - checked < max_age


def monthly_limit_reached(account_id: int, max_age: float = 0.0) -> bool:
    """Whether the account's monthly quota is used up. With ``max_age`` (seconds) a "not
    reached" answer up to that old is reused (the SMTP ingress asks on every AUTH and MAIL);
    "reached" is never reused, and set_limits/forget_cached drop what is remembered."""
    account_id = int(account_id)
    now = time.monotonic()
    if max_age > 0 and recently_not_reached(account_id, max_age):
        return False
    monthly = limits_for(account_id).monthly
    reached = monthly is not None and monthly_used(account_id) >= monthly
    with _cache_lock:
        if reached:
            _not_reached.pop(account_id, None)
            log.warning("account %s: monthly quota of %d used up; new mail is refused", account_id, monthly)
        else:
            _not_reached[account_id] = now
    return reached


# ---------------------------------------------------------------- billing usage


def billing_usage(principal: Principal) -> dict[str, Any]:
    """``GET /billing/usage`` in the shape the SDK's BillingCycleUsage parses."""
    accounts.require(principal, VIEWER)
    limits = limits_for(principal.account_id, fresh=True)
    start, end = cycle()
    return {
        "billing": {"cycle_start": clock.iso(start), "cycle_end": clock.iso(end - timedelta(milliseconds=1))},
        "testing": {
            "plan": {"name": limits.plan.name},
            "usage": {
                "sent_messages_count": {"current": 0, "limit": limits.plan.testing_sent},
                "forwarded_messages_count": {"current": 0, "limit": limits.plan.testing_forwarded},
            },
        },
        "sending": {
            "plan": {"name": limits.plan.name},
            "usage": {"sent_messages_count": {
                "current": monthly_used(principal.account_id),
                "limit": limits.monthly if limits.monthly is not None else 0,
            }},
        },
    }
