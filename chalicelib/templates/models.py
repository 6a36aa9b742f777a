"""Email templates in DynamoDB.

Access patterns (docs/data-model.md):
- templates of an account in id order (query on the table key, paginated by the API);
- one template of an account by its integer id (GetItem on account_id + template_id: another
  account's id simply isn't there);
- one template of an account by its UUID when mail is sent (GSI ``by_uuid``, keyed by
  account_id too, so a UUID of another account is not found either);
- the per-account count for the 200-template limit lives in the core ``counters`` table
  (``email_templates:<account_id>``), changed in the same transaction as the template.

Bodies up to ``INLINE_BODY_BYTES`` stay in the item; larger ones (the API allows 10 million
characters, an item holds 400 KB) are kept in S3 and the item carries their key.
"""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from chalicelib.core.db import TimestampedModel, table_name

INLINE_BODY_BYTES = 300_000


class TemplatesByUuid(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_uuid"
        projection = AllProjection()

    account_id = NumberAttribute(hash_key=True)
    uuid = UnicodeAttribute(range_key=True)


class EmailTemplate(TimestampedModel):
    class Meta:
        table_name = table_name("email_templates")

    account_id = NumberAttribute(hash_key=True)
    template_id = NumberAttribute(range_key=True)
    uuid = UnicodeAttribute()
    name = UnicodeAttribute()
    subject = UnicodeAttribute()
    category = UnicodeAttribute()
    body_html = UnicodeAttribute(null=True)
    body_text = UnicodeAttribute(null=True)
    body_key = UnicodeAttribute(null=True)  # S3 key of {"body_html", "body_text"} when too large

    by_uuid = TemplatesByUuid()
