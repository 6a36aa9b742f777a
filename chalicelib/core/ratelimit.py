"""Sliding-window counting in DynamoDB, shared by every Lambda instance and SMTP task.

A scope's hits live in one item, one number attribute per slice of the window (``SLICES``
slices, attributes ``s<slice number>`` that the model does not declare). Counting a hit is
one UpdateItem (ADD to the current slice, the item returned); it is allowed when the
slices overlapping the last ``window`` seconds hold at most ``limit`` hits, itself
included. Counting whole slices makes the answer strict: no span of ``window`` seconds
ever passes more than ``limit`` (a fixed window let twice the limit through across its
edge); the price is that a hit keeps counting up to one slice (window / 60) longer than
the window. A refused hit is taken back, so a client retrying early does not push its own
Retry-After further away. Slices that left the window are removed now and then, and a
whole item expires through the table's TTL.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass

from botocore.exceptions import ClientError
from pynamodb.attributes import TTLAttribute, UnicodeAttribute
from pynamodb.models import Model

from chalicelib.core import aws, clock
from chalicelib.core.db import BaseModel, table_name
from chalicelib.core.errors import RateLimited

log = logging.getLogger("postline.ratelimit")
SLICES = 60  # per window: a hit counts for between window and window * 61/60 seconds
CLEANUP_AFTER = 30  # slices past the window an item may keep before they are removed
_SLICE = "s"


class RateWindow(BaseModel):
    class Meta:
        table_name = table_name("rate_windows")

    key = UnicodeAttribute(hash_key=True)  # the scope ("token:12", "contacts:3", ...)
    expires = TTLAttribute()


@dataclass(frozen=True)
class Counts:
    """One scope's hits per slice at one moment."""

    slices: dict[int, int]
    current: int  # the slice "now" falls in
    slice_ms: int
    now_ms: int

    @property
    def total(self) -> int:
        """Hits in the slices that overlap the last window."""
        return sum(n for i, n in self.slices.items() if i >= self.current - SLICES)

    def seconds_until_below(self, limit: int, less: int = 0) -> int:
        """Seconds until the window holds fewer than ``limit`` hits (``less`` of them not
        counted): until enough of its oldest slices have left it. 0: it does now."""
        remaining = self.total - less
        if remaining < limit:
            return 0
        for i in sorted(i for i in self.slices if i >= self.current - SLICES):
            remaining -= self.slices[i]
            if remaining < limit:
                leaves_ms = (i + SLICES + 1) * self.slice_ms  # when slice i stops overlapping the window
                return max(1, math.ceil((leaves_ms - self.now_ms) / 1000))
        return math.ceil((SLICES + 1) * self.slice_ms / 1000)  # a limit of 0 or less: never


def hit(scope: str, limit: int, window_seconds: int, table: type[Model] = RateWindow) -> int:
    """Count one request in ``scope``; raise RateLimited (with Retry-After) past ``limit``.
    Returns the hits in the window, this one included."""
    counts, slot = _add(table, scope, window_seconds, 1)
    if counts.total > limit:
        _add(table, scope, window_seconds, -1, slot)
        raise RateLimited(retry_after=counts.seconds_until_below(limit, less=1))
    return counts.total


def record(scope: str, window_seconds: int, table: type[Model] = RateWindow) -> int:
    """Count one event in ``scope`` with no limit; returns the events in the window."""
    counts, _ = _add(table, scope, window_seconds, 1)
    return counts.total


def wait_seconds(scopes: Iterable[str], limit: int, window_seconds: int, table: type[Model] = RateWindow) -> int:
    """Seconds until every scope holds fewer than ``limit`` events (0: all do now); one read."""
    keys = [{"key": {"S": s}} for s in dict.fromkeys(scopes)]
    if not keys:
        return 0
    name, client = table.Meta.table_name, aws.client("dynamodb")
    items: list[dict] = []
    request = {name: {"Keys": keys, "ConsistentRead": True}}
    while request:
        answer = client.batch_get_item(RequestItems=request)
        items += answer["Responses"].get(name, [])
        request = answer.get("UnprocessedKeys") or {}
    now_ms = _now_ms()
    return max((_counts(item, window_seconds, now_ms).seconds_until_below(limit) for item in items), default=0)


def _slice_ms(window_seconds: int) -> int:
    return max(1, math.ceil(window_seconds * 1000 / SLICES))  # rounded up: SLICES slices span the window


def _now_ms() -> int:
    return int(clock.now().timestamp() * 1000)


def _counts(item: dict, window_seconds: int, now_ms: int) -> Counts:
    slice_ms = _slice_ms(window_seconds)
    slices = {int(k[1:]): int(v["N"]) for k, v in item.items() if k.startswith(_SLICE) and k[1:].isdigit()}
    return Counts(slices, now_ms // slice_ms, slice_ms, now_ms)


def _add(table: type[Model], scope: str, window_seconds: int, amount: int,
         slot: int | None = None) -> tuple[Counts, int]:
    now_ms = _now_ms()
    slice_ms = _slice_ms(window_seconds)
    slot = now_ms // slice_ms if slot is None else slot
    client, name = aws.client("dynamodb"), table.Meta.table_name
    answer = client.update_item(
        TableName=name, Key={"key": {"S": scope}},
        UpdateExpression="ADD #slice :n SET #expires = :expires",
        ExpressionAttributeNames={"#slice": f"{_SLICE}{slot}", "#expires": "expires"},
        ExpressionAttributeValues={":n": {"N": str(amount)},
                                   ":expires": {"N": str(now_ms // 1000 + 2 * window_seconds + 60)}},
        ReturnValues="ALL_NEW")
    counts = _counts(answer["Attributes"], window_seconds, now_ms)
    stale = [i for i in counts.slices if i < counts.current - SLICES]
    if len(stale) >= CLEANUP_AFTER:
        _remove(client, name, scope, stale)
    return counts, slot


def _remove(client, name: str, scope: str, stale: list[int]) -> None:
    """Drop slices that left the window (never a current one: an ADD to it could be lost)."""
    names = {f"#s{n}": f"{_SLICE}{i}" for n, i in enumerate(stale)}
    try:
        client.update_item(TableName=name, Key={"key": {"S": scope}},
                           UpdateExpression="REMOVE " + ", ".join(names), ExpressionAttributeNames=names)
    except ClientError:  # the next hit tries again; counting is unaffected
        log.warning("could not remove %d old slices of a rate window", len(stale), exc_info=True)
