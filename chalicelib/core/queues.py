"""SQS: sending messages to Postline's queues and consuming them with partial batch failure.

Every consumer goes through ``process_batch``: a record that raises is reported in
``batchItemFailures`` and returns to its queue (and after maxReceiveCount to its DLQ); the
rest of the batch is done. Lambda (with ReportBatchItemFailures) and the local event pump
treat the return value the same way.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from chalicelib import aws
from chalicelib.core import logs

log = logging.getLogger("postline.queues")

# Short names of every queue Postline uses; infra/template.yaml declares each with a DLQ
# (tests/test_infra.py checks the two agree). Capabilities add theirs at import.
QUEUES: set[str] = set()
MAX_BATCH_BYTES = 1024 * 1024


def register(name: str) -> str:
    QUEUES.add(name)
    return name


def send(queue: str, body: dict[str, Any], delay_seconds: int = 0) -> str:
    response = aws.client("sqs").send_message(
        QueueUrl=aws.queue_url(queue), MessageBody=json.dumps(body),
        DelaySeconds=max(0, min(900, int(delay_seconds))))
    return response["MessageId"]


def send_many(queue: str, bodies: Iterable[dict[str, Any]]) -> None:
    """Send in batches of up to 10 messages and 1 MiB (the SQS maximums); raises if any is refused."""
    sqs = aws.client("sqs")
    batch: list[dict[str, Any]] = []
    size = 0

    def flush() -> None:
        nonlocal size
        if not batch:
            return
        result = sqs.send_message_batch(QueueUrl=aws.queue_url(queue), Entries=batch)
        if result.get("Failed"):
            raise RuntimeError(f"SQS refused {len(result['Failed'])} messages for {queue}")
        batch.clear()
        size = 0

    for body in bodies:
        encoded = json.dumps(body, ensure_ascii=True)  # ASCII: its length is its size in bytes
        if size + len(encoded) > MAX_BATCH_BYTES:  # SQS also caps a whole batch at 1 MiB
            flush()
        batch.append({"Id": str(len(batch)), "MessageBody": encoded})
        size += len(encoded)
        if len(batch) == 10:
            flush()
    flush()


def process_batch(event: Any, handle: Callable[[dict[str, Any]], None]) -> dict[str, list[dict[str, str]]]:
    """Run ``handle(body)`` per record; report the ones that raised so only they are retried."""
    failures = []
    for record in event:
        raw = record.to_dict()
        try:
            body = json.loads(record.body)
            logs.bind(account_id=body.get("account_id") if isinstance(body, dict) else None)
            handle(body)
        except Exception:
            log.exception("record %s failed; it returns to the queue", raw.get("messageId"))
            failures.append({"itemIdentifier": raw["messageId"]})
    return {"batchItemFailures": failures}
