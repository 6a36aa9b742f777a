"""core.queues: send_many batches within the SQS limits of 10 messages and 1 MiB of bodies;
process_batch reports failures per record, and on a FIFO queue stops at the first one."""

import json

import pytest
from chalice.app import SQSEvent

from chalicelib.core import queues


class FakeSqs:
    def __init__(self):
        self.batches = []

    def send_message_batch(self, QueueUrl, Entries):
        self.batches.append([e["MessageBody"] for e in Entries])
        return {"Successful": [{"Id": e["Id"]} for e in Entries]}


def test_send_many_splits_at_ten_messages_and_at_the_batch_byte_limit(monkeypatch):
    sqs = FakeSqs()
    monkeypatch.setattr(queues.aws, "client", lambda service: sqs)
    monkeypatch.setattr(queues.aws, "queue_url", lambda name: f"https://sqs.test/{name}")
    queues.send_many("q", ({"n": i} for i in range(23)))
    assert [len(b) for b in sqs.batches] == [10, 10, 3]

    sqs.batches.clear()
    body = {"text": "é" * 100}  # non-ASCII: each "é" travels as the 6 bytes \u00e9
    size = len(json.dumps(body).encode())
    assert size == len(json.dumps(body)) and size > 600
    monkeypatch.setattr(queues, "MAX_BATCH_BYTES", 2 * size)
    queues.send_many("q", [body] * 5)
    assert [len(b) for b in sqs.batches] == [2, 2, 1]
    assert all(sum(len(m.encode()) for m in b) <= 2 * size for b in sqs.batches)
    assert [json.loads(m) for b in sqs.batches for m in b] == [body] * 5


def _event(queue: str, bodies: list[str]) -> SQSEvent:
    return SQSEvent({"Records": [
        {"messageId": f"m-{b}", "receiptHandle": f"r-{b}", "body": json.dumps({"n": b}), "attributes": {},
         "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs", "awsRegion": "us-east-1",
         "eventSourceARN": f"arn:aws:sqs:us-east-1:123456789012:{queue}"} for b in bodies]}, None)


@pytest.mark.parametrize("queue, tried, failed", [
    ("postline-dev-contact-events.fifo", ["a", "bad"], ["bad", "c", "d"]),
    ("postline-dev-send-bulk", ["a", "bad", "c", "d"], ["bad"]),
])
def test_a_fifo_batch_stops_at_its_first_failure_a_standard_one_does_the_rest(queue, tried, failed):
    seen = []

    def handle(body):
        seen.append(body["n"])
        if body["n"] == "bad":
            raise RuntimeError("poisoned")

    result = queues.process_batch(_event(queue, ["a", "bad", "c", "d"]), handle)
    assert seen == tried
    assert result == {"batchItemFailures": [{"itemIdentifier": f"m-{b}"} for b in failed]}
    assert queues.last_error("m-bad") == "RuntimeError: poisoned"  # kept for the DLQ's consumer


def test_fifo_can_be_said_explicitly():
    seen = []

    def handle(body):
        seen.append(body["n"])
        if body["n"] == "a":
            raise ValueError("no")

    assert queues.process_batch(_event("plain", ["a", "b"]), handle, fifo=True)["batchItemFailures"] == \
        [{"itemIdentifier": "m-a"}, {"itemIdentifier": "m-b"}]
    assert seen == ["a"]
    assert queues.process_batch(_event("q.fifo", ["a", "b"]), handle, fifo=False)["batchItemFailures"] == \
        [{"itemIdentifier": "m-a"}]
    assert seen == ["a", "a", "b"]


def test_a_busy_record_keeps_the_error_that_explains_it():
    # a redelivery that finds another worker on the record says nothing about why it fails
    def poisoned(body):
        raise UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")

    def busy(body):
        raise queues.Busy("another worker holds it")

    queues.process_batch(_event("postline-dev-send-bulk", ["busy-1"]), poisoned)
    queues.process_batch(_event("postline-dev-send-bulk", ["busy-1"]), busy)
    assert queues.last_error("m-busy-1") == \
        "UnicodeEncodeError: 'utf-8' codec can't encode character '\\ud800' in position 0: surrogates not allowed"
