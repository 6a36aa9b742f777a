"""Sending limits: per-account overrides and the usage counters behind every limit.

Access patterns (docs/data-model.md):
- an account's limit override by account id (get; cached per process for a minute).
- a usage window by (scope, window): conditional ADD to reserve capacity (hourly rate,
  per-domain and SES rates), unconditional ADD returning the new total (daily and monthly
  caps, billing usage), get for the billing report. Windows expire through TTL.
- a usage notice claimed once per threshold and billing cycle (conditional ADD to
  ``notified`` on the month's window).
"""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, NumberSetAttribute, TTLAttribute, UnicodeAttribute

from chalicelib.core.db import BaseModel, TimestampedModel, table_name


class AccountLimits(TimestampedModel):
    """What an operator set for one account (the seeds' "support can set any value")."""

    class Meta:
        table_name = table_name("account_limits")

    account_id = NumberAttribute(hash_key=True)
    plan = UnicodeAttribute(null=True)  # a key of plans.PLANS; None: the account's own plan
    # Each None: the plan's value. A negative value stored means "no limit".
    hourly = NumberAttribute(null=True)
    daily = NumberAttribute(null=True)
    monthly = NumberAttribute(null=True)


class UsageWindow(BaseModel):
    class Meta:
        table_name = table_name("sending_usage")

    scope = UnicodeAttribute(hash_key=True)  # "account#<id>", "domain#<account>#<domain>", "ses"
    window = UnicodeAttribute(range_key=True)  # "m2025-01", "d2025-01-15", "h2025-01-15T10", "t<epoch minute>"
    used = NumberAttribute(default=0)
    expires = TTLAttribute(null=True)
    notified = NumberSetAttribute(null=True)  # monthly windows: usage notices sent (80, 90, 100 %)
