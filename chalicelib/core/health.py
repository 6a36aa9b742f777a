"""Health of the API and of each backing resource (tables, queues, bucket).

The route is public, and a full report is one AWS call per table, queue and bucket (~45):
the probes run side by side, and a report is reused for ``CACHE_SECONDS`` (a degraded one
for less), so requests to it can't multiply AWS calls (concurrent requests wait for the
one report being made).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from chalicelib.core import aws, queues
from chalicelib.core.db import ALL_MODELS

CACHE_SECONDS = 10.0
DEGRADED_CACHE_SECONDS = 2.0  # a bad report is reused less long: recovery shows sooner
PROBES_AT_ONCE = 8

_lock = threading.Lock()
_last: tuple[float, dict[str, Any]] | None = None


def _probe(check) -> str:
    try:
        check()
        return "ok"
    except Exception as exc:  # a health check reports, it does not raise
        return f"error: {type(exc).__name__}"


def report(max_age: float = CACHE_SECONDS) -> dict[str, Any]:
    """The health report, made at most ``max_age`` seconds ago."""
    global _last
    with _lock:
        if _last is not None:
            age, last = time.monotonic() - _last[0], _last[1]
            if age < (max_age if last["status"] == "ok" else min(max_age, DEGRADED_CACHE_SECONDS)):
                return last
        result = _make_report()
        _last = (time.monotonic(), result)
        return result


def _make_report() -> dict[str, Any]:
    sqs, s3, bucket = aws.client("sqs"), aws.client("s3"), aws.bucket("data")
    checks: dict[tuple[str, str], Any] = {("tables", m.Meta.table_name): m.describe_table for m in ALL_MODELS}
    for name in sorted(queues.QUEUES):
        checks[("queues", name)] = lambda n=name: sqs.get_queue_attributes(
            QueueUrl=aws.queue_url(n), AttributeNames=["QueueArn"])
    checks[("buckets", bucket)] = lambda: s3.head_bucket(Bucket=bucket)
    with ThreadPoolExecutor(max_workers=PROBES_AT_ONCE) as pool:
        outcomes = dict(zip(checks, pool.map(_probe, checks.values()), strict=True))
    groups: dict[str, dict[str, str]] = {"tables": {}, "queues": {}, "buckets": {}}
    for (group, name), outcome in outcomes.items():
        groups[group][name] = outcome
    healthy = all(v == "ok" for v in outcomes.values())
    return {"status": "ok" if healthy else "degraded", "api": "ok", **groups}
