"""Custom contact events (``POST /contacts/{id}/events``) and the contact's timeline.

A custom event takes the contact's next sequence number like any change, so it is
published in order with the contact's other events; it is kept on the timeline table and
its last occurrence on the contact (``last_events``), which segments can test.
"""

from __future__ import annotations

import json
from typing import Any

from chalicelib.contacts import contacts, outbox
from chalicelib.contacts.common import ms_to_iso, now_ms
from chalicelib.contacts.meta import plain
from chalicelib.contacts.models import Contact, TimelineEntry, timeline_key
from chalicelib.contacts.request_models import ContactEventCreate

MAX_EVENT_NAMES = 100  # distinct names remembered per contact for segments (oldest dropped)


def record(account_id: int, identifier: str, found: Contact, event: ContactEventCreate) -> dict[str, Any]:
    """``found``: the contact ``identifier`` names (the route looks it up first: an unknown
    contact is a 404 before any 422)."""
    name, params = event.name, event.params
    at = now_ms()
    seen: dict[str, int] = {}

    def add_event(contact: Contact) -> list[dict[str, Any]]:
        last = plain(contact.last_events)
        last[name] = at
        if len(last) > MAX_EVENT_NAMES:
            last = dict(sorted(last.items(), key=lambda kv: kv[1])[-MAX_EVENT_NAMES:])
        contact.last_events = last
        contact.updated_at = at
        seen["seq"] = int(contact.seq or 0) + 1  # new events are numbered after the last one
        return [outbox.new_event(contact, "custom_event", {"name": name, "params": params}, "api", at)]

    contact = contacts.update_with_retry(account_id, identifier, add_event, found=found)
    TimelineEntry(timeline_key(account_id, contact.contact_id), seen["seq"], name=name,
                  params=json.dumps(params, separators=(",", ":")), at=at).save()
    return {"contact_id": contact.contact_id, "contact_email": contact.email, "name": name, "params": params}


def timeline(account_id: int, identifier: str, limit: int = 100) -> dict[str, Any]:
    """Custom events and list/status history, newest first."""
    contact = contacts.require(account_id, identifier)
    entries: list[dict[str, Any]] = []
    for item in TimelineEntry.query(timeline_key(account_id, contact.contact_id), scan_index_forward=False,
                                    limit=limit):
        entries.append({"type": "custom_event", "name": item.name, "params": json.loads(item.params),
                        "at": ms_to_iso(int(item.at))})
    for entry in contact.history or []:
        entry = dict(entry)
        at = entry.pop("at")
        kind = entry.pop("type")
        entries.append({"type": kind, **entry, "at": ms_to_iso(int(at))})
    entries.sort(key=lambda e: e["at"], reverse=True)
    return {"contact_id": contact.contact_id, "data": entries[:limit]}
