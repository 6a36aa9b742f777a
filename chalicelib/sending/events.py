"""Events on a message and the status they lead to (seed: Statuses and Events).

The worker writes its own events (``queued``, ``sent``, ``retry``, ``reject``) as part of the
records it saves; everything that happens later (unsubscribe here; delivery, bounce, open,
click, spam from SES notifications in a later capability) goes through ``apply``, a
read-modify-write guarded by the message's revision.
"""

from __future__ import annotations

from typing import Any

from pynamodb.exceptions import DoesNotExist, PutError

from chalicelib.core import clock, db
from chalicelib.sending import models
from chalicelib.sending.models import Message

MAX_EVENTS = 200  # opens and clicks can repeat; the counters keep counting past this
_CONFLICT_RETRIES = 5
ONCE_PER_MESSAGE = {"unsubscribe"}  # a repeated click of the link records nothing new

# event -> status it sets (None: counters only). An opt-out is final for the status; open
# and click prove delivery (seed: Delivered <- Delivery, Open, Click).
_STATUS_FOR = {
    "delivery": models.DELIVERED, "open": models.DELIVERED, "click": models.DELIVERED,
    "soft_bounce": models.SOFT_BOUNCED, "bounce": models.BOUNCED, "reject": models.REJECTED,
    "suspension": models.QUEUED, "unsubscribe": models.OPTED_OUT, "spam": models.OPTED_OUT,
}


def event(event_type: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"event_type": event_type, "created_at": clock.iso(clock.now()), "details": details or {}}


def add(message: Message, event_type: str, details: dict[str, Any] | None = None) -> None:
    """Append an event to a loaded message (saved by the caller)."""
    events = list(message.events or [])
    events.append(event(event_type, details))
    message.events = events[-MAX_EVENTS:]


def _next_status(current: str, event_type: str) -> str:
    target = _STATUS_FOR.get(event_type)
    if target is None or current == models.OPTED_OUT:
        return current
    if target == models.DELIVERED and current in (models.BOUNCED, models.REJECTED, models.FAILED):
        return current
    return target


def apply(message_id: str, event_type: str, details: dict[str, Any] | None = None,
          reason: str | None = None) -> Message:
    """Record an event that happened to a message after it was sent; update status and counters."""
    for _ in range(_CONFLICT_RETRIES):
        try:
            message = Message.get(message_id, consistent_read=True)
        except DoesNotExist:
            raise LookupError(message_id) from None
        if event_type in ONCE_PER_MESSAGE and any(e.get("event_type") == event_type for e in message.events or []):
            return message  # a link used again: the message has this event already
        revision = message.revision  # None until the first event after sending
        add(message, event_type, details)
        message.status = _next_status(message.status, event_type)
        if reason:
            message.status_reason = reason
        if event_type == "open":
            message.opens_count = (message.opens_count or 0) + 1
        elif event_type == "click":
            message.clicks_count = (message.clicks_count or 0) + 1
        message.revision = (revision or 0) + 1
        unchanged = Message.revision.does_not_exist() if revision is None else Message.revision == revision
        try:
            message.save(condition=unchanged)
            return message
        except PutError as exc:
            if not db.condition_failed(exc):
                raise
    raise RuntimeError(f"message {message_id} kept changing; event {event_type} not recorded")
