"""Health of the API and of each backing resource (tables, queues, bucket)."""

from __future__ import annotations

from typing import Any

from chalicelib import aws
from chalicelib.core import queues
from chalicelib.core.db import ALL_MODELS


def _probe(check) -> str:
    try:
        check()
        return "ok"
    except Exception as exc:  # a health check reports, it does not raise
        return f"error: {type(exc).__name__}"


def report() -> dict[str, Any]:
    tables = {m.Meta.table_name: _probe(m.describe_table) for m in ALL_MODELS}
    sqs = aws.client("sqs")
    queue_states = {name: _probe(lambda n=name: sqs.get_queue_attributes(
        QueueUrl=aws.queue_url(n), AttributeNames=["QueueArn"])) for name in sorted(queues.QUEUES)}
    bucket = aws.bucket("data")
    buckets = {bucket: _probe(lambda: aws.client("s3").head_bucket(Bucket=bucket))}
    healthy = all(v == "ok" for group in (tables, queue_states, buckets) for v in group.values())
    return {
        "status": "ok" if healthy else "degraded",
        "api": "ok",
        "tables": tables,
        "queues": queue_states,
        "buckets": buckets,
    }
