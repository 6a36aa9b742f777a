"""Webhook rules: an account's endpoints, who may see their secrets, which events each wants.

A webhook is ``email_sending`` (one stream, optionally one domain, the event types it
wants) or ``audit_log`` (every activity of the account). Its signing secret (32 hex
characters) is made at creation, returned then, by ``reset_secret`` (the old one stops
signing at once) and in the webhook's details to the account's admins; lists never show it.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from pynamodb.exceptions import DoesNotExist

from chalicelib.accounts import service as accounts
from chalicelib.activity import service as activity
from chalicelib.core import clock, ids
from chalicelib.core.errors import NotFound, Unprocessable
from chalicelib.core.permissions import ADMIN, VIEWER, Principal
from chalicelib.sending import events, hooks
from chalicelib.webhooks import delivery
from chalicelib.webhooks.models import AUDIT_LOG, EMAIL_SENDING, EVENT_TYPES, Webhook
from chalicelib.webhooks.request_models import WebhookCreate, WebhookUpdate

SUBSCRIBERS_TTL_SECONDS = 10.0  # how long a process trusts its copy of an account's webhooks
TEST_TIMEOUT_SECONDS = 10.0  # run-a-test answers within the API's own time limit
_SENDING_ONLY = ("sending_stream", "event_types", "domain_id")


def new_secret() -> str:
    return secrets.token_hex(16)  # 32 hex characters (seed-C §4.1)


def to_wire(hook: Webhook, with_secret: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": int(hook.webhook_id), "url": hook.url, "active": bool(hook.active), "webhook_type": hook.webhook_type,
        "payload_format": hook.payload_format, "sending_stream": hook.sending_stream,
        "domain_id": None if hook.domain_id is None else int(hook.domain_id),
        "event_types": list(hook.event_types or []), "paused_reason": hook.paused_reason,
        "created_at": clock.iso(hook.created_at), "updated_at": clock.iso(hook.updated_at),
    }
    if with_secret:
        out["signing_secret"] = hook.signing_secret
    return out


def _get(principal: Principal, webhook_id: Any, level: int) -> Webhook:
    accounts.require(principal, level)
    try:
        return Webhook.get(principal.account_id, ids.path_id(webhook_id), consistent_read=True)
    except DoesNotExist:
        raise NotFound() from None


def _check_domain(principal: Principal, domain_id: int | None) -> None:
    if domain_id is None:
        return
    from chalicelib.domains import service as domains  # the domains capability owns domains

    try:
        domains.get_live(principal.account_id, domain_id)
    except NotFound:
        raise Unprocessable.field("domain_id", "is not a sending domain of this account") from None


def _check_shape(hook: Webhook) -> None:
    """The rules that join fields: what each webhook type needs and refuses."""
    errors: dict[str, list[str]] = {}
    if hook.webhook_type == EMAIL_SENDING:
        if not hook.sending_stream:
            errors["sending_stream"] = ["can't be blank"]
        if not hook.event_types:
            errors["event_types"] = ["can't be blank"]
    else:
        for name in _SENDING_ONLY:
            if getattr(hook, name):
                errors[name] = [f"must be blank for {hook.webhook_type} webhooks"]
    if errors:
        raise Unprocessable(errors)


def list_webhooks(principal: Principal) -> list[dict[str, Any]]:
    accounts.require(principal, VIEWER)
    return [to_wire(h) for h in Webhook.query(principal.account_id)]


def get(principal: Principal, webhook_id: Any) -> dict[str, Any]:
    hook = _get(principal, webhook_id, VIEWER)
    return to_wire(hook, with_secret=principal.can(ADMIN))


def create(principal: Principal, params: WebhookCreate) -> dict[str, Any]:
    accounts.require(principal, ADMIN)
    _check_domain(principal, params.domain_id)
    hook = Webhook(principal.account_id, ids.next_id("webhook"), url=params.url, webhook_type=params.webhook_type,
                   payload_format=params.payload_format, active=params.active,
                   sending_stream=params.sending_stream, domain_id=params.domain_id,
                   event_types=params.event_types, signing_secret=new_secret())
    _check_shape(hook)
    hook.save(condition=Webhook.account_id.does_not_exist())
    forget_subscribers(principal.account_id)
    return to_wire(hook, with_secret=True)


def update(principal: Principal, webhook_id: Any, params: WebhookUpdate) -> dict[str, Any]:
    hook = _get(principal, webhook_id, ADMIN)
    sent = params.model_fields_set
    if "domain_id" in sent:
        _check_domain(principal, params.domain_id)
    for name in ("url", "payload_format", "sending_stream", "event_types", "domain_id"):
        if name in sent:
            setattr(hook, name, getattr(params, name))
    if "active" in sent and params.active is not None:
        _set_active(hook, params.active)
    _check_shape(hook)
    hook.save()
    forget_subscribers(principal.account_id)
    return to_wire(hook)


def _set_active(hook: Webhook, active: bool) -> None:
    hook.active = active
    if active:
        hook.paused_reason = None


def delete(principal: Principal, webhook_id: Any) -> dict[str, Any]:
    hook = _get(principal, webhook_id, ADMIN)
    hook.delete()
    forget_subscribers(principal.account_id)
    return to_wire(hook)


def set_active(principal: Principal, webhook_id: Any, active: bool) -> dict[str, Any]:
    """Pause or resume (resuming clears the reason the system paused it for)."""
    hook = _get(principal, webhook_id, ADMIN)
    _set_active(hook, active)
    hook.save()
    forget_subscribers(principal.account_id)
    return to_wire(hook)


def reset_secret(principal: Principal, webhook_id: Any) -> dict[str, Any]:
    """A new secret; the old one signs nothing from now on (retries are signed when sent)."""
    hook = _get(principal, webhook_id, ADMIN)
    hook.signing_secret = new_secret()
    hook.save()
    return to_wire(hook, with_secret=True)


def history(principal: Principal, webhook_id: Any) -> list[dict[str, Any]]:
    hook = _get(principal, webhook_id, VIEWER)
    return delivery.history(hook.account_id, hook.webhook_id)


# seed-C §4.3: the delivery example, with a fresh event id each run.
def sample_event(hook: Webhook) -> dict[str, Any]:
    if hook.webhook_type == AUDIT_LOG:
        return {"event": "activity_log.webhook.test", "description": "sent a test webhook",
                "actor": {"name": "Mailtrap"}, "timestamp": int(clock.now().timestamp())}
    return {"event": "delivery", "message_id": "1df37d17-0286-4d8b-8edf-bc4ec5be86e6",
            "sending_stream": hook.sending_stream or "transactional", "email": "receiver@example.com",
            "sending_domain_name": "examplesender.com", "timestamp": int(clock.now().timestamp()),
            "event_id": ids.new_uuid(), "category": "Password reset", "custom_variables": {"user_id": "123"}}


def run_test(principal: Principal, webhook_id: Any) -> dict[str, Any]:
    """Post a sample batch now (paused or not) and report the receiver's answer; recorded
    in the history like any request, never retried."""
    hook = _get(principal, webhook_id, ADMIN)
    body, content_type = delivery.encode([sample_event(hook)], hook.payload_format)
    outcome = delivery.post(hook.url, body, content_type, hook.signing_secret, timeout=TEST_TIMEOUT_SECONDS)
    delivery.attempt_item(hook, "test", 1, 1, outcome, clock.now()).save()
    return outcome.to_wire()


# ------------------------------------------------------------------ who wants an event

_cache: dict[int, tuple[float, list[Webhook]]] = {}
_cache_lock = threading.Lock()


def forget_subscribers(account_id: int) -> None:
    with _cache_lock:
        _cache.pop(int(account_id), None)


def _account_webhooks(account_id: int) -> list[Webhook]:
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(int(account_id))
    if hit and hit[0] > now:
        return hit[1]
    found = [h for h in Webhook.query(int(account_id)) if h.active]
    with _cache_lock:
        _cache[int(account_id)] = (now + SUBSCRIBERS_TTL_SECONDS, found)
    return found


def sending_subscribers(account_id: int, domain_id: int | None, stream: str, event_type: str) -> list[int]:
    """The active ``email_sending`` webhooks that want this event (its type, its stream,
    its domain or every domain)."""
    out = []
    for hook in _account_webhooks(account_id):
        if hook.webhook_type != EMAIL_SENDING or hook.sending_stream != stream:
            continue
        if hook.domain_id is not None and domain_id is not None and int(hook.domain_id) != int(domain_id):
            continue
        if any(EVENT_TYPES.get(name) == event_type for name in hook.event_types or []):
            out.append(int(hook.webhook_id))
    return out


@dataclass(frozen=True)
class SendingEvent:
    account_id: int
    domain_id: int | None
    stream: str
    event_type: str  # the sending capability's type (``soft_bounce``, ``spam``...)
    payload: dict[str, Any]  # seed-C §4.3


@hooks.on_events_saved("webhooks")
def _events_saved(saved: list[tuple[Any, dict[str, Any]]]) -> None:
    """Sending saved these public events: each goes to the webhooks that want it, as its
    seed-C §4.3 payload."""
    found = []
    for message, event in saved:
        payload = events.webhook_payload(message, event)
        if payload is not None:
            found.append(SendingEvent(int(message.account_id), message.domain_id, message.stream,
                                      event["event_type"], payload))
    if found:
        publish_sending_events(found)


def publish_sending_events(found: list[SendingEvent]) -> int:
    """Queue each sending event for every webhook that wants it; returns how many records."""
    records = [delivery.record(e.account_id, webhook_id, e.payload) for e in found
               for webhook_id in sending_subscribers(e.account_id, e.domain_id, e.stream, e.event_type)]
    delivery.publish(records)
    return len(records)


@activity.on_recorded("webhooks")
def publish_activity(account_id: int, payload: dict[str, Any]) -> int:
    """Queue an activity-log entry (seed-C §4.3) for the account's active ``audit_log`` webhooks."""
    wanted = [int(h.webhook_id) for h in _account_webhooks(account_id) if h.webhook_type == AUDIT_LOG]
    delivery.publish([delivery.record(account_id, w, payload) for w in wanted])
    return len(wanted)
