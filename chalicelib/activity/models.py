"""The activity (audit) log: what happened in an account, by whom, to what.

Access pattern: an account's entries newest first (Query on ``account_id``, ``entry_key``
descending); kept a year (TTL).
"""

from __future__ import annotations

from pynamodb.attributes import JSONAttribute, NumberAttribute, TTLAttribute, UnicodeAttribute

from chalicelib.core.db import BaseModel, table_name


class ActivityEntry(BaseModel):
    class Meta:
        table_name = table_name("activity_log")

    account_id = NumberAttribute(hash_key=True)
    entry_key = UnicodeAttribute(range_key=True)  # "<iso time>#<uuid>": newest last
    payload = JSONAttribute()  # seed-C §4.3 ActivityLogWebhookEvent, as webhooks carry it
    expires = TTLAttribute()
