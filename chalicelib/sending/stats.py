"""Sending stats (the spec's /api/stats and the SDK's ``stats``) from counters, never from messages.

Each event that counts adds 1 to a counter per account x day x domain x stream x category x
mailbox provider (table ``sending_stats``; the day the event happened, so an open on a later
day counts on that day, seed-C §1.3), and to the same counter of its month. The counters of
one domain in one day (or month) are the number attributes of one item
(``day#<YYYY-MM-DD>#<domain_id>`` / ``month#<YYYY-MM>#<domain_id>``, each named
``<count>#<stream>#<provider>#<category>``), so a query over a year reads whole months and
only the days of the partial months at its ends: at most (12 + 62) items per domain,
whatever the mix of streams, categories and providers. The events worker adds a batch's
counts with one UpdateItem per item it touches (``Tally``); opens and clicks add theirs as
they happen.

Counts: ``sent`` (SES accepted it: its Send notification), ``delivered`` (Delivery),
``bounced`` (a hard bounce), ``opened`` and ``clicked`` (messages with at least one open or
click: only the first counts), ``spam`` (complaints), ``unsubscribed`` (opt-outs through the
unsubscribe link: the weekly deliverability alert reports them). Rates are fractions (the spec's
``delivery_rate: 0.95``): delivery and bounce over sent, open, click and spam over
delivered (seed-C §9.1-§9.3).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

from pynamodb.attributes import NumberAttribute, UnicodeAttribute

from chalicelib.core import aws, clock
from chalicelib.core.db import BaseModel, table_name
from chalicelib.core.errors import BadRequest
from chalicelib.core.permissions import VIEWER, Principal
from chalicelib.sending import mailbox_providers
from chalicelib.sending.request_models import StatsQuery

COUNTS = ("sent", "delivered", "bounced", "opened", "clicked", "spam", "unsubscribed")
DEFAULT_DAYS = 7  # seed: "the last week + today"
MAX_DAYS = 366
GROUPS = {"domains": "sending_domain_id", "categories": "category",
          "email_service_providers": "email_service_provider", "date": "date"}
ADDS_PER_UPDATE = 100  # an UpdateExpression is at most 4 KB


class StatsCounter(BaseModel):
    """The table's key; the counters are attributes named by their bucket (read and written
    with the low-level client: their names are data)."""

    class Meta:
        table_name = table_name("sending_stats")

    account_id = NumberAttribute(hash_key=True)
    bucket = UnicodeAttribute(range_key=True)  # "day#<YYYY-MM-DD>#<domain_id>" or "month#<YYYY-MM>#<domain_id>"


def provider_of(recipient: str) -> str:
    return mailbox_providers.provider_of(recipient)


def counter_name(message: Any, count: str) -> str:
    # the category goes last: it is free text and may hold "#"
    return f"{count}#{message.stream}#{provider_of(message.recipient)}#{message.category or ''}"


def item_keys(message: Any, at: datetime) -> tuple[str, str]:
    """The day's and the month's item of a message's counters at ``at``."""
    day = f"{at.astimezone(clock.UTC):%Y-%m-%d}"
    return f"day#{day}#{int(message.domain_id)}", f"month#{day[:7]}#{int(message.domain_id)}"


class Tally:
    """Counts gathered over a batch, written with one UpdateItem per counter item (a day's
    and its month's item of each domain the batch touched)."""

    def __init__(self) -> None:
        self._counts: dict[tuple[int, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))

    def add(self, message: Any, count: str, at: datetime) -> None:
        name = counter_name(message, count)
        for key in item_keys(message, at):
            self._counts[(int(message.account_id), key)][name] += 1

    def flush(self) -> None:
        ddb = aws.client("dynamodb")
        for (account_id, bucket), counts in self._counts.items():
            adds = list(counts.items())
            for start in range(0, len(adds), ADDS_PER_UPDATE):
                chunk = adds[start:start + ADDS_PER_UPDATE]
                ddb.update_item(
                    TableName=StatsCounter.Meta.table_name,
                    Key={"account_id": {"N": str(account_id)}, "bucket": {"S": bucket}},
                    UpdateExpression="ADD " + ", ".join(f"#c{i} :c{i}" for i in range(len(chunk))),
                    ExpressionAttributeNames={f"#c{i}": name for i, (name, _) in enumerate(chunk)},
                    ExpressionAttributeValues={f":c{i}": {"N": str(n)} for i, (_, n) in enumerate(chunk)})
        self._counts.clear()


def count(message: Any, name: str, at: datetime | None = None) -> None:
    tally = Tally()
    tally.add(message, name, at or clock.now())
    tally.flush()


# ---------------------------------------------------------------- queries


def _month_end(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def spans(start: date, end: date) -> list[tuple[str, str, str]]:
    """The key ranges (first, last, kind) that cover [start, end] with the fewest items:
    the whole months inside it, and the days of the partial months at its ends."""
    first_month = start if start.day == 1 else _month_end(start) + timedelta(days=1)
    last_month = end if end == _month_end(end) else end.replace(day=1) - timedelta(days=1)  # its last day
    if first_month > last_month:
        return daily_spans(start, end)
    out = daily_spans(start, first_month - timedelta(days=1)) if start < first_month else []
    out.append((f"month#{first_month:%Y-%m}", f"month#{last_month:%Y-%m}#\uffff", "month"))
    return out + (daily_spans(last_month + timedelta(days=1), end) if last_month < end else [])


def daily_spans(start: date, end: date) -> list[tuple[str, str, str]]:
    return [(f"day#{start.isoformat()}", f"day#{end.isoformat()}#\uffff", "day")]


def read_items(account_id: int, start: date, end: date, by_day: bool = False) -> Iterator[dict[str, Any]]:
    """The counter items covering [start, end]: every day's with ``by_day``, else whole months where it can."""
    ddb = aws.client("dynamodb")
    for first, last, _ in daily_spans(start, end) if by_day else spans(start, end):
        pages = ddb.get_paginator("query").paginate(
            TableName=StatsCounter.Meta.table_name,
            KeyConditionExpression="account_id = :a AND #b BETWEEN :first AND :last",
            ExpressionAttributeNames={"#b": "bucket"},
            ExpressionAttributeValues={":a": {"N": str(account_id)}, ":first": {"S": first}, ":last": {"S": last}})
        for page in pages:
            yield from page["Items"]


def _period(params: StatsQuery) -> tuple[date, date]:
    end = params.end_date or clock.now().date()
    start = params.start_date or (end - timedelta(days=DEFAULT_DAYS))
    if start > end:
        raise BadRequest("start_date must not be after end_date")
    if (end - start).days >= MAX_DAYS:
        raise BadRequest(f"the period is at most {MAX_DAYS} days")
    return start, end


def rates(totals: dict[str, int]) -> dict[str, Any]:
    sent, delivered = totals.get("sent", 0), totals.get("delivered", 0)

    def rate(part: int, whole: int) -> float:
        return round(part / whole, 4) if whole else 0.0

    return {"delivery_count": delivered, "delivery_rate": rate(delivered, sent),
            "bounce_count": totals.get("bounced", 0), "bounce_rate": rate(totals.get("bounced", 0), sent),
            "open_count": totals.get("opened", 0), "open_rate": rate(totals.get("opened", 0), delivered),
            "click_count": totals.get("clicked", 0), "click_rate": rate(totals.get("clicked", 0), delivered),
            "spam_count": totals.get("spam", 0), "spam_rate": rate(totals.get("spam", 0), delivered)}


def _rows(principal: Principal, params: StatsQuery, by_day: bool = False):
    """(dimensions, counts) of every counter of the period that passes the filters; ``date``
    is None in a month's counters unless ``by_day`` reads every day."""
    start, end = _period(params)
    visible = principal.resource_ids("domain", VIEWER)
    domains, streams = set(params.sending_domain_ids), set(params.sending_streams)
    categories, providers = set(params.categories), set(params.email_service_providers)
    for item in read_items(principal.account_id, start, end, by_day):
        kind, period, domain_id = item["bucket"]["S"].split("#")
        domain_id = int(domain_id)
        if (visible is not None and domain_id not in visible) or (domains and domain_id not in domains):
            continue
        for name, value in item.items():
            if "#" not in name:
                continue  # the key
            count, stream, provider, category = name.split("#", 3)
            if (streams and stream not in streams) or (categories and category not in categories) or (
                    providers and provider not in providers):
                continue
            dims = {"sending_domain_id": domain_id, "category": category or None,
                    "email_service_provider": provider, "date": period if kind == "day" else None}
            yield dims, count, int(value["N"])


def counters(account_id: int, start: date, end: date) -> Iterator[tuple[dict[str, Any], dict[str, int]]]:
    """(dimensions, counts) of one account's counters for every day from ``start`` to ``end``
    (both included), for checks that compare days (deliverability alerts)."""
    for item in read_items(account_id, start, end, by_day=True):
        _, day, domain_id = item["bucket"]["S"].split("#")
        buckets: dict[tuple[str, str, str], dict[str, int]] = defaultdict(dict)
        for name, value in item.items():
            if "#" in name:  # the key attributes have none
                count, stream, provider, category = name.split("#", 3)
                buckets[(stream, provider, category)][count] = int(value["N"])
        for (stream, provider, category), counts in buckets.items():
            yield {"sending_domain_id": int(domain_id), "stream": stream, "email_service_provider": provider,
                   "category": category or None, "date": day}, counts


def summary(principal: Principal, params: StatsQuery, by_day: bool = False) -> dict[str, Any]:
    totals: dict[str, int] = defaultdict(int)
    for _, name, n in _rows(principal, params, by_day):
        totals[name] += n
    return rates(totals)


def grouped(principal: Principal, params: StatsQuery, group: str, by_day: bool = False) -> list[dict[str, Any]]:
    key = GROUPS[group]
    totals: dict[Any, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for dims, name, n in _rows(principal, params, by_day or group == "date"):  # a month has no days
        totals[dims[key]][name] += n
    if group == "date":  # every day of the period, empty ones too
        start, end = _period(params)
        for offset in range((end - start).days + 1):
            totals[(start + timedelta(days=offset)).isoformat()]  # noqa: B018 (creates the empty day)
    return [{key: value, "stats": rates(counts)}
            for value, counts in sorted(totals.items(), key=lambda kv: (kv[0] is None, str(kv[0])))]
