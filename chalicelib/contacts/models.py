"""Contacts tables in DynamoDB. Access patterns are in docs/data-model.md (section Contacts).

Every key starts with the account id, so a query can only ever see one account's items.
"""

from __future__ import annotations

from pynamodb.attributes import (
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    NumberSetAttribute,
    UnicodeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection

from chalicelib.core.db import BaseModel, table_name


class ContactsById(GlobalSecondaryIndex):
    """Contact by its UUID; UUIDv7 sorts by creation time, so this also lists newest first."""

    class Meta:
        index_name = "by_id"
        projection = AllProjection()

    account_id = NumberAttribute(hash_key=True)
    contact_id = UnicodeAttribute(range_key=True)


class ContactsWithPendingEvents(GlobalSecondaryIndex):
    """Sparse: only contacts whose API-written events still await publication (the sweeper)."""

    class Meta:
        index_name = "by_pending_events"
        projection = KeysOnlyProjection()

    outbox_pending = UnicodeAttribute(hash_key=True)
    outbox_since = NumberAttribute(range_key=True)


class Contact(BaseModel):
    """One contact. The range key is the lower-cased email, so two contacts of an account can
    never share an email: a create is a put conditioned on the key not existing."""

    class Meta:
        table_name = table_name("contacts")

    account_id = NumberAttribute(hash_key=True)
    email_key = UnicodeAttribute(range_key=True)
    contact_id = UnicodeAttribute()
    email = UnicodeAttribute()  # as the user wrote it
    status = UnicodeAttribute(default="subscribed")
    fields = MapAttribute(default=dict)  # "f<field id>" -> value (S, N, BOOL; dates as "YYYY-MM-DD")
    list_ids = NumberSetAttribute(null=True)
    created_at = NumberAttribute()  # epoch milliseconds, as the API returns them
    updated_at = NumberAttribute()
    seq = NumberAttribute(default=0)  # sequence number of the contact's last change event
    # Change events not yet confirmed published: str(seq) -> event JSON (docs/contact-events.md).
    outbox = MapAttribute(null=True)
    outbox_ref = UnicodeAttribute(null=True)  # who publishes them: "api" or "import:<id>:<chunk>"
    outbox_pending = UnicodeAttribute(null=True)  # "api" while set: the sweeper's sparse index
    outbox_since = NumberAttribute(null=True)
    last_import = UnicodeAttribute(null=True)  # "<import id>:<chunk>:<created|updated>"
    history = ListAttribute(null=True)  # list membership and status changes, newest last, bounded
    last_events = MapAttribute(null=True)  # custom event name -> epoch ms of its last occurrence

    by_id = ContactsById()
    by_pending_events = ContactsWithPendingEvents()


class ContactMeta(BaseModel):
    """Per-account contacts metadata, one small item per kind:
    - "fields": custom field definitions in ``defs`` (<= 40), versioned for optimistic writes;
    - "lists": list definitions in ``defs`` (<= 50), versioned likewise;
    - "stats": ``count`` of contacts (the quota) and the grants of import chunks in progress;
    - "export": ``current`` export in progress (one at a time).
    """

    class Meta:
        table_name = table_name("contact_meta")

    account_id = NumberAttribute(hash_key=True)
    kind = UnicodeAttribute(range_key=True)
    defs = MapAttribute(null=True)
    version = NumberAttribute(default=0)
    count = NumberAttribute(null=True)
    reservations = MapAttribute(null=True)  # "stats": import chunk -> contacts it may create
    current = NumberAttribute(null=True)


class Segment(BaseModel):
    class Meta:
        table_name = table_name("contact_segments")

    account_id = NumberAttribute(hash_key=True)
    segment_id = NumberAttribute(range_key=True)
    name = UnicodeAttribute()
    definition = UnicodeAttribute()  # normalised condition tree, JSON
    field_ids = NumberSetAttribute(null=True)  # custom fields its conditions use
    list_ids = NumberSetAttribute(null=True)  # lists its conditions use
    created_at = NumberAttribute()
    updated_at = NumberAttribute()


class ImportJob(BaseModel):
    class Meta:
        table_name = table_name("contact_imports")

    account_id = NumberAttribute(hash_key=True)
    import_id = NumberAttribute(range_key=True)
    status = UnicodeAttribute()  # created | started | finished | failed
    source = UnicodeAttribute()  # json | csv
    rows = NumberAttribute(default=0)
    columns = MapAttribute(null=True)  # CSV header -> mapped field ("email", a merge tag or "")
    list_ids = NumberSetAttribute(null=True)  # lists every imported contact joins (CSV)
    chunks_total = NumberAttribute(null=True)
    chunks_done = NumberSetAttribute(null=True)
    attempts = MapAttribute(null=True)  # "split" or chunk -> failed attempts
    created_count = NumberAttribute(default=0)
    updated_count = NumberAttribute(default=0)
    skipped_count = NumberAttribute(default=0)
    over_limit_count = NumberAttribute(default=0)
    processed = NumberAttribute(null=True)  # rows done: skipped and merged at the split, then each chunk's
    failure = UnicodeAttribute(null=True)
    created_at = NumberAttribute()
    updated_at = NumberAttribute()


class ExportJob(BaseModel):
    class Meta:
        table_name = table_name("contact_exports")

    account_id = NumberAttribute(hash_key=True)
    export_id = NumberAttribute(range_key=True)
    status = UnicodeAttribute()  # created | started | finished | failed
    filters = UnicodeAttribute()  # normalised filters, JSON
    object_key = UnicodeAttribute(null=True)
    contacts = NumberAttribute(null=True)
    failure = UnicodeAttribute(null=True)  # why it failed
    processed = NumberAttribute(null=True)  # contacts gone through so far
    total = NumberAttribute(null=True)  # the account's contacts when it started (all, once finished)
    created_at = NumberAttribute()
    updated_at = NumberAttribute()


class TimelineEntry(BaseModel):
    """A custom event on a contact's timeline (list and status history is on the contact)."""

    class Meta:
        table_name = table_name("contact_timeline")

    contact_key = UnicodeAttribute(hash_key=True)  # timeline_key: "<account id>#<contact id>"
    seq = NumberAttribute(range_key=True)
    name = UnicodeAttribute()
    params = UnicodeAttribute()  # JSON object
    at = NumberAttribute()


def timeline_key(account_id: int, contact_id: str) -> str:
    """A contact's key in the timeline table."""
    return f"{int(account_id)}#{contact_id}"
