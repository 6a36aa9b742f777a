"""Activation periods: which version of an automation was taking contacts, and since when.

An event enrolls a contact only into the version that was active at the moment the event
occurred, and only if the automation has stayed active since then. The contact-events
queue may hold a backlog (an import of 20,000 contacts takes minutes to match), so the
time that counts is the event's ``occurred_at``, never the time the matcher reads it:

- activating opens a period (``{"version", "from", "until": null}``); pausing, disabling or
  archiving closes it;
- an edit of an active automation closes the period of the old version and opens one for
  the new version at the same instant (``"continues": true``: the activation goes on);
- an event enrolls into the version of the period it falls in, provided that period and
  every one after it belong to the current activation. So an event older than the
  activation, one that happened while paused, and one that happened before a pause (and
  was still waiting in the queue) enroll nobody: pausing stops enrollments not yet made.

Times are kept at millisecond precision, as events carry them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib.automations.models import ACTIVE, Automation
from chalicelib.core import clock

KEEP = 50  # periods kept on the automation (older ones only ever explain history)


def _at(value: datetime) -> str:
    return clock.iso(value)


def open_period(automation: Automation, version: int, at: datetime, *, continues: bool = False) -> None:
    """``version`` takes contacts from ``at`` (closing whatever period was open)."""
    periods = close_period(automation, at)
    entry: dict[str, Any] = {"version": int(version), "from": _at(at), "until": None}
    if continues:
        entry["continues"] = True
    automation.active_periods = (periods + [entry])[-KEEP:]


def close_period(automation: Automation, at: datetime) -> list[dict[str, Any]]:
    """End the open period at ``at`` (pause, disable, archive); returns the periods."""
    periods = [dict(p) for p in _periods(automation)]
    if periods and periods[-1].get("until") is None:
        periods[-1]["until"] = _at(at)
    automation.active_periods = periods or None
    return periods


def _periods(automation: Automation) -> list[dict[str, Any]]:
    if automation.active_periods:
        return list(automation.active_periods)
    if automation.status == ACTIVE and automation.activated_at and automation.active_version:
        # activated before periods were recorded: one period since the last activation
        return [{"version": int(automation.active_version), "from": _at(automation.activated_at), "until": None}]
    return []


def version_at(automation: Automation, at: datetime | None) -> int | None:
    """The version an event that occurred at ``at`` enrolls into now; None: it enrolls nobody."""
    if at is None or automation.status != ACTIVE:
        return None
    periods = _periods(automation)
    if not periods or periods[-1].get("until") is not None:
        return None
    for period in reversed(periods):  # the current activation, newest first
        if clock.parse_iso(period["from"]) <= at:
            return int(period["version"])
        if not period.get("continues"):
            return None  # the event is older than the current activation
    return None


def to_wire(automation: Automation) -> list[dict[str, Any]]:
    return [{"version": p["version"], "from": p["from"], "until": p.get("until")} for p in _periods(automation)]
