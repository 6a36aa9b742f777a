"""Webhooks: an account's endpoints, the batches waiting for a retry, and the delivery history.

Access patterns (docs/data-model.md):
- an account's webhooks (a handful): Query on ``account_id``; one by id: GetItem
  (``account_id``, ``webhook_id``). The events worker asks which webhooks want an event
  through a short in-process cache of that query (service.subscribers).
- a failed batch: GetItem by ``batch_id`` when its retry message comes back (SQS message
  timer). Its body is kept exactly (zlib) so every retry sends the same bytes; it expires
  after the retry schedule could possibly have ended.
- a webhook's last delivery attempts, newest first: Query on ``webhook_key`` descending.
"""

from __future__ import annotations

from pynamodb.attributes import (
    BinaryAttribute,
    BooleanAttribute,
    ListAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)

from chalicelib.core.db import BaseModel, TimestampedModel, table_name

EMAIL_SENDING = "email_sending"
AUDIT_LOG = "audit_log"
WEBHOOK_TYPES = (EMAIL_SENDING, AUDIT_LOG)

JSON = "json"
JSONLINES = "jsonlines"
PAYLOAD_FORMATS = (JSON, JSONLINES)
FORMAT_ALIASES = {"jsonl": JSONLINES}  # the seeds say "jsonl"; mailtrap-openapi says "jsonlines"

STREAMS = ("transactional", "bulk")

# Subscription names (mailtrap-openapi) -> the sending capability's event type.
EVENT_TYPES = {
    "delivery": "delivery", "soft_bounce": "soft_bounce", "bounce": "bounce", "suspension": "suspension",
    "unsubscribe": "unsubscribe", "open": "open", "spam_complaint": "spam", "click": "click", "reject": "reject",
}
# The names a payload's ``event`` uses (seed-C §4.2) are accepted on input too.
EVENT_TYPE_ALIASES = {"soft bounce": "soft_bounce", "spam": "spam_complaint"}


def webhook_key(account_id: int, webhook_id: int) -> str:
    return f"{int(account_id)}#{int(webhook_id)}"


class Webhook(TimestampedModel):
    class Meta:
        table_name = table_name("webhooks")

    account_id = NumberAttribute(hash_key=True)
    webhook_id = NumberAttribute(range_key=True)
    url = UnicodeAttribute()
    webhook_type = UnicodeAttribute()  # email_sending | audit_log
    payload_format = UnicodeAttribute()  # json | jsonlines
    sending_stream = UnicodeAttribute(null=True)  # email_sending only
    domain_id = NumberAttribute(null=True)  # email_sending only; None: every domain
    event_types = ListAttribute(of=UnicodeAttribute, null=True)  # subscription names
    active = BooleanAttribute(default=True)
    paused_reason = UnicodeAttribute(null=True)  # why the system paused it (retries exhausted)
    # The HMAC key of every request. Kept as it is (it must be recoverable to sign), readable
    # only through the account's own calls; docs/security.md says how it is protected.
    signing_secret = UnicodeAttribute()


class PendingBatch(BaseModel):
    """A request that failed and waits for its next attempt (every 5 minutes, 40 times)."""

    class Meta:
        table_name = table_name("webhook_batches")

    batch_id = UnicodeAttribute(hash_key=True)
    account_id = NumberAttribute()
    webhook_id = NumberAttribute()
    payload_format = UnicodeAttribute()
    body = BinaryAttribute(legacy_encoding=False)  # zlib of the exact request body
    events_count = NumberAttribute()
    attempts = NumberAttribute()  # made so far (the first one included)
    next_attempt_at = UTCDateTimeAttribute()
    expires = TTLAttribute()


class DeliveryAttempt(BaseModel):
    """One request to a webhook: the delivery history the API and the console show."""

    class Meta:
        table_name = table_name("webhook_attempts")

    webhook_key = UnicodeAttribute(hash_key=True)  # "<account_id>#<webhook_id>"
    attempt_key = UnicodeAttribute(range_key=True)  # "<iso time>#<batch_id>#<attempt>": newest last
    batch_id = UnicodeAttribute()
    attempt = NumberAttribute()  # 1 for the first request of a batch, 2 for its first retry...
    at = UTCDateTimeAttribute()
    events_count = NumberAttribute()
    status_code = NumberAttribute(null=True)  # None: no answer (refused, unreachable, timed out)
    latency_ms = NumberAttribute()
    error = UnicodeAttribute(null=True)
    expires = TTLAttribute()
