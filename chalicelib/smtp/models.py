"""SMTP ingress presence: how many authenticated connections each instance holds per account.

Access pattern (docs/data-model.md): the items of one account (query by account_id) summed
over live instances when a connection authenticates; each instance puts its own item when
its count changes and refreshes it on a heartbeat, and an item whose instance died expires.
"""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute

from chalicelib.core.db import BaseModel, table_name


class SmtpSessions(BaseModel):
    class Meta:
        table_name = table_name("smtp_sessions")

    account_id = NumberAttribute(hash_key=True)
    instance = UnicodeAttribute(range_key=True)  # one ingress process (an ECS task)
    connections = NumberAttribute(default=0)
    alive_until = NumberAttribute(default=0)  # epoch seconds; counted only while in the future
    expires = TTLAttribute(null=True)  # DynamoDB removes it a while after that
