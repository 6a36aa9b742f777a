"""Fixed-window request counting in DynamoDB, shared by every Lambda instance.

One UpdateItem (ADD) per counted request; windows expire through the table's TTL.
"""

from __future__ import annotations

import math
from datetime import timedelta

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute

from chalicelib.core import clock
from chalicelib.core.db import BaseModel, table_name
from chalicelib.core.errors import RateLimited


class RateWindow(BaseModel):
    class Meta:
        table_name = table_name("rate_windows")

    key = UnicodeAttribute(hash_key=True)  # "<scope>:<window start epoch>"
    hits = NumberAttribute(default=0)
    expires = TTLAttribute()


def hit(scope: str, limit: int, window_seconds: int) -> int:
    """Count one request in ``scope``; raise RateLimited (with Retry-After) past ``limit``."""
    now = clock.now().timestamp()
    start = int(now // window_seconds * window_seconds)
    item = RateWindow(f"{scope}:{start}")
    item.update(actions=[
        RateWindow.hits.add(1),
        RateWindow.expires.set(clock.now() + timedelta(seconds=window_seconds * 2)),
    ])
    if item.hits > limit:
        raise RateLimited(retry_after=math.ceil(start + window_seconds - now))
    return int(item.hits)
