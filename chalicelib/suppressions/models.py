"""Suppressions: addresses a domain must not send to on a stream (transactional, bulk, any).

Access patterns (docs/data-model.md):
- is this recipient suppressed for (account, domain, stream)? BatchGetItem on the primary key
  (scope "<account>#<domain>", address "<email>#<stream>" and "<email>#any"), once per
  delivery dispatch: the hot path, so it is a key lookup, never a query.
- one suppression by its id (GSI by_id): DELETE (reactivate) and the ``last_id`` cursor.
- an account's suppressions oldest first (GSI by_account on ``list_key`` =
  "<created iso>#<id>"), paged 1,000 at a time; the same for one address (GSI by_email on
  "<account>#<email>").
"""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from chalicelib.core.db import BaseModel, table_name

TRANSACTIONAL = "transactional"
BULK = "bulk"
ANY = "any"
STREAMS = (TRANSACTIONAL, BULK, ANY)

HARD_BOUNCE = "hard bounce"
UNSUBSCRIPTION = "unsubscription"
SPAM_COMPLAINT = "spam complaint"
MANUAL_IMPORT = "manual import"
TYPES = (HARD_BOUNCE, UNSUBSCRIPTION, SPAM_COMPLAINT, MANUAL_IMPORT)


class SuppressionsById(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_id"
        projection = AllProjection()

    suppression_id = UnicodeAttribute(hash_key=True)


class SuppressionsByAccount(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_account"
        projection = AllProjection()

    account_id = NumberAttribute(hash_key=True)
    list_key = UnicodeAttribute(range_key=True)


class SuppressionsByEmail(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_email"
        projection = AllProjection()

    account_email = UnicodeAttribute(hash_key=True)
    list_key = UnicodeAttribute(range_key=True)


class Suppression(BaseModel):
    class Meta:
        table_name = table_name("suppressions")

    scope = UnicodeAttribute(hash_key=True)  # "<account_id>#<domain_id>"
    address = UnicodeAttribute(range_key=True)  # "<lower-case email>#<stream>"
    suppression_id = UnicodeAttribute()  # UUID (the wire id)
    account_id = NumberAttribute()
    domain_id = NumberAttribute()
    domain_name = UnicodeAttribute(null=True)
    email = UnicodeAttribute()
    stream = UnicodeAttribute()  # transactional | bulk | any
    type = UnicodeAttribute()  # hard bounce | unsubscription | spam complaint | manual import
    created_at = UTCDateTimeAttribute()
    list_key = UnicodeAttribute()  # "<created_at iso>#<id>": list order and cursor position
    account_email = UnicodeAttribute()  # "<account_id>#<email>"
    # What the message that caused it said (automatic suppressions only).
    message_id = UnicodeAttribute(null=True)
    message_bounce_category = UnicodeAttribute(null=True)
    message_category = UnicodeAttribute(null=True)
    message_client_ip = UnicodeAttribute(null=True)
    message_created_at = UTCDateTimeAttribute(null=True)
    message_esp_response = UnicodeAttribute(null=True)
    message_esp_server_type = UnicodeAttribute(null=True)
    message_outgoing_ip = UnicodeAttribute(null=True)
    message_recipient_mx_name = UnicodeAttribute(null=True)
    message_sender_email = UnicodeAttribute(null=True)
    message_subject = UnicodeAttribute(null=True)

    by_id = SuppressionsById()
    by_account = SuppressionsByAccount()
    by_email = SuppressionsByEmail()


def scope_of(account_id: int, domain_id: int) -> str:
    return f"{int(account_id)}#{int(domain_id)}"


def address_of(email: str, stream: str) -> str:
    return f"{email.lower()}#{stream}"
