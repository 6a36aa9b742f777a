"""Sending tables: one record per recipient message, dispatch leases, opt-outs.

Access patterns (docs/data-model.md):
- message by id (get; the email log detail, the worker's strongly consistent batch get);
  an account's messages newest first (GSI by_account on ``sent_key`` = "<created iso>#<id>",
  which is also the ``search_after`` cursor position).
- dispatch lease by dispatch id (conditional update: the at-most-once claim).
- opt-out by (account, domain) + (stream, address) (get: is this recipient opted out).
"""

from __future__ import annotations

from pynamodb.attributes import (
    JSONAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from chalicelib.core.db import BaseModel, TimestampedModel, table_name

# Message.status values. The email log shows them as Mailtrap's four statuses (see WIRE_STATUS).
QUEUED = "queued"  # accepted, waiting for the worker (also between retries)
SENDING = "sending"  # claimed by a worker, being submitted to SES
SENT = "sent"  # SES accepted it; delivery is reported later by SES notifications
DELIVERED = "delivered"
SOFT_BOUNCED = "soft_bounced"
BOUNCED = "bounced"
REJECTED = "rejected"  # refused before or by SES (suppressed, SES MessageRejected)
FAILED = "failed"  # could not be sent (template gone, SES permanent error, outcome unknown)
OPTED_OUT = "opted_out"

FINAL = {DELIVERED, BOUNCED, REJECTED, FAILED, OPTED_OUT}
WIRE_STATUS = {
    QUEUED: "enqueued", SENDING: "enqueued", SENT: "enqueued", SOFT_BOUNCED: "enqueued",
    DELIVERED: "delivered", BOUNCED: "not_delivered", REJECTED: "not_delivered", FAILED: "not_delivered",
    OPTED_OUT: "opted_out",
}


class MessagesByAccount(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_account"
        projection = AllProjection()

    account_id = NumberAttribute(hash_key=True)
    sent_key = UnicodeAttribute(range_key=True)


class Message(BaseModel):
    """One message to one recipient (to, cc, bcc or an auto-BCC copy of the domain)."""

    class Meta:
        table_name = table_name("messages")

    message_id = UnicodeAttribute(hash_key=True)
    account_id = NumberAttribute()
    sent_key = UnicodeAttribute()  # "<created_at iso>#<message_id>": list order and cursor
    created_at = UTCDateTimeAttribute()
    request_id = UnicodeAttribute()  # the API call that made it (one content document)
    entry = NumberAttribute()  # which request of that call (0 for /api/send)
    stream = UnicodeAttribute()  # transactional | bulk
    kind = UnicodeAttribute()  # to | cc | bcc | auto_bcc
    domain_id = NumberAttribute()
    domain_name = UnicodeAttribute()
    from_email = UnicodeAttribute()
    recipient = UnicodeAttribute()
    subject = UnicodeAttribute(null=True)
    category = UnicodeAttribute(null=True)
    custom_variables = JSONAttribute(null=True)
    template_uuid = UnicodeAttribute(null=True)
    template_id = NumberAttribute(null=True)
    template_variables = JSONAttribute(null=True)
    client_ip = UnicodeAttribute(null=True)
    configuration_set = UnicodeAttribute(null=True)
    unsubscribe = NumberAttribute(default=0)  # 1: add List-Unsubscribe and the footer
    bcc_headers = JSONAttribute(null=True)  # auto-BCC copies only: the domain's extra headers
    status = UnicodeAttribute()
    status_reason = UnicodeAttribute(null=True)
    attempts = NumberAttribute(default=0)
    ses_message_id = UnicodeAttribute(null=True)
    raw_key = UnicodeAttribute(null=True)  # S3 pack holding the raw MIME ...
    raw_offset = NumberAttribute(null=True)  # ... at this byte offset ...
    raw_length = NumberAttribute(null=True)  # ... of this length
    opens_count = NumberAttribute(default=0)
    clicks_count = NumberAttribute(default=0)
    events = JSONAttribute(default=list)  # [{event_type, created_at, details}] oldest first
    revision = NumberAttribute(default=0)  # optimistic lock for read-modify-write updates

    by_account = MessagesByAccount()


class DispatchLease(BaseModel):
    """Who is delivering a dispatch (one SQS message's worth of messages) until when."""

    class Meta:
        table_name = table_name("send_dispatches")

    dispatch_id = UnicodeAttribute(hash_key=True)
    state = UnicodeAttribute()  # claimed | released | done
    owner = UnicodeAttribute(null=True)
    lease_until = NumberAttribute(default=0)  # epoch seconds
    expires = TTLAttribute(null=True)


class OptOut(TimestampedModel):
    """A recipient who unsubscribed from one domain's mail on one stream."""

    class Meta:
        table_name = table_name("opt_outs")

    scope = UnicodeAttribute(hash_key=True)  # "<account_id>#<domain_id>"
    address = UnicodeAttribute(range_key=True)  # "<stream>#<lower-case email>"
    account_id = NumberAttribute()
    domain_id = NumberAttribute()
    stream = UnicodeAttribute()
    email = UnicodeAttribute()
    message_id = UnicodeAttribute(null=True)  # the message whose link was used
