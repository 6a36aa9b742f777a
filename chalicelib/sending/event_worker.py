"""The events worker: SES's notifications about sent messages (queue ``ses-events``) into
statuses, event history, suppressions and contact statuses.

SES publishes each configuration set's events to an SNS topic whose SQS subscription is
this queue (infra/template.yaml); locally the emulator publishes the same JSON to it
(chalicelib/local/ses_events.py). Safe to deliver twice (a notice's event id is recorded
once) and in any order (status precedence in ``events``).
"""

from __future__ import annotations

import logging
from typing import Any

from pynamodb.exceptions import DoesNotExist

from chalicelib.core import queues
from chalicelib.sending import events, hooks, notifications, streams
from chalicelib.sending.models import QUEUED, Message

log = logging.getLogger("postline.sending.events")

QUEUE = queues.register("ses-events")
_SUPPRESSING_KINDS = ("bounce", "spam", "unsubscribe")


class NotRecordedYet(Exception):
    """SES reports on a message whose submission the delivery worker has not recorded yet:
    recording the event now would be overwritten by that record. The notification comes
    back after the queue's visibility timeout."""


def handle(body: dict[str, Any]) -> None:
    """One queue record (the SQS consumer calls this through core.queues.process_batch)."""
    for notice in notifications.parse(body):
        apply(notice)


def apply(notice: notifications.Notice) -> Message | None:
    """Record one notice on its message and act on it; None if the message is unknown
    (not Postline's, or long gone): nothing to record, and nothing a retry would change."""
    if notice.message_id is None:
        log.warning("SES %s notice for %s names no Postline message; dropped", notice.kind, notice.ses_message_id)
        return None
    try:
        message = Message.get(notice.message_id, consistent_read=True)
    except DoesNotExist:
        log.warning("SES %s notice for unknown message %s; dropped", notice.kind, notice.message_id)
        return None
    if message.status == QUEUED:
        raise NotRecordedYet(f"message {message.message_id}: its submission to SES is not recorded yet")
    message, _ = events.record(message.message_id, notice.kind, notice.details, notice.reason, notice.event_id,
                               notice.at, message=message)
    # Both are idempotent, so a notice redelivered after a crash between here and the
    # record above still makes its suppression.
    if notice.kind in _SUPPRESSING_KINDS:
        hooks.record_delivery_event(message, notice.kind, notice.bounce_category, {
            "esp_response": notice.details.get("email_service_provider_response"),
            "recipient_mx_name": notice.details.get("recipient_mx")})
    if notice.kind == "bounce" and message.stream == streams.BULK and hooks.is_hard_bounce(notice.bounce_category):
        hooks.contact_bounced(message.account_id, message.recipient)
    return message
