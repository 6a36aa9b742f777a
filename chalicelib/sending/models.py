"""Sending tables: one record per recipient message, dispatch leases, opt-outs.

Access patterns (docs/data-model.md):
- message by id (get; the email log detail, the worker's strongly consistent batch get);
  an account's messages newest first (GSI by_account on ``sent_key`` = "<created iso>#<id>",
  which is also the ``search_after`` cursor position).
- dispatch lease by dispatch id (conditional update: the at-most-once claim).
- opt-out by (account, domain) + (stream, address) (get: is this recipient opted out).
- tracking opt-out by (account, domain) + address (BatchGetItem once per dispatch of a
  tracking domain); an account's newest-last (GSI by_account on ``list_key``); one by id
  (GSI by_id: delete and the ``last_id`` cursor).
"""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from chalicelib.core.db import BaseModel, table_name

# Message.status values. The email log shows them as Mailtrap's four statuses (see WIRE_STATUS).
QUEUED = "queued"  # accepted, waiting for the worker (also between retries)
SENT = "sent"  # SES accepted it; delivery is reported later by SES notifications
DELIVERED = "delivered"
SOFT_BOUNCED = "soft_bounced"
BOUNCED = "bounced"
REJECTED = "rejected"  # refused before or by SES (suppressed, SES MessageRejected)
FAILED = "failed"  # could not be sent (template gone, SES permanent error, outcome unknown)
OPTED_OUT = "opted_out"

WIRE_STATUS = {
    QUEUED: "enqueued", SENT: "enqueued", SOFT_BOUNCED: "enqueued",
    DELIVERED: "delivered", BOUNCED: "not_delivered", REJECTED: "not_delivered", FAILED: "not_delivered",
    OPTED_OUT: "opted_out",
}


class MessagesByAccount(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_account"
        projection = AllProjection()

    account_id = NumberAttribute(hash_key=True)
    sent_key = UnicodeAttribute(range_key=True)


def _envelope_field(name: str, default: Any = None) -> property:
    def get(self: Message) -> Any:
        return (self.envelope or {}).get(name, default)

    def set_(self: Message, value: Any) -> None:
        self.envelope = {**(self.envelope or {}), name: value}

    return property(get, set_)


def _delivery_field(name: str) -> property:
    def get(self: Message) -> Any:
        return (self.delivery or {}).get(name)

    def set_(self: Message, value: Any) -> None:
        self.delivery = {**(self.delivery or {}), name: value}

    return property(get, set_)


class Message(BaseModel):
    """One message to one recipient (to, cc, bcc or an auto-BCC copy of the domain).

    Attributes a query or a condition uses are the item's own; what the message *is* (set
    when it was accepted) is one JSON document, ``envelope``, and where it went (SES's id,
    the stored raw copy) another, ``delivery``: a lean item is cheaper to write, and the
    worker writes each record at least twice.
    """

    class Meta:
        table_name = table_name("messages")

    message_id = UnicodeAttribute(hash_key=True)
    account_id = NumberAttribute()
    sent_key = UnicodeAttribute()  # "<created_at iso>#<message_id>": list order and cursor
    created_at = UTCDateTimeAttribute()
    stream = UnicodeAttribute()  # transactional | bulk
    domain_id = NumberAttribute()
    recipient = UnicodeAttribute()
    status = UnicodeAttribute()
    status_reason = UnicodeAttribute(null=True)
    attempts = NumberAttribute(null=True)  # SES submissions tried
    opens_count = NumberAttribute(null=True)
    clicks_count = NumberAttribute(null=True)
    revision = NumberAttribute(null=True)  # optimistic lock of events.apply
    events = JSONAttribute(default=list)  # [{event_type, created_at, details}] oldest first
    envelope = JSONAttribute(default=dict)
    delivery = JSONAttribute(null=True)

    by_account = MessagesByAccount()

    # envelope: set once accepted (the subject again when a template is rendered to send)
    request_id = _envelope_field("request_id")  # the API call (one content document)
    entry = _envelope_field("entry", 0)  # which request of that call
    kind = _envelope_field("kind", "to")  # to | cc | bcc | auto_bcc
    domain_name = _envelope_field("domain_name")
    from_email = _envelope_field("from")
    subject = _envelope_field("subject")
    category = _envelope_field("category")
    custom_variables = _envelope_field("custom_variables")
    template_uuid = _envelope_field("template_uuid")
    template_id = _envelope_field("template_id")
    template_variables = _envelope_field("template_variables")
    client_ip = _envelope_field("client_ip")
    configuration_set = _envelope_field("configuration_set")
    unsubscribe = _envelope_field("unsubscribe", False)  # add List-Unsubscribe and the footer
    track_opens = _envelope_field("track_opens", False)  # the domain's tracking settings when accepted
    track_clicks = _envelope_field("track_clicks", False)
    bcc_headers = _envelope_field("bcc_headers")  # auto-BCC copies only: the domain's extra headers
    # delivery
    ses_message_id = _delivery_field("ses_message_id")
    raw_key = _delivery_field("raw_key")  # S3 pack holding the raw MIME ...
    raw_offset = _delivery_field("raw_offset")  # ... at this byte offset ...
    raw_length = _delivery_field("raw_length")  # ... of this length


class DispatchLease(BaseModel):
    """The ledger of a dispatch (one SQS message's worth of messages): see idempotency.py."""

    class Meta:
        table_name = table_name("send_dispatches")

    dispatch_id = UnicodeAttribute(hash_key=True)
    state = UnicodeAttribute(null=True)  # claimed | released | done
    previous_state = UnicodeAttribute(null=True)  # what the last claim found ("fresh" if nothing)
    owner = UnicodeAttribute(null=True)
    lease_until = NumberAttribute(default=0)  # epoch seconds
    version = NumberAttribute(default=0)  # bumped at each release
    in_flight = UnicodeAttribute(null=True)  # ids being submitted to SES now, space-separated
    counted = BooleanAttribute(null=True)  # the dispatch's messages took their share of the limits
    expires = TTLAttribute(null=True)


class TrackingOptOutsByAccount(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_account"
        projection = AllProjection()

    account_id = NumberAttribute(hash_key=True)
    list_key = UnicodeAttribute(range_key=True)


class TrackingOptOutsById(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_id"
        projection = AllProjection()

    opt_out_id = UnicodeAttribute(hash_key=True)


class TrackingOptOut(BaseModel):
    """An address whose mail from one domain is sent without open and click tracking."""

    class Meta:
        table_name = table_name("tracking_opt_outs")

    scope = UnicodeAttribute(hash_key=True)  # "<account_id>#<domain_id>"
    email = UnicodeAttribute(range_key=True)  # lower case
    opt_out_id = UnicodeAttribute()  # UUID (the wire id)
    account_id = NumberAttribute()
    domain_id = NumberAttribute()
    domain_name = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    list_key = UnicodeAttribute()  # "<created_at iso>#<id>": list order and cursor position

    by_account = TrackingOptOutsByAccount()
    by_id = TrackingOptOutsById()
