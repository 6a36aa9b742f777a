"""The events worker: SES's notifications about sent messages (queue ``ses-events``) into
statuses, event history, suppressions and contact statuses.

SES publishes each configuration set's events to an SNS topic whose SQS subscription is
this queue (infra/template.yaml); locally the emulator publishes the same JSON to it
(local/ses_events.py). Safe to deliver twice (a notice's event id is recorded
once) and in any order (status precedence in ``events``).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from pynamodb.exceptions import DoesNotExist

from chalicelib.core import deadletters, queues
from chalicelib.sending import events, hooks, notifications, stats, streams
from chalicelib.sending.models import QUEUED, Message

log = logging.getLogger("postline.sending.events")

QUEUE = queues.register("ses-events")
_SUPPRESSING_KINDS = ("bounce", "spam", "unsubscribe")
_PROVIDER_ANSWERS = ("delivery", "soft_bounce", "bounce")
_COUNTED = {"delivery": "delivered", "bounce": "bounced", "spam": "spam"}  # event -> stats counter


class NotRecordedYet(Exception):
    """SES reports on a message whose submission the delivery worker has not recorded yet:
    recording the event now would be overwritten by that record. The notification comes
    back after the queue's visibility timeout."""


def handle_batch(event: Any) -> dict[str, list[dict[str, str]]]:
    """One SQS batch (the consumer): the messages its notices are about are read together
    (one BatchGetItem instead of a read per notice), then each record is handled on its own
    through core.queues.process_batch, so only a record that fails comes back."""
    records = list(event)
    wanted = {n.message_id for r in records for n in _notices(r.body) if n.message_id}
    read = {m.message_id: m for m in Message.batch_get(list(wanted), consistent_read=True)} if wanted else {}
    tally = stats.Tally()
    result = queues.process_batch(records, lambda body: handle(body, read, tally))
    tally.flush()  # the batch's counts: one UpdateItem per counter item
    return result


def _notices(raw: str) -> list[notifications.Notice]:
    try:
        return notifications.parse(json.loads(raw))
    except ValueError:
        return []  # process_batch reports the record when it parses it again


def handle(body: dict[str, Any], read: dict[str, Message] | None = None, tally: stats.Tally | None = None) -> None:
    """One queue record. ``read``: records already read for this batch (each used once:
    a second notice about the same message reads it again); ``tally``: where the batch's
    stats are counted (written at once, else now)."""
    own = tally is None
    tally = tally or stats.Tally()
    for notice in notifications.parse(body):
        apply(notice, (read or {}).pop(notice.message_id or "", None), tally)
    if own:
        tally.flush()


def apply(notice: notifications.Notice, message: Message | None = None,
          tally: stats.Tally | None = None) -> Message | None:
    """Record one notice on its message and act on it; None if the message is unknown
    (not Postline's, or long gone): nothing to record, and nothing a retry would change.
    ``message``: its record as just read, strongly consistent."""
    if notice.message_id is None:
        log.warning("SES %s notice for %s names no Postline message; dropped", notice.kind, notice.ses_message_id)
        return None
    if message is None:
        try:
            message = Message.get(notice.message_id, consistent_read=True)
        except DoesNotExist:
            log.warning("SES %s notice for unknown message %s; dropped", notice.kind, notice.message_id)
            return None
    if message.status == QUEUED:
        raise NotRecordedYet(f"message {message.message_id}: its submission to SES is not recorded yet")
    details = notice.details
    if notice.kind in _PROVIDER_ANSWERS:  # the recipient's mailbox provider answered
        details = {**details, "email_service_provider": stats.provider_of(message.recipient)}
    message, new = events.record(message.message_id, notice.kind, details, notice.reason, notice.event_id,
                                 notice.at, message=message)
    if new and tally is not None and notice.kind in _COUNTED:
        tally.add(message, _COUNTED[notice.kind], notice.at)
    # Both are idempotent, so a notice redelivered after a crash between here and the
    # record above still makes its suppression.
    if notice.kind in _SUPPRESSING_KINDS:
        hooks.record_delivery_event(message, notice.kind, notice.bounce_category, {
            "esp_response": notice.details.get("email_service_provider_response"),
            "recipient_mx_name": notice.details.get("recipient_mx")})
    if notice.kind == "bounce" and message.stream == streams.BULK and hooks.is_hard_bounce(notice.bounce_category):
        hooks.contact_bounced(message.account_id, message.recipient)
    return message


@deadletters.register(QUEUE)
def settle_dead_notification(letter: deadletters.DeadLetter) -> str:
    """A notification the worker could never apply (its message was never recorded, or it
    can't be read). Nothing else owns it: it is logged by message and event and dropped, and
    the message keeps the status it has (a later notice about it still applies)."""
    try:
        notices = notifications.parse(letter.body)
    except ValueError:
        notices = []
    what = ", ".join(f"{n.kind} of message {n.message_id or n.ses_message_id}" for n in notices[:20])
    return f"SES notification dropped ({what or 'unreadable'}): {letter.error or deadletters.UNKNOWN_ERROR}"
