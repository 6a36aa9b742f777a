"""SES event notifications (configuration-set event publishing, through SNS) read as Postline events.

A queue record is SES's event JSON itself (the SNS subscription delivers raw messages) or,
if raw delivery is off, SNS's envelope around it; identity notifications
(``notificationType``) read the same as events (``eventType``). Each becomes at most one
``Notice`` per recipient (Postline sends every message to one recipient):

| SES | Postline event |
|---|---|
| Delivery | ``delivery`` |
| Bounce (Permanent, Transient, Undetermined) | ``bounce``: SES has stopped trying (its retries were the soft bounces) |
| DeliveryDelay | ``soft_bounce``: SES keeps trying |
| Complaint | ``spam`` (``reject`` when SES refused the send for an earlier complaint) |
| Reject, Rendering Failure | ``reject`` |
| Subscription (unsubscribe from all) | ``unsubscribe`` |
| Send, Open, Click | nothing: acceptance is recorded by the delivery worker; opens and clicks are Postline's own |

A notice's ``event_id`` is derived from what SES says (its message id, the event type and
the bounce's or complaint's feedback id, or the event's timestamp), so the same notification
delivered twice has the same id and is recorded once.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chalicelib.core import clock
from chalicelib.sending import bounces

MESSAGE_TAG = "postline-message-id"  # the EmailTag every submission carries (sending/ses.py)
_EVENT_IDS = uuid.UUID("6f1d7c52-3b0e-4a57-9a8e-5e0c2d1b7a43")  # uuid5 namespace of notice ids
_MESSAGE_ID_HEADER = re.compile(r"<?([0-9a-fA-F-]{36})@")


@dataclass(frozen=True)
class Notice:
    kind: str  # delivery | soft_bounce | bounce | spam | reject | unsubscribe
    message_id: str | None  # Postline's message id
    ses_message_id: str
    event_id: str
    at: datetime
    details: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None  # the message's status_reason
    bounce_category: str | None = None


def unwrap(body: Any) -> dict[str, Any] | None:
    """SES's event from a queue record body (raw, or inside SNS's envelope)."""
    if isinstance(body, dict) and body.get("Type") in ("Notification", "SubscriptionConfirmation"):
        if body["Type"] != "Notification":
            return None  # an SQS subscription confirms itself
        try:
            body = json.loads(body.get("Message") or "")
        except ValueError:
            return None
    return body if isinstance(body, dict) and (body.get("eventType") or body.get("notificationType")) else None


def message_id_of(mail: dict[str, Any]) -> str | None:
    """Postline's id of the message: its tag, else its Message-ID header (``<id@domain>``)."""
    tagged = (mail.get("tags") or {}).get(MESSAGE_TAG)
    if tagged:
        return tagged[0] if isinstance(tagged, list) else str(tagged)
    candidates = [(mail.get("commonHeaders") or {}).get("messageId")]
    candidates += [h.get("value") for h in mail.get("headers") or [] if str(h.get("name")).lower() == "message-id"]
    for value in candidates:
        found = _MESSAGE_ID_HEADER.search(value or "")
        if found:
            return found.group(1).lower()
    return None


def _time(value: Any, fallback: datetime) -> datetime:
    try:
        return clock.parse_iso(str(value))
    except ValueError:
        return fallback


def parse(body: Any) -> list[Notice]:
    event = unwrap(body)
    if event is None:
        return []
    kind = event.get("eventType") or event.get("notificationType")
    mail = event.get("mail") or {}
    ses_id = str(mail.get("messageId") or "")
    sent_at = _time(mail.get("timestamp"), clock.now())
    ours = message_id_of(mail)

    def notice(postline_kind: str, part: dict[str, Any], discriminator: Any, recipient: str = "", **fields: Any):
        event_id = str(uuid.uuid5(_EVENT_IDS, f"{ses_id}/{kind}/{discriminator}/{recipient.lower()}"))
        return Notice(postline_kind, ours, ses_id, event_id, _time(part.get("timestamp"), sent_at), **fields)

    if kind == "Delivery":
        part = event.get("delivery") or {}
        details = {"recipient_mx": part.get("remoteMtaIp"), "smtp_response": part.get("smtpResponse")}
        return [notice("delivery", part, part.get("timestamp"), details={k: v for k, v in details.items() if v})]
    if kind == "Bounce":
        part = event.get("bounce") or {}
        out = []
        for r in part.get("bouncedRecipients") or [{}]:
            found = bounces.classify_bounce(part.get("bounceType", "Undetermined"),
                                            part.get("bounceSubType", "Undetermined"), r.get("status"),
                                            r.get("diagnosticCode"))
            out.append(notice("bounce", part, part.get("feedbackId") or part.get("timestamp"),
                              r.get("emailAddress") or "", details=_bounce_details(found, r.get("status"), part),
                              reason=found.response, bounce_category=found.category))
        return out
    if kind == "DeliveryDelay":
        part = event.get("deliveryDelay") or {}
        out = []
        for r in part.get("delayedRecipients") or [{}]:
            found = bounces.classify_delay(part.get("delayType", "Undetermined"), r.get("status"),
                                           r.get("diagnosticCode"))
            out.append(notice("soft_bounce", part, part.get("timestamp"), r.get("emailAddress") or "",
                              details=_bounce_details(found, r.get("status"), part), reason=found.response,
                              bounce_category=found.category))
        return out
    if kind == "Complaint":
        part = event.get("complaint") or {}
        if part.get("complaintSubType") == "OnAccountSuppressionList":
            reason = "Recipient on the SES account-level suppression list (an earlier complaint)"
            return [notice("reject", part, part.get("feedbackId"), details={"reject_reason": reason}, reason=reason)]
        details = {"spam_feedback_type": part.get("complaintFeedbackType"), "user_agent": part.get("userAgent")}
        return [notice("spam", part, part.get("feedbackId") or part.get("timestamp"),
                       details={k: v for k, v in details.items() if v})]
    if kind == "Reject":
        part = event.get("reject") or {}
        reason = f"Rejected by SES: {part.get('reason') or 'unknown reason'}"
        return [notice("reject", part, "", details={"reject_reason": reason}, reason=reason)]
    if kind == "Rendering Failure":
        part = event.get("failure") or {}
        reason = f"SES could not render the message: {part.get('errorMessage') or 'unknown error'}"
        return [notice("reject", part, "", details={"reject_reason": reason}, reason=reason)]
    if kind == "Subscription":
        part = event.get("subscription") or {}
        if (part.get("newTopicPreferences") or {}).get("unsubscribeAll"):
            return [notice("unsubscribe", part, part.get("timestamp"))]
    return []  # Send, Open, Click, anything newer


def _bounce_details(found: bounces.Classified, status: str | None, part: dict[str, Any]) -> dict[str, Any]:
    details = {"bounce_category": found.category, "email_service_provider_status": status,
               "email_service_provider_response": found.response, "response_code": found.response_code,
               "recipient_mx": part.get("remoteMtaIp")}
    return {k: v for k, v in details.items() if v is not None}
