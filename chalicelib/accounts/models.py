"""Accounts and API tokens in DynamoDB.

Access patterns (docs/data-model.md):
- account by id (get); all accounts (operator CLI, scan, small table).
- token by its hash on every request (get, strongly consistent: a token works the moment
  it is created or reset); tokens of an account (GSI by_account, token_id order); one
  token of an account by id (GSI by_account, key condition on token_id).
- failed authentications of a client IP or a token prefix: one item each, counted and read
  by chalicelib.core.ratelimit (an UpdateItem per failure, a BatchGetItem per authentication).
"""

from __future__ import annotations

from pynamodb.attributes import (
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from chalicelib.core.db import TimestampedModel, table_name
from chalicelib.core.permissions import Grant
from chalicelib.core.ratelimit import RateWindow


class Account(TimestampedModel):
    class Meta:
        table_name = table_name("accounts")

    account_id = NumberAttribute(hash_key=True)
    name = UnicodeAttribute()
    owner_email = UnicodeAttribute()
    owner_name = UnicodeAttribute()
    owner_user_id = NumberAttribute()
    owner_access_id = NumberAttribute()  # the owner's entry in account_accesses
    plan = UnicodeAttribute(default="free")


class GrantAttribute(MapAttribute):
    resource_type = UnicodeAttribute()
    resource_id = NumberAttribute()
    access_level = NumberAttribute()

    def to_grant(self) -> Grant:
        return Grant(self.resource_type, int(self.resource_id), int(self.access_level))

    @classmethod
    def from_grant(cls, grant: Grant) -> GrantAttribute:
        return cls(**grant.to_wire())


class TokensByAccount(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_account"
        projection = AllProjection()

    account_id = NumberAttribute(hash_key=True)
    token_id = NumberAttribute(range_key=True)


class ApiToken(TimestampedModel):
    """An API token; the value itself is never stored, only its SHA-256."""

    class Meta:
        table_name = table_name("api_tokens")

    token_hash = UnicodeAttribute(hash_key=True)
    account_id = NumberAttribute()
    token_id = NumberAttribute()
    access_id = NumberAttribute()  # its entry in account_accesses
    name = UnicodeAttribute()
    last_4_digits = UnicodeAttribute()
    created_by = UnicodeAttribute()
    expires_at = UTCDateTimeAttribute(null=True)
    reset_at = UTCDateTimeAttribute(null=True)  # set once: a token is reset at most once
    resources = ListAttribute(of=GrantAttribute, default=list)

    by_account = TokensByAccount()

    def grants(self) -> tuple[Grant, ...]:
        return tuple(r.to_grant() for r in self.resources)


class AuthFailures(RateWindow):
    """Failed authentications, counted like a rate window (chalicelib/accounts/throttle.py).
    Keys: ``ip:<client address>``, ``prefix:<hash of the presented token's first characters>``."""

    class Meta:
        table_name = table_name("auth_failures")
