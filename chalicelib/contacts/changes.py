"""What a request asks to change on a contact, and applying it: the one place where fields,
list membership and status change and where each change becomes an event.

The API, imports and bulk actions all go through ``apply``, so the same rules (no manual
resubscribe, typed values, list history) and the same events hold whatever the entry point.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chalicelib.contacts import fields as fields_mod
from chalicelib.contacts import outbox
from chalicelib.contacts.common import now_ms
from chalicelib.contacts.meta import plain
from chalicelib.contacts.models import Contact
from chalicelib.core.errors import Unprocessable

STATUSES = ("subscribed", "unsubscribed", "pending", "bounced")
MAX_HISTORY = 100
NOT_RESUBSCRIBABLE = {
    "unsubscribed": "an unsubscribed contact can't be resubscribed manually; they must sign up again",
    "bounced": "a bounced contact can't be resubscribed through the API",
}


@dataclass
class Change:
    values: dict[str, Any] = field(default_factory=dict)  # "f<id>" -> converted value, None clears
    add_lists: set[int] = field(default_factory=set)
    remove_lists: set[int] = field(default_factory=set)
    unsubscribed: bool | None = None
    status: str | None = None  # only when creating: "subscribed" (default) or "pending"


class Refused(Exception):
    """A change the rules refuse, with the 422 errors to report."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(errors)
        self.errors = errors

    def to_error(self) -> Unprocessable:
        return Unprocessable(self.errors)


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def _normalised(schema: fields_mod.Schema, key: str, value: Any) -> Any:
    found = schema.by_key.get(key)
    if found is None or value is None:
        return value
    try:
        return fields_mod.convert(found.data_type, value)
    except ValueError:
        return value


def _remember(contact: Contact, entry: dict[str, Any]) -> None:
    history = list(contact.history or [])
    history.append(entry)
    contact.history = history[-MAX_HISTORY:]


def apply(contact: Contact, change: Change, schema: fields_mod.Schema, *, source: str,
          created: bool) -> list[dict[str, Any]]:
    """Change ``contact`` in place; returns its new events (not yet numbered).

    A request to resubscribe an unsubscribed or bounced contact is refused. Imports never
    ask for a status (their Change leaves ``unsubscribed`` as None), so an import never
    resubscribes.
    """
    at = int(contact.created_at) if created else now_ms()  # a new contact: one instant for all
    events: list[dict[str, Any]] = []

    # status
    previous_status = contact.status
    if created:
        contact.status = change.status or "subscribed"
        if change.unsubscribed:
            contact.status = "unsubscribed"
    elif change.unsubscribed is True and contact.status != "unsubscribed":
        contact.status = "unsubscribed"
    elif change.unsubscribed is False and contact.status in NOT_RESUBSCRIBABLE:
        raise Refused({"unsubscribed": [NOT_RESUBSCRIBABLE[contact.status]]})

    # fields
    stored = plain(contact.fields)
    changed: dict[str, dict[str, Any]] = {}
    for key, value in change.values.items():
        old = _normalised(schema, key, stored.get(key))
        if value is None:
            if key in stored:
                del stored[key]
                changed[key] = {"old": old, "new": None}
        elif not _same(old, value):
            stored[key] = value
            changed[key] = {"old": old, "new": value}
    contact.fields = stored

    # lists
    current = set(int(i) for i in (contact.list_ids or ()))
    added = sorted(change.add_lists - current)
    removed = sorted((change.remove_lists - change.add_lists) & current)
    members = (current | set(added)) - set(removed)
    contact.list_ids = members or None

    if created:
        events.append(outbox.new_event(contact, "created", {"status": contact.status}, source, at))
    elif changed:
        events.append(outbox.new_event(contact, "field_updated", {"changes": {
            (schema.by_key[k].merge_tag if k in schema.by_key else k): {"field_id": int(k[1:]), **v}
            for k, v in changed.items()}}, source, at))
    for list_id in added:
        events.append(outbox.new_event(contact, "added_to_list", {"list_id": list_id}, source, at))
        _remember(contact, {"at": at, "type": "added_to_list", "list_id": list_id, "source": source})
    for list_id in removed:
        events.append(outbox.new_event(contact, "removed_from_list", {"list_id": list_id}, source, at))
        _remember(contact, {"at": at, "type": "removed_from_list", "list_id": list_id, "source": source})
    if not created and contact.status != previous_status:
        events.append(_status_changed(contact, previous_status, source, at))
    if events or created:
        contact.updated_at = at
    return events


def set_status(contact: Contact, status: str, source: str) -> list[dict[str, Any]]:
    """System status changes (bounces, double opt-in confirmation); not an API input."""
    if status not in STATUSES or contact.status == status:
        return []
    previous = contact.status
    if previous == "unsubscribed":
        return []  # only the contact can undo an unsubscribe, by signing up again
    at = now_ms()
    contact.status = status
    contact.updated_at = at
    return [_status_changed(contact, previous, source, at)]


def _status_changed(contact: Contact, previous: str, source: str, at: int) -> dict[str, Any]:
    """Record a status change (already made on ``contact``) in its history; returns its event."""
    _remember(contact, {"at": at, "type": "status", "old": previous, "new": contact.status, "source": source})
    kind = "unsubscribed" if contact.status == "unsubscribed" else "status_changed"
    return outbox.new_event(contact, kind, {"old": previous, "new": contact.status}, source, at)
