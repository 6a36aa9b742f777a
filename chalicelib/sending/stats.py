"""Sending stats (the spec's /api/stats and the SDK's ``stats``) from counters, never from messages.

Each event that counts adds 1 to a counter item per account x day x domain x stream x
category x mailbox provider (table ``sending_stats``; the day the event happened, so an
open on a later day counts on that day, seed-C §1.3). The events worker adds a batch's
counts with one UpdateItem per item it touches (``Tally``); opens and clicks add theirs
as they happen. A stats query reads the account's items of the period in one Query.

Counts: ``sent`` (SES accepted it: its Send notification), ``delivered`` (Delivery),
``bounced`` (a hard bounce), ``opened`` and ``clicked`` (messages with at least one open or
click: only the first counts), ``spam`` (complaints). Rates are fractions (the spec's
``delivery_rate: 0.95``): delivery and bounce over sent, open, click and spam over
delivered (seed-C §9.1-§9.3).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any

from pynamodb.attributes import NumberAttribute, UnicodeAttribute

from chalicelib.core import clock
from chalicelib.core.db import BaseModel, table_name
from chalicelib.core.errors import BadRequest
from chalicelib.core.permissions import VIEWER, Principal
from chalicelib.sending import mailbox_providers

COUNTS = ("sent", "delivered", "bounced", "opened", "clicked", "spam")
DEFAULT_DAYS = 7  # seed: "the last week + today"
MAX_DAYS = 366
GROUPS = {"domains": "sending_domain_id", "categories": "category",
          "email_service_providers": "email_service_provider", "date": "date"}


class StatsCounter(BaseModel):
    class Meta:
        table_name = table_name("sending_stats")

    account_id = NumberAttribute(hash_key=True)
    bucket = UnicodeAttribute(range_key=True)  # "<day>#<domain_id>#<stream>#<provider>#<category>"
    sent = NumberAttribute(null=True)
    delivered = NumberAttribute(null=True)
    bounced = NumberAttribute(null=True)
    opened = NumberAttribute(null=True)
    clicked = NumberAttribute(null=True)
    spam = NumberAttribute(null=True)


def provider_of(recipient: str) -> str:
    return mailbox_providers.provider_of(recipient)


def bucket_of(message: Any, at: datetime) -> str:
    # the category goes last: it is free text and may hold "#"
    return (f"{at.astimezone(clock.UTC):%Y-%m-%d}#{int(message.domain_id)}#{message.stream}#"
            f"{provider_of(message.recipient)}#{message.category or ''}")


class Tally:
    """Counts gathered over a batch, written with one UpdateItem per counter item."""

    def __init__(self) -> None:
        self._counts: dict[tuple[int, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))

    def add(self, message: Any, count: str, at: datetime) -> None:
        self._counts[(int(message.account_id), bucket_of(message, at))][count] += 1

    def flush(self) -> None:
        for (account_id, bucket), counts in self._counts.items():
            StatsCounter(account_id, bucket).update(
                actions=[getattr(StatsCounter, name).add(n) for name, n in counts.items()])
        self._counts.clear()


def count(message: Any, name: str, at: datetime | None = None) -> None:
    tally = Tally()
    tally.add(message, name, at or clock.now())
    tally.flush()


# ---------------------------------------------------------------- queries


def _day(name: str, value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        raise BadRequest(f"{name} must be a date (YYYY-MM-DD)") from None


def _period(params: dict[str, Any]) -> tuple[date, date]:
    today = clock.now().date()
    end = _day("end_date", params.get("end_date")) or today
    start = _day("start_date", params.get("start_date")) or (end - timedelta(days=DEFAULT_DAYS))
    if start > end:
        raise BadRequest("start_date must not be after end_date")
    if (end - start).days >= MAX_DAYS:
        raise BadRequest(f"the period is at most {MAX_DAYS} days")
    return start, end


def _rates(totals: dict[str, int]) -> dict[str, Any]:
    sent, delivered = totals.get("sent", 0), totals.get("delivered", 0)

    def rate(part: int, whole: int) -> float:
        return round(part / whole, 4) if whole else 0.0

    return {"delivery_count": delivered, "delivery_rate": rate(delivered, sent),
            "bounce_count": totals.get("bounced", 0), "bounce_rate": rate(totals.get("bounced", 0), sent),
            "open_count": totals.get("opened", 0), "open_rate": rate(totals.get("opened", 0), delivered),
            "click_count": totals.get("clicked", 0), "click_rate": rate(totals.get("clicked", 0), delivered),
            "spam_count": totals.get("spam", 0), "spam_rate": rate(totals.get("spam", 0), delivered)}


def _rows(principal: Principal, params: dict[str, Any]):
    """(dimensions, counts) of every counter item of the period that passes the filters."""
    start, end = _period(params)
    visible = principal.resource_ids("domain", VIEWER)
    try:
        domains = {int(d) for d in params.get("sending_domain_ids") or []}
    except ValueError:
        raise BadRequest("sending_domain_ids must be integers") from None
    streams = set(params.get("sending_streams") or [])
    categories = set(params.get("categories") or [])
    providers = set(params.get("email_service_providers") or [])
    window = StatsCounter.bucket.between(start.isoformat(), f"{end.isoformat()}#\uffff")
    for item in StatsCounter.query(principal.account_id, window):
        day, domain_id, stream, provider, category = item.bucket.split("#", 4)
        domain_id = int(domain_id)
        if (visible is not None and domain_id not in visible) or (domains and domain_id not in domains) or (
                streams and stream not in streams) or (categories and category not in categories) or (
                providers and provider not in providers):
            continue
        dims = {"sending_domain_id": domain_id, "category": category or None, "email_service_provider": provider,
                "date": day}
        yield dims, {name: int(getattr(item, name) or 0) for name in COUNTS}


def summary(principal: Principal, params: dict[str, Any]) -> dict[str, Any]:
    totals: dict[str, int] = defaultdict(int)
    for _, counts in _rows(principal, params):
        for name, n in counts.items():
            totals[name] += n
    return _rates(totals)


def grouped(principal: Principal, params: dict[str, Any], group: str) -> list[dict[str, Any]]:
    key = GROUPS[group]
    totals: dict[Any, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for dims, counts in _rows(principal, params):
        for name, n in counts.items():
            totals[dims[key]][name] += n
    if group == "date":  # every day of the period, empty ones too
        start, end = _period(params)
        for offset in range((end - start).days + 1):
            totals[(start + timedelta(days=offset)).isoformat()]  # noqa: B018 (creates the empty day)
    return [{key: value, "stats": _rates(counts)}
            for value, counts in sorted(totals.items(), key=lambda kv: (kv[0] is None, str(kv[0])))]
