"""Recording account activities and reading them back; each entry also goes to the account's
``audit_log`` webhooks (seed-C §4.3 ActivityLogWebhookEvent).

Recorded today: API tokens created, reset and deleted; sending domains created and deleted.
Capabilities call ``record`` after the change is saved; a failure to record is logged, never
raised (the change itself stands). This package sits just above core, below every capability
that records: the webhooks capability hears of each entry through ``on_recorded``, and the
accounts capability serves the list (it holds the permission rules).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from chalicelib.activity.models import ActivityEntry
from chalicelib.core import clock
from chalicelib.core.permissions import Principal

log = logging.getLogger("postline.activity")
KEEP = timedelta(days=365)
PAGE = 100
SYSTEM_ACTOR = {"name": "Mailtrap"}  # seed-C §4.3: what the system is called as an actor
Listener = Callable[[int, dict[str, Any]], Any]  # account id, the entry's payload
_listeners: dict[str, Listener] = {}


def on_recorded(name: str) -> Callable[[Listener], Listener]:
    """Register ``listener(account_id, payload)`` under ``name``, called after each entry is kept."""
    def decorate(listener: Listener) -> Listener:
        _listeners[name] = listener
        return listener
    return decorate


def actor_of(principal: Principal | None) -> dict[str, Any]:
    if principal is None:
        return dict(SYSTEM_ACTOR)
    return {"id": int(principal.token_id), "type": "api_token", "name": principal.token_name}


def record(account_id: int, principal: Principal | None, event: str, description: str,
           resource: dict[str, Any] | None = None, changes: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """Keep one activity (``event`` like ``api_token.created``; the ``activity_log.`` prefix is
    added) and queue it for the account's audit-log webhooks."""
    now = clock.now()
    payload: dict[str, Any] = {"event": f"activity_log.{event}", "description": description,
                               "actor": actor_of(principal), "timestamp": int(now.timestamp())}
    if resource:
        payload["resource"] = {**resource, "id": str(resource["id"])}  # seed-C §9.7: ids are strings
    if changes:
        payload["changes"] = changes
    try:
        ActivityEntry(int(account_id), f"{clock.iso(now)}#{uuid.uuid4()}", payload=payload, expires=now + KEEP).save()
        for listener in list(_listeners.values()):
            listener(int(account_id), payload)
    except Exception:
        log.exception("activity %s of account %s not recorded", event, account_id)
        return None
    return payload


def list_entries(account_id: int) -> list[dict[str, Any]]:
    """The account's last 100 activities, newest first."""
    return [e.payload for e in ActivityEntry.query(int(account_id), scan_index_forward=False, limit=PAGE)]
