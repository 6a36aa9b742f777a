"""Helpers for SES event tests: SES's notification JSON, the events queue consumer."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.sending import event_worker
from tests.domain_helpers import drain, sqs_event
from tests.queue_support import deliver_waiting

FUNCTION = "record_ses_events"
# The day the notifications happen on: today, so stats of "today" and "the last 7 days" see them
DAY = datetime.now(UTC).date()
NEXT_DAY = DAY + timedelta(days=1)


def stamp(time: str, day=DAY) -> str:
    """A notification timestamp of ``DAY`` (``time`` is HH:MM:SS.mmm)."""
    return f"{day.isoformat()}T{time}Z"


def ses_mail(message: Any, **changes: Any) -> dict[str, Any]:
    """SES's ``mail`` object for a message Postline submitted (AWS's documented shape)."""
    mail = {
        "timestamp": stamp("10:00:00.000"),
        "source": message.from_email,
        "sourceArn": f"arn:aws:ses:us-east-1:123456789012:identity/{message.domain_name}",
        "sendingAccountId": "123456789012",
        "messageId": message.ses_message_id,
        "destination": [message.recipient],
        "headersTruncated": False,
        "headers": [{"name": "From", "value": message.from_email}, {"name": "To", "value": message.recipient},
                    {"name": "Message-ID", "value": f"<{message.message_id}@{message.domain_name}>"}],
        "commonHeaders": {"from": [message.from_email], "to": [message.recipient],
                          "messageId": f"<{message.message_id}@{message.domain_name}>", "subject": "Hello"},
        "tags": {"ses:configuration-set": [message.configuration_set or "none"],
                 "ses:from-domain": [message.domain_name], "postline-message-id": [message.message_id]},
    }
    mail.update(changes)
    return mail


def delivery(message: Any, at: str = stamp("10:00:01.000")) -> dict[str, Any]:
    return {"eventType": "Delivery", "mail": ses_mail(message), "delivery": {
        "timestamp": at, "processingTimeMillis": 546, "recipients": [message.recipient],
        "smtpResponse": "250 ok:  Message 64111812 accepted", "reportingMTA": "a8-70.smtp-out.amazonses.com",
        "remoteMtaIp": "203.0.113.9"}}


def bounce(message: Any, bounce_type: str = "Permanent", subtype: str = "General", status: str = "5.1.1",
           diagnostic: str = "smtp; 550 5.1.1 user unknown", feedback_id: str = "0100015-bounce-1") -> dict[str, Any]:
    return {"eventType": "Bounce", "mail": ses_mail(message), "bounce": {
        "bounceType": bounce_type, "bounceSubType": subtype,
        "bouncedRecipients": [{"emailAddress": message.recipient, "action": "failed", "status": status,
                               "diagnosticCode": diagnostic}],
        "timestamp": stamp("10:00:02.000"), "feedbackId": feedback_id, "reportingMTA": "dsn; mta.example.com"}}


def delay(message: Any, delay_type: str = "MailboxFull", status: str = "4.2.2",
          diagnostic: str = "smtp; 452 4.2.2 Mailbox full", at: str = stamp("10:00:00.500")) -> dict[str, Any]:
    return {"eventType": "DeliveryDelay", "mail": ses_mail(message), "deliveryDelay": {
        "timestamp": at, "delayType": delay_type, "expirationTime": stamp("10:00:00.000", NEXT_DAY),
        "delayedRecipients": [{"emailAddress": message.recipient, "status": status, "diagnosticCode": diagnostic}],
        "reportingMTA": "a8-70.smtp-out.amazonses.com"}}


def complaint(message: Any, feedback_type: str = "abuse") -> dict[str, Any]:
    return {"eventType": "Complaint", "mail": ses_mail(message), "complaint": {
        "complainedRecipients": [{"emailAddress": message.recipient}], "timestamp": stamp("10:00:03.000"),
        "feedbackId": "0100015-complaint-1", "userAgent": "Mozilla/5.0", "complaintFeedbackType": feedback_type,
        "arrivalDate": stamp("10:00:03.000")}}


def sns_envelope(event: dict[str, Any]) -> dict[str, Any]:
    """What SNS puts on the queue when raw message delivery is off."""
    return {"Type": "Notification", "MessageId": "2b2c0e33-1b6a-5c5e-9c57-2f2d9f3a1c11",
            "TopicArn": "arn:aws:sns:us-east-1:123456789012:postline-dev-ses-events",
            "Message": json.dumps(event), "Timestamp": stamp("10:00:04.000"), "SignatureVersion": "1"}


def record_events(client, bodies: list[dict[str, Any]]) -> dict[str, Any]:
    """Invoke the events consumer with these bodies, as one SQS event."""
    return client.lambda_.invoke(FUNCTION, sqs_event(bodies, event_worker.QUEUE)).payload


def queued_events() -> list[dict[str, Any]]:
    """Receive and delete every notification waiting on the events queue."""
    return drain(event_worker.QUEUE)


def pump_events(client, rounds: int = 20) -> int:
    """Deliver what waits on the events queue to its consumer (tests/queue_support.py)."""
    return deliver_waiting(client._app, event_worker.QUEUE, rounds=rounds)
