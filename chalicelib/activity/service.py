"""Recording account activities and reading them back; each entry also goes to the account's
``audit_log`` webhooks (seed-C §4.3 ActivityLogWebhookEvent).

Recorded today: API tokens created, reset and deleted; sending domains created and deleted.
Capabilities call ``record`` after the change is saved; a failure to record is logged, never
raised (the change itself stands).
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any

from chalicelib.accounts import service as accounts
from chalicelib.activity.models import ActivityEntry
from chalicelib.core import clock
from chalicelib.core.permissions import VIEWER, Principal

log = logging.getLogger("postline.activity")
KEEP = timedelta(days=365)
PAGE = 100
SYSTEM_ACTOR = {"name": "Mailtrap"}  # seed-C §4.3: what the system is called as an actor


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
        from chalicelib.webhooks import service as webhooks

        webhooks.publish_activity(int(account_id), payload)
    except Exception:
        log.exception("activity %s of account %s not recorded", event, account_id)
        return None
    return payload


def list_entries(principal: Principal) -> list[dict[str, Any]]:
    """The account's last 100 activities, newest first."""
    accounts.require(principal, VIEWER)
    return [e.payload for e in ActivityEntry.query(principal.account_id, scan_index_forward=False, limit=PAGE)]
