"""The trigger matcher: contact events in, enrollments out; and the re-engagement sweep.

Contacts publish every change to the ``contact-events`` queue (docs/contact-events.md): a
message is ``{"events": [...]}``, each event ``{"id", "type": "contact.<kind>",
"account_id", "contact_id", "email", "occurred_at", "source", "data"}``. For each event
the matcher finds the account's active automations that were taking contacts when the
event occurred (periods.py: the queue may hold a backlog older than an activation, or from
before a pause) and whose trigger, as that version defines it, the event satisfies, and
enrolls the contact in that version, with the event's id as the trigger key (a redelivered
event resumes, never doubles, see enrollment.py). The 24-hour rule and the run quota apply
as for any entry. An account's automations are read again at least every second, so a
pause stops the enrollments still to be made within a second.

Re-engagement ("contact inactive for N days", Misar) has no event: an hourly schedule finds
contacts whose last activity (creation or a custom event, recorded here from the same
stream) is older than N days and enrolls each once per inactive spell.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from pynamodb.exceptions import DoesNotExist, PutError

from chalicelib.automations import definition as d
from chalicelib.automations import enrollment, periods
from chalicelib.automations.adapters import ContactView
from chalicelib.automations.counters import StatsBuffer
from chalicelib.automations.models import ACTIVE, Automation, ContactActivity, Entry
from chalicelib.core import clock

log = logging.getLogger("postline.automations.matcher")

CUSTOM_EVENT_KINDS = ("custom_event", "event", "event_received")
ACTIVITY_KINDS = ("created", *CUSTOM_EVENT_KINDS)


AUTOMATIONS_SECONDS = 1.0  # how long a batch trusts the account's automations it read


class Batch:
    """The records of one invocation: each account's automations read at most once a
    second (a pause must stop what is still to be matched), counters written once."""

    def __init__(self) -> None:
        self._active: dict[int, tuple[float, list[Automation]]] = {}
        self.stats = StatsBuffer()

    def active(self, account_id: int) -> list[Automation]:
        now = time.monotonic()
        cached = self._active.get(account_id)
        if cached is None or now - cached[0] > AUTOMATIONS_SECONDS:
            cached = self._active[account_id] = (now, active_automations(account_id))
        return cached[1]

    def handle(self, body: dict[str, Any]) -> None:
        handle(body, self)

    def flush(self) -> None:
        self.stats.flush()


def handle(body: dict[str, Any], batch: Batch | None = None) -> None:
    """One message of the contact-events queue (one or more events, in order)."""
    events = body.get("events") if isinstance(body.get("events"), list) else [body]
    own = batch is None
    batch = batch or Batch()
    try:
        for event in events:
            on_event(event, batch)
    finally:
        if own:
            batch.flush()


def on_event(event: dict[str, Any], batch: Batch | None = None) -> int:
    """Enroll the event's contact in every matching automation; returns how many runs started."""
    kind = str(event.get("type", "")).removeprefix("contact.")
    try:
        account_id = int(event["account_id"])
        contact = ContactView(str(event["contact_id"]), str(event.get("email") or ""))
    except (KeyError, TypeError, ValueError):
        log.warning("ignoring a contact event without account or contact: %s", str(event)[:200])
        return 0
    data = event.get("data") if isinstance(event.get("data"), dict) else {}
    occurred = _occurred(event)
    if occurred is None:
        log.warning("ignoring a contact event without a readable occurred_at: %s", str(event.get("id"))[:100])
    if kind in ACTIVITY_KINDS:
        record_activity(account_id, contact, occurred)
    own = batch is None
    batch = batch or Batch()
    started = 0
    try:
        for automation in batch.active(account_id):
            version = periods.version_at(automation, occurred)
            if version is None:
                continue  # not taking contacts when this happened (or paused since)
            trigger_type, config = _trigger(automation, version)
            trigger_data = matches(trigger_type, config, kind, data)
            if trigger_data is None:
                continue
            try:
                result = enrollment.enroll(automation, contact, trigger_type=trigger_type, trigger_data=trigger_data,
                                           trigger_key=str(event.get("id") or ""), stats=batch.stats,
                                           version=version)
            except enrollment.QuotaExceeded as exc:
                log.warning("account %s: %s; contact %s not enrolled in automation %s", account_id, exc.message,
                            contact.id, automation.automation_id)
                continue
            started += int(result.created)
    finally:
        if own:
            batch.flush()
    return started


def active_automations(account_id: int) -> list[Automation]:
    return list(Automation.query(account_id, filter_condition=Automation.status == ACTIVE, consistent_read=True))


def _trigger(automation: Automation, version: int) -> tuple[str, dict[str, Any]]:
    """The trigger of ``version`` (an edit may have changed it since the event occurred)."""
    if version == automation.active_version:
        return automation.trigger_type, automation.trigger_config or {}
    record = enrollment.version_record(automation, version)
    return record.trigger_type, record.trigger_config or {}


def matches(trigger: str, config: dict[str, Any], kind: str, data: dict[str, Any]) -> dict[str, Any] | None:
    """The run's trigger_data if this event starts an automation with this trigger, else None."""
    if trigger == d.CONTACT_CREATED and kind == "created":
        return {}
    if trigger == d.FIELD_UPDATED and kind == "field_updated":
        changes = data.get("changes") if isinstance(data.get("changes"), dict) else {}
        wanted = str(config.get("field", "")).lower()
        for name, change in changes.items():
            if name.lower() != wanted:
                continue
            old, new = (change.get("old"), change.get("new")) if isinstance(change, dict) else (None, change)
            if old == new and type(old) is type(new):
                return None  # seed-E §19 check 9: pro -> pro is no change
            return {"field": name, "old": old, "new": new}
        return None
    if trigger in (d.ADDED_TO_LIST, d.REMOVED_FROM_LIST):
        expected = "added_to_list" if trigger == d.ADDED_TO_LIST else "removed_from_list"
        list_ids = config.get("list_ids") or []
        try:
            list_id = int(data.get("list_id"))
        except (TypeError, ValueError):
            return None
        if kind == expected and (not list_ids or list_id in list_ids):
            return {"list_id": list_id}
        return None
    if trigger == d.CUSTOM_EVENT and kind in CUSTOM_EVENT_KINDS:
        name = data.get("name", data.get("event"))
        if name == config.get("event_name"):  # "should be equal to the event you pass via API"
            params = data.get("params", data.get("data"))
            return {"name": name, "params": params if isinstance(params, dict) else {}}
    return None


def _occurred(event: dict[str, Any]) -> datetime | None:
    try:
        return clock.parse_iso(str(event["occurred_at"]))
    except (KeyError, ValueError):
        return None


def record_activity(account_id: int, contact: ContactView, at=None) -> None:
    """Remember the contact's latest activity (an older event arriving late changes nothing)."""
    at = at or clock.now()
    item = ContactActivity(account_id, contact.id, email=contact.email or None, last_activity_at=at)
    try:
        item.save(condition=ContactActivity.contact_id.does_not_exist() | (ContactActivity.last_activity_at < at))
    except PutError:
        pass


def reengage() -> int:
    """Hourly: enroll contacts inactive for N days in each active re-engagement automation."""
    started = 0
    for automation in Automation.scan(
            (Automation.trigger_type == d.RE_ENGAGEMENT) & (Automation.status == ACTIVE)):
        started += reengage_one(automation)
    return started


def reengage_one(automation: Automation) -> int:
    days = int((automation.trigger_config or {}).get("inactive_days", 0))
    if days < 1:
        return 0
    cutoff = clock.now() - timedelta(days=days)
    started = 0
    for activity in _inactive(automation.account_id, cutoff):
        if _entered_since(automation, activity):
            continue  # already re-engaged during this inactive spell
        contact = ContactView(activity.contact_id, activity.email or "")
        key = f"reengage:{activity.contact_id}:{activity.last_activity_at.isoformat()}"
        try:
            result = enrollment.enroll(automation, contact, trigger_type=d.RE_ENGAGEMENT,
                                       trigger_data={"inactive_days": days,
                                                     "last_activity_at": clock.iso(activity.last_activity_at)},
                                       trigger_key=key)
        except enrollment.QuotaExceeded:
            break
        started += int(result.created)
    return started


def _inactive(account_id: int, cutoff) -> Iterable[ContactActivity]:
    return ContactActivity.by_activity.query(account_id, ContactActivity.last_activity_at < cutoff)


def _entered_since(automation: Automation, activity: ContactActivity) -> bool:
    try:
        entry = Entry.get(f"{automation.key}#{activity.contact_id}", consistent_read=True)
    except DoesNotExist:
        return False
    return entry.last_entered_at >= activity.last_activity_at
