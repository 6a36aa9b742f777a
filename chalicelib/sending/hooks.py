"""Decisions the delivery worker asks other capabilities for, each behind one named function.

- ``suppressions_check``: may each recipient get mail from this domain on this stream? The
  suppressions capability answers (hard bounces, spam complaints, unsubscribes, manual
  entries; per domain and stream, ``any`` covering both). Recipients it clears are then
  counted against the account's daily cap and monthly quota (chalicelib/limits): usage is
  per recipient, and mail over a cap is rejected with the seeds' message, not sent.
- ``sending_hold``: whether a dispatch must wait for the account's hourly rate or the
  domain's and SES's sending rates, which one and until when (seed: Sending Limits; over
  the hourly rate mail is queued, never dropped).
- ``sending_domain_block``: why the dispatch's sending domain may not send now (its DNS
  records stopped verifying past the grace period, it lost compliance, it was deleted),
  asked at every delivery attempt: mail accepted earlier waits for it (seed: Suspension).
- ``quota_refusal``: why the account may not hand in more mail at all (its monthly quota
  is used up), asked when a send or batch call arrives, as the SMTP ingress asks at AUTH.
- ``record_delivery_event``, ``is_hard_bounce``, ``contact_bounced``: what an SES notification
  means for the suppression list and the contact (the events worker asks).
- ``email_engaged``: a message was opened or clicked for the first time; the automations
  capability counts it for the step that sent it, if one did.

Suppressions and limits sit below sending, which asks them directly. Contacts and
automations sit above it: they register a listener (``on_hard_bounce``, ``on_engagement``)
that ``contact_bounced`` and ``email_engaged`` call, so sending never imports them.
- ``record_unsubscribe``: an unsubscribe link was used; the suppressions capability keeps
  opt-outs as ``unsubscription`` suppressions, so the list shows them and reactivating one
  lets mail through again.
- ``events_saved``: a message record with new public events was saved; the webhooks
  capability (above sending) listens with ``on_events_saved`` and queues each for every
  webhook subscribed to it (seed-C §4).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

EngagementListener = Callable[[int, "dict[str, Any] | None", str], Any]  # account id, custom variables, type
BounceListener = Callable[[int, str], Any]  # account id, recipient
SavedListener = Callable[[list[tuple[Any, dict[str, Any]]]], Any]  # [(message, public event)]
_engagement_listeners: dict[str, EngagementListener] = {}
_bounce_listeners: dict[str, BounceListener] = {}
_saved_listeners: dict[str, SavedListener] = {}


def on_engagement(name: str) -> Callable[[EngagementListener], EngagementListener]:
    """Register ``listener(account_id, custom_variables, event_type)`` under ``name`` (one per
    capability; re-registering replaces it), called at a message's first open or click."""
    def decorate(listener: EngagementListener) -> EngagementListener:
        _engagement_listeners[name] = listener
        return listener
    return decorate


def on_hard_bounce(name: str) -> Callable[[BounceListener], BounceListener]:
    """Register ``listener(account_id, email)`` under ``name``, called when a marketing message
    to ``email`` hard-bounced."""
    def decorate(listener: BounceListener) -> BounceListener:
        _bounce_listeners[name] = listener
        return listener
    return decorate


def on_events_saved(name: str) -> Callable[[SavedListener], SavedListener]:
    """Register ``listener([(message, event), ...])`` under ``name``, called with the public
    events of message records once they are saved."""
    def decorate(listener: SavedListener) -> SavedListener:
        _saved_listeners[name] = listener
        return listener
    return decorate


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str | None = None


ALLOWED = Verdict(True)


def suppressions_check(account_id: int, domain_id: int, stream: str, emails: list[str],
                       count_usage: bool = True) -> dict[str, Verdict]:
    """A verdict per address (lower case) for one domain and stream, asked once per dispatch.
    ``count_usage=False``: the messages were counted when first cleared (a retry after SES
    deferred them); only the suppressions are asked again."""
    from chalicelib.limits import service as limits
    from chalicelib.suppressions import service as suppressions

    found = suppressions.blocked(account_id, domain_id, stream, emails)
    verdicts = {e.lower(): Verdict(False, suppressions.reject_reason(found[e.lower()]))
                for e in emails if e.lower() in found}
    cleared = [e.lower() for e in emails if e.lower() not in found]  # one per message
    admitted, reason = limits.admit(account_id, len(cleared)) if count_usage else (len(cleared), None)
    for email in cleared[:admitted]:
        verdicts.setdefault(email, ALLOWED)
    for email in cleared[admitted:]:
        verdicts[email] = Verdict(False, reason)
    return verdicts


def sending_hold(account_id: int, domain_id: int, count: int, hourly: bool = True) -> Any:
    """None when ``count`` more messages may go out now (capacity reserved), else a
    ``limits.Hold``: ``seconds`` to wait, ``reason`` for the email log, ``until``, ``limit``.
    ``hourly=False``: already counted against the account's hour; the per-minute rates still apply."""
    from chalicelib.limits import service as limits

    return limits.sending_hold(account_id, domain_id, count, hourly)


def sending_domain_block(account_id: int, domain_id: int) -> tuple[str | None, bool]:
    """(why mail from this domain can't go now, completing "<domain> can't send because ...",
    or None; whether that is final: the domain is gone)."""
    from chalicelib.core.errors import NotFound
    from chalicelib.domains import service as domains

    try:
        domain = domains.get_live(account_id, domain_id)
    except NotFound:
        return "it has been deleted", True
    return domains.blocked_reason(domain), False


def quota_refusal(account_id: int) -> str | None:
    """The seeds' message when the account's monthly quota is used up, else None."""
    from chalicelib.limits import service as limits

    return limits.MONTHLY_LIMIT_REASON if limits.monthly_limit_reached(account_id) else None


def email_engaged(message: Any, event_type: str) -> None:
    """The first ``open`` or ``click`` of ``message`` (called once per message and type)."""
    for listener in list(_engagement_listeners.values()):
        listener(message.account_id, message.custom_variables, event_type)


def record_unsubscribe(message: Any) -> None:
    """An unsubscribe from ``message``'s domain and stream (called by the unsubscribe link)."""
    record_delivery_event(message, "unsubscribe")


def record_delivery_event(message: Any, event_type: str, bounce_category: str | None = None,
                          details: dict[str, Any] | None = None) -> None:
    """An SES notification about ``message``: the suppressions capability applies its rules
    (hard bounces of the suppressing categories, spam complaints, unsubscribes)."""
    from chalicelib.suppressions import service as suppressions

    suppressions.record_delivery_event(message, event_type, bounce_category, details)


def is_hard_bounce(bounce_category: str | None) -> bool:
    """Whether a bounce of this category is about the address itself (seed-C §2.2: the
    categories that suppress), rather than the sender, the content or the moment."""
    from chalicelib.suppressions import service as suppressions

    return bounce_category in suppressions.SUPPRESSING_BOUNCE_CATEGORIES


def contact_bounced(account_id: int, email: str) -> None:
    """A marketing message to ``email`` hard-bounced: the contact, if there is one, becomes
    ``bounced`` (the contacts capability listens, and keeps an unsubscribed contact unsubscribed)."""
    for listener in list(_bounce_listeners.values()):
        listener(account_id, email)


def events_saved(*messages: Any) -> None:
    """These messages were saved: the public events added to them since they were read
    (``events.add``) go, each once, as (message, event) pairs, to the listeners registered
    with ``on_events_saved`` (the webhooks capability queues them for its subscribers). A
    listener's failure is logged, not raised: the events are recorded, and a retried
    notification would find its event recorded and publish nothing."""
    import logging

    saved = [(message, event) for message in messages for event in vars(message).pop("_unpublished", [])]
    if not saved:
        return
    for name, listener in list(_saved_listeners.items()):
        try:
            listener(saved)
        except Exception:
            logging.getLogger("postline.hooks").exception("%s: %d saved events not handled", name, len(saved))
