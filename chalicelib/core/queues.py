"""SQS: sending messages to Postline's queues and consuming them with partial batch failure.

Every consumer goes through ``process_batch``: a record that raises is reported in
``batchItemFailures`` and returns to its queue (and after maxReceiveCount to its DLQ); the
rest of the batch is done, except on a FIFO queue, where every record after the failed one
returns with it so that no record of a message group overtakes an earlier one. Lambda (with
ReportBatchItemFailures) and the local event pump treat the return value the same way. The
error a record raised is kept for a while (``RecordFailure``) so that whoever settles it in
the DLQ (core/deadletters.py) can say why it failed.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

from pynamodb.attributes import TTLAttribute, UnicodeAttribute

from chalicelib.core import aws, clock, logs
from chalicelib.core.db import BaseModel, table_name

log = logging.getLogger("postline.queues")

# Short names of every queue Postline uses; infra/template.yaml declares each with a DLQ
# (tests/unit/test_infra.py checks the two agree). Capabilities add theirs at import.
QUEUES: set[str] = set()
MAX_BATCH_BYTES = 1024 * 1024
KEEP_FAILURES = timedelta(days=15)  # outlives the DLQs' 14-day retention
MAX_ERROR_CHARS = 300
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


class Busy(Exception):
    """The record is fine but can't be done now (another worker holds it): it returns to the
    queue like any failure, but the error kept for it stays the one that explains it."""


class RecordFailure(BaseModel):
    """The last error an SQS record raised in its consumer, by message id (SQS keeps the id
    when it moves the record to the DLQ)."""

    class Meta:
        table_name = table_name("queue_failures")

    message_id = UnicodeAttribute(hash_key=True)
    queue = UnicodeAttribute()  # the queue's full name
    error = UnicodeAttribute()  # describe(exc)
    expires = TTLAttribute()


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


def source_queue(record: dict[str, Any]) -> str:
    """The name of the queue a Lambda SQS record came from (its ARN's last part)."""
    return str(record.get("eventSourceARN") or "").rsplit(":", 1)[-1].rsplit("/", 1)[-1]


def process_batch(event: Any, handle: Callable[[dict[str, Any]], None],
                  fifo: bool | None = None) -> dict[str, list[dict[str, str]]]:
    """Run ``handle(body)`` per record; report the ones that raised so only they are retried."""
    return process_records(event, lambda record: _handle_body(handle, record), fifo)


def _handle_body(handle: Callable[[dict[str, Any]], None], record: dict[str, Any]) -> None:
    body = json.loads(record["body"])
    logs.bind(account_id=body.get("account_id") if isinstance(body, dict) else None)
    handle(body)


def process_records(event: Any, handle: Callable[[dict[str, Any]], None],
                    fifo: bool | None = None) -> dict[str, list[dict[str, str]]]:
    """``process_batch`` for a handler that needs the whole record (Lambda's shape), not its body.

    On a FIFO queue (``fifo``, or by default a queue whose name ends in ``.fifo``) the first
    record that raises and every record after it are reported, untried ones included
    (Powertools' SqsFifoPartialProcessor rule): a later record of a message group is never
    done before an earlier one that has to be retried."""
    failures: list[dict[str, str]] = []
    for record in event:
        raw = record.to_dict()
        queue = source_queue(raw)
        if failures and (fifo if fifo is not None else queue.endswith(".fifo")):
            failures.append({"itemIdentifier": raw["messageId"]})  # not tried: it waits behind the failed one
            continue
        try:
            handle(raw)
        except Exception as exc:
            log.exception("record %s failed; it returns to the queue", raw.get("messageId"))
            remember_failure(raw["messageId"], queue, exc)
            failures.append({"itemIdentifier": raw["messageId"]})
    return {"batchItemFailures": failures}


def describe(exc: BaseException) -> str:
    """An error as one short readable line: its class and message (no traceback)."""
    text = _CONTROL.sub(" ", f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__).strip()
    return text if len(text) <= MAX_ERROR_CHARS else text[:MAX_ERROR_CHARS - 3] + "..."


def remember_failure(message_id: str, queue: str, exc: BaseException) -> None:
    """Keep the error ``message_id`` raised, for the DLQ consumer; never fails the batch."""
    if isinstance(exc, Busy):
        return
    try:
        RecordFailure(message_id, queue=queue, error=describe(exc), expires=clock.now() + KEEP_FAILURES).save()
    except Exception:
        log.warning("could not keep the error of record %s", message_id, exc_info=True)


def last_error(message_id: str) -> str | None:
    """The last error a record raised in its consumer, if known."""
    try:
        return RecordFailure.get(message_id, consistent_read=True).error
    except RecordFailure.DoesNotExist:
        return None
