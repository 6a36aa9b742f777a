"""Events on a message and the status they lead to (seed: Statuses and Events).

The worker writes its own events (``queued``, ``sent``, ``retry``, ``reject``) as part of the
records it saves; everything that happens later (SES notifications through
``event_worker``, unsubscribes, opens, clicks) goes through ``apply``, a read-modify-write
guarded by the message's revision.

Only the spec's event types are shown (``public``: the email logs' MessageEvent,
``webhook_payload``: seed-C §4.3); ``queued``, ``sent`` and ``retry`` are the record's own
history (SES's message id, the configuration set, throttling) and stay inside.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pynamodb.exceptions import DoesNotExist, PutError

from chalicelib.core import clock, db
from chalicelib.sending import hooks, models
from chalicelib.sending.models import Message

MAX_EVENTS = 200  # opens and clicks can repeat; the counters keep counting past this
_CONFLICT_RETRIES = 5
ONCE_PER_MESSAGE = {"unsubscribe"}  # a repeated click of the link records nothing new

# The email logs' event types and the details each shows (mailtrap-openapi MessageEvent).
_DELIVERY_DETAILS = ("sending_ip", "recipient_mx", "email_service_provider")
PUBLIC_DETAILS: dict[str, tuple[str, ...]] = {
    "delivery": _DELIVERY_DETAILS,
    "open": ("web_ip_address",),
    "click": ("click_url", "web_ip_address"),
    "soft_bounce": _DELIVERY_DETAILS + ("email_service_provider_status", "email_service_provider_response",
                                        "bounce_category"),
    "spam": ("spam_feedback_type",),
    "unsubscribe": ("web_ip_address",),
    "suspension": ("reject_reason", "held_until", "limit"),  # mail held by a limit: until when, which
    "reject": ("reject_reason",),
}
PUBLIC_DETAILS["bounce"] = PUBLIC_DETAILS["soft_bounce"]
WEBHOOK_NAMES = {"soft_bounce": "soft bounce"}  # seed-C §9.6: webhooks spell it with a space

# event -> status it sets (None: counters only).
_STATUS_FOR = {
    "delivery": models.DELIVERED, "open": models.DELIVERED, "click": models.DELIVERED,
    "soft_bounce": models.SOFT_BOUNCED, "bounce": models.BOUNCED, "reject": models.REJECTED,
    "suspension": models.QUEUED, "unsubscribe": models.OPTED_OUT, "spam": models.OPTED_OUT,
}
# Precedence (seed-C §1.5): a status only gives way to one of the same or a higher rank, so
# events arriving out of order can't undo each other: a Delivery after a Bounce leaves it
# bounced, a delay after a Delivery leaves it delivered, an opt-out is final. ``failed``
# (never submitted, or the outcome of the submission unknown) ranks with the waiting ones:
# an SES notification about the message is the authority on what became of it.
_RANK = {
    models.QUEUED: 0, models.SENT: 0, models.SOFT_BOUNCED: 0, models.FAILED: 0,
    models.DELIVERED: 1, models.BOUNCED: 2, models.REJECTED: 2, models.OPTED_OUT: 3,
}


def event(event_type: str, details: dict[str, Any] | None = None, at: datetime | None = None,
          event_id: str | None = None) -> dict[str, Any]:
    out = {"event_type": event_type, "created_at": clock.iso(at or clock.now()), "details": details or {}}
    if event_type in PUBLIC_DETAILS:  # the id webhooks carry (seed-C §4.3: unique, stable across retries)
        out["event_id"] = event_id or str(uuid.uuid4())
    return out


def add(message: Message, event_type: str, details: dict[str, Any] | None = None, at: datetime | None = None,
        event_id: str | None = None) -> None:
    """Append an event to a loaded message (saved by the caller)."""
    events = list(message.events or [])
    added = event(event_type, details, at, event_id)
    events.append(added)
    message.events = events[-MAX_EVENTS:]
    if "event_id" in added:  # a public event: webhooks get it once the record is saved (hooks.events_saved)
        vars(message).setdefault("_unpublished", []).append(added)


def next_status(current: str, event_type: str) -> str:
    target = _STATUS_FOR.get(event_type)
    if target is None or _RANK.get(target, 0) < _RANK.get(current, 0):
        return current
    return target


def _already(message: Message, event_type: str, event_id: str | None) -> bool:
    for e in message.events or []:
        if (event_id and e.get("event_id") == event_id) or (
                event_type in ONCE_PER_MESSAGE and e.get("event_type") == event_type):
            return True
    return False


def record(message_id: str, event_type: str, details: dict[str, Any] | None = None, reason: str | None = None,
           event_id: str | None = None, at: datetime | None = None,
           message: Message | None = None) -> tuple[Message, bool]:
    """Record an event that happened to a message after it was sent; update status and counters.
    Returns the message and whether the event is new: one already recorded under
    ``event_id`` (a redelivered notification) changes nothing. ``message``: the record as
    just read (strongly consistent), saving the first read."""
    for _ in range(_CONFLICT_RETRIES):
        if message is None:
            try:
                message = Message.get(message_id, consistent_read=True)
            except DoesNotExist:
                raise LookupError(message_id) from None
        if _already(message, event_type, event_id):
            return message, False
        revision = message.revision  # None until the first event after sending
        add(message, event_type, details, at, event_id)
        message.status = next_status(message.status, event_type)
        if reason and message.status == _STATUS_FOR.get(event_type):
            message.status_reason = reason
        if event_type == "open":
            message.opens_count = (message.opens_count or 0) + 1
        elif event_type == "click":
            message.clicks_count = (message.clicks_count or 0) + 1
        message.revision = (revision or 0) + 1
        unchanged = Message.revision.does_not_exist() if revision is None else Message.revision == revision
        try:
            message.save(condition=unchanged)
            hooks.events_saved(message)
            return message, True
        except PutError as exc:
            if not db.condition_failed(exc):
                raise
        message = None  # changed meanwhile: read it again
    raise RuntimeError(f"message {message_id} kept changing; event {event_type} not recorded")


def apply(message_id: str, event_type: str, details: dict[str, Any] | None = None,
          reason: str | None = None) -> Message:
    """``record`` for callers that only need the message."""
    return record(message_id, event_type, details, reason)[0]


# ---------------------------------------------------------------- what is shown


def public(e: dict[str, Any]) -> dict[str, Any] | None:
    """An event as the email logs show it (MessageEvent), or None for the record's own ones."""
    fields = PUBLIC_DETAILS.get(e.get("event_type"))
    if fields is None:
        return None
    details = e.get("details") or {}
    return {"event_type": e["event_type"], "created_at": e.get("created_at"),
            "details": {k: details[k] for k in fields if details.get(k) is not None}}


def public_events(message: Message) -> list[dict[str, Any]]:
    return [shown for shown in map(public, message.events or []) if shown is not None]


def webhook_payload(message: Message, e: dict[str, Any]) -> dict[str, Any] | None:
    """An event as a sending webhook carries it (seed-C §4.3), or None if it is not one."""
    kind = e.get("event_type")
    if kind not in PUBLIC_DETAILS:
        return None
    details = e.get("details") or {}
    out: dict[str, Any] = {
        "event": WEBHOOK_NAMES.get(kind, kind), "message_id": message.message_id, "sending_stream": message.stream,
        "email": message.recipient, "sending_domain_name": message.domain_name,
        "timestamp": int(clock.parse_iso(e["created_at"]).timestamp()), "event_id": e.get("event_id"),
    }
    if message.category:
        out["category"] = message.category
    if message.custom_variables:
        out["custom_variables"] = message.custom_variables
    if kind in ("suspension", "reject"):
        out["reason"] = details.get("reject_reason")
    elif kind in ("soft_bounce", "bounce"):
        out["response"] = details.get("email_service_provider_response")
        out["response_code"] = details.get("response_code")
        out["bounce_category"] = details.get("bounce_category")
    elif kind in ("open", "click", "unsubscribe"):
        for key, name in (("web_ip_address", "ip"), ("user_agent", "user_agent"), ("click_url", "url")):
            if details.get(key) is not None:
                out[name] = details[key]
    return {k: v for k, v in out.items() if v is not None}
