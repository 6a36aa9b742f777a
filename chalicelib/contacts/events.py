"""Custom contact events (``POST /contacts/{id}/events``) and the contact's timeline.

A custom event takes the contact's next sequence number like any change, so it is
published in order with the contact's other events; it is kept on the timeline table and
its last occurrence on the contact (``last_events``), which segments can test.
"""

from __future__ import annotations

import json
from typing import Any

from chalicelib.contacts import contacts, outbox
from chalicelib.contacts.common import MAX_TEXT, ms_to_iso, now_ms
from chalicelib.contacts.meta import plain
from chalicelib.contacts.models import Contact, TimelineEntry, timeline_key
from chalicelib.core.errors import Unprocessable

MAX_PARAMS = 50
MAX_EVENT_NAMES = 100  # distinct names remembered per contact for segments (oldest dropped)


def validate(body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """``{name, params}``; ``{event, data}`` (the seed's older form) is accepted too."""
    name = body.get("name", body.get("event"))
    params = body.get("params", body.get("data"))
    errors: dict[str, list[str]] = {}
    if name is None or (isinstance(name, str) and not name.strip()):
        errors["name"] = ["can't be blank"]
    elif not isinstance(name, str):
        errors["name"] = ["must be a string"]
    elif len(name) > MAX_TEXT:
        errors["name"] = ["is too long"]
    if params is None:
        params = {}
    if not isinstance(params, dict):
        errors["params"] = ["must be a hash"]
    else:
        problems = []
        if len(params) > MAX_PARAMS:
            problems.append(f"can have at most {MAX_PARAMS} keys")
        for key, value in params.items():
            if len(key) > MAX_TEXT:
                problems.append(f"key '{key[:40]}' is too long")
            if isinstance(value, str):
                if len(value) > MAX_TEXT:
                    problems.append(f"value for '{key}' is too long")
            elif value is not None and not isinstance(value, (bool, int, float)):
                problems.append(f"value for '{key}' must be a string, number, boolean or null")
        if problems:
            errors["params"] = problems
    if errors:
        raise Unprocessable(errors)
    return name.strip(), params


def record(account_id: int, identifier: str, body: dict[str, Any]) -> dict[str, Any]:
    found = contacts.require(account_id, identifier)  # an unknown contact is a 404 before any 422
    name, params = validate(body)
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
