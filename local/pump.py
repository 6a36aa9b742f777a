"""The event pump: plays Lambda's SQS event source mapping for every ``@app.on_sqs_message``.

One thread per consumer long-polls its queue, hands each batch to the same handler Lambda
runs (``app.handler_map[name]``) in Lambda's event shape, and settles it as Lambda does with
ReportBatchItemFailures:
- the handler returns ``{"batchItemFailures": [{"itemIdentifier": <messageId>}, ...]}``:
  every other record is deleted; the listed ones stay, become visible again after the
  queue's visibility timeout and, after maxReceiveCount receives, moto moves them to the DLQ;
- it returns nothing or an empty list: the whole batch is deleted;
- it raises, or names a record that is not in the batch: nothing is deleted.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from chalice.app import Chalice, SQSEventConfig
from chalice.local import LambdaContext

from chalicelib.core import aws, queues
from chalicelib.core.config import settings

log = logging.getLogger("postline.local.pump")

SQS_MAX_RECEIVE = 10  # messages per ReceiveMessage call


@dataclass(frozen=True)
class Consumer:
    handler: str  # its name in app.handler_map (the Lambda function's name in Chalice)
    queue: str  # the SQS queue name
    batch_size: int
    batching_window: int  # seconds Lambda may wait to fill a batch
    timeout_seconds: int = 60  # the function's Lambda timeout: context.get_remaining_time, and a longer batch fails
    memory_mb: int = 128  # the function's Lambda memory (context.memory_limit_in_mb)


def queue_name(config: SQSEventConfig) -> str:
    """The real queue name: from the ARN, a registered short name, or the name itself."""
    if config.queue_arn:
        return config.queue_arn.rsplit(":", 1)[1]
    name = config.queue or ""
    return settings().queue_name(name) if name in queues.QUEUES else name


def consumers(app: Chalice) -> list[Consumer]:
    return [Consumer(handler=source.name, queue=queue_name(source), batch_size=source.batch_size,
                     batching_window=source.maximum_batching_window_in_seconds or 0)
            for source in app.event_sources if isinstance(source, SQSEventConfig)]


def _message_attribute(value: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"stringListValues": [], "binaryListValues": [], "dataType": value["DataType"]}
    if "StringValue" in value:
        out["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        out["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
    return out


def lambda_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """One SQS message in the shape Lambda hands to the function."""
    record = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes") or {}),
        "messageAttributes": {k: _message_attribute(v) for k, v in (message.get("MessageAttributes") or {}).items()},
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def failed_ids(result: Any, batch_ids: set[str]) -> set[str]:
    """The message ids to leave on the queue, given what the handler returned."""
    if not isinstance(result, dict) or not result.get("batchItemFailures"):
        return set()
    ids = set()
    for failure in result["batchItemFailures"]:
        item = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not item or item not in batch_ids:
            log.error("batchItemFailures names %r, which is not in the batch: the whole batch fails", item)
            return set(batch_ids)
        ids.add(item)
    return ids


class QueuePoller:
    """Long-polls one queue and feeds its handler until stopped."""

    def __init__(self, app: Chalice, consumer: Consumer, wait_seconds: int = 2, function_prefix: str = "",
                 sqs: Any = None) -> None:
        self.app, self.consumer, self.wait_seconds = app, consumer, wait_seconds
        self.function_name = f"{function_prefix}{consumer.handler}"
        self.sqs = sqs or aws.client("sqs")
        try:
            self.queue_url = self.sqs.get_queue_url(QueueName=consumer.queue)["QueueUrl"]
        except self.sqs.exceptions.QueueDoesNotExist:
            raise RuntimeError(
                f"{consumer.handler} consumes queue {consumer.queue!r}, which the local stack does not have: "
                "declare it (and its DLQ) in infra/template.yaml") from None
        self.queue_arn = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"pump:{consumer.handler}", daemon=True)

    def start(self) -> QueuePoller:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:
                log.exception("pump for %s failed; retrying", self.consumer.handler)
                self._stop.wait(1)

    def _receive(self, count: int, wait: int) -> list[dict[str, Any]]:
        return self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=max(1, min(SQS_MAX_RECEIVE, count)), WaitTimeSeconds=wait,
            MessageSystemAttributeNames=["All"], MessageAttributeNames=["All"]).get("Messages", [])

    def _batch(self) -> list[dict[str, Any]]:
        """Up to batch_size messages: one long poll, then more within the batching window."""
        size = self.consumer.batch_size
        messages = self._receive(size, self.wait_seconds)
        deadline = time.monotonic() + self.consumer.batching_window
        while messages and len(messages) < size and not self._stop.is_set():
            remaining = deadline - time.monotonic()
            more = self._receive(size - len(messages), max(0, min(20, int(remaining))))
            if not more and remaining < 1:  # window over (or under the 1 s a long poll can wait)
                break
            messages.extend(more)
        return messages

    def poll_once(self) -> int:
        """Receive one batch, run the handler on it, settle it. Returns the batch size."""
        messages = self._batch()
        if not messages:
            return 0
        region = settings().region
        event = {"Records": [lambda_record(m, self.queue_arn, region) for m in messages]}
        context = LambdaContext(self.function_name, memory_size=self.consumer.memory_mb,
                                max_runtime_ms=self.consumer.timeout_seconds * 1000)
        batch_ids = {m["MessageId"] for m in messages}
        started = time.monotonic()
        try:
            result = self.app.handler_map[self.consumer.handler](event, context)
        except Exception:
            log.exception("%s raised: the whole batch of %d returns to %s", self.consumer.handler,
                          len(messages), self.consumer.queue)
            return len(messages)
        took = time.monotonic() - started
        if took > self.consumer.timeout_seconds:
            # Lambda would have stopped it at its timeout and failed the whole batch: so does the pump
            # (the work is not cut off here, but nothing is deleted: every record comes back).
            log.error("%s timed out: the batch of %d took %.1f s, over its %d s Lambda timeout "
                      "(.chalice/config.json); it returns to %s", self.consumer.handler, len(messages), took,
                      self.consumer.timeout_seconds, self.consumer.queue)
            return len(messages)
        keep = failed_ids(result, batch_ids)
        self._delete([m for m in messages if m["MessageId"] not in keep])
        return len(messages)

    def _delete(self, messages: list[dict[str, Any]]) -> None:
        for start in range(0, len(messages), SQS_MAX_RECEIVE):
            chunk = messages[start:start + SQS_MAX_RECEIVE]
            response = self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)])
            for failure in response.get("Failed", []):
                log.error("could not delete a message from %s: %s", self.consumer.queue, failure.get("Message"))


class EventPump:
    """Every SQS consumer of the app, each on its own thread."""

    def __init__(self, app: Chalice, wait_seconds: int = 2, function_prefix: str = "",
                 timeouts: dict[str, int] | None = None, sqs: Any = None,
                 memory: dict[str, int] | None = None) -> None:
        timeouts, memory = timeouts or {}, memory or {}
        self.pollers = [
            QueuePoller(app, Consumer(c.handler, c.queue, c.batch_size, c.batching_window,
                                      timeouts.get(c.handler, c.timeout_seconds), memory.get(c.handler, c.memory_mb)),
                        wait_seconds=wait_seconds, function_prefix=function_prefix, sqs=sqs)
            for c in consumers(app)]

    def start(self) -> EventPump:
        for poller in self.pollers:
            poller.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop polling; a batch being handled may finish within ``timeout`` (see running())."""
        for poller in self.pollers:
            poller.stop()
        deadline = time.monotonic() + timeout
        for poller in self.pollers:
            poller.join(max(0.0, deadline - time.monotonic()))

    def running(self) -> list[str]:
        """Consumers still inside a batch (after stop)."""
        return [p.consumer.handler for p in self.pollers if p.alive()]
