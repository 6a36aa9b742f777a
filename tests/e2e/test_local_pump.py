"""The event pump against a real moto server: Lambda's SQS semantics, partial batch failures."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable

import boto3
import pytest
from chalice import Chalice
from local_support import running_emulator

from chalicelib.core import queues
from local.pump import EventPump, failed_ids


@pytest.fixture(scope="module")
def sqs():
    with running_emulator() as emulator:
        yield boto3.client("sqs", endpoint_url=emulator.endpoint, region_name="us-east-1",
                           aws_access_key_id="local", aws_secret_access_key="local")


def make_queue(sqs, max_receives: int = 2) -> tuple[str, str, str]:
    """A work queue (1 s visibility) and its DLQ; returns (name, url, dlq url)."""
    name = f"pump-{uuid.uuid4().hex[:8]}"
    dlq = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(QueueName=name, Attributes={
        "VisibilityTimeout": "1",
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receives})})["QueueUrl"]
    return name, url, dlq


def counts(sqs, url: str) -> tuple[int, int]:
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]), int(attrs["ApproximateNumberOfMessagesNotVisible"])


def wait_for(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def run_pump(app: Chalice, sqs, until: Callable[[], bool]) -> None:
    pump = EventPump(app, wait_seconds=1, sqs=sqs).start()
    try:
        wait_for(until)
    finally:
        pump.stop()


def test_one_bad_record_returns_and_lands_in_the_dlq_the_rest_are_done(sqs):
    name, url, dlq = make_queue(sqs, max_receives=2)
    sqs.send_message_batch(QueueUrl=url, Entries=[
        {"Id": str(i), "MessageBody": body} for i, body in enumerate(["a", "b", "bad", "c", "d"])])
    app = Chalice("pump-test")
    batches: list[list[dict]] = []

    @app.on_sqs_message(queue=name, batch_size=10)
    def consume(event):
        records = [r.to_dict() for r in event]
        batches.append(records)
        return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in records if r["body"] == "bad"]}

    run_pump(app, sqs, until=lambda: counts(sqs, dlq)[0] == 1)

    seen = [(r["body"], r["attributes"]["ApproximateReceiveCount"]) for batch in batches for r in batch]
    assert sorted(seen) == [("a", "1"), ("b", "1"), ("bad", "1"), ("bad", "2"), ("c", "1"), ("d", "1")]
    assert len(batches[0]) == 5  # one batch, as Lambda would deliver it
    assert counts(sqs, url) == (0, 0)  # the good ones were deleted, the bad one moved on
    moved = sqs.receive_message(QueueUrl=dlq)["Messages"]
    assert [m["Body"] for m in moved] == ["bad"]
    first = batches[0][0]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    assert (first["eventSource"], first["eventSourceARN"], first["awsRegion"]) == ("aws:sqs", queue_arn, "us-east-1")
    assert first["receiptHandle"] and first["md5OfBody"] and "SentTimestamp" in first["attributes"]


def test_two_events_of_one_account_are_never_applied_out_of_order(sqs):
    # a FIFO batch stops at its first failure: the failed record and every one after it
    # return to the queue (core/queues.process_batch), so event 2 waits for event 1's retry
    name = f"pump-{uuid.uuid4().hex[:8]}"
    dlq = sqs.create_queue(QueueName=f"{name}-dlq.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(QueueName=f"{name}.fifo", Attributes={
        "FifoQueue": "true", "ContentBasedDeduplication": "true", "VisibilityTimeout": "1",
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5})})["QueueUrl"]
    sqs.send_message_batch(QueueUrl=url, Entries=[
        {"Id": str(seq), "MessageGroupId": "account-7", "MessageBody": json.dumps({"account_id": 7, "seq": seq})}
        for seq in (1, 2)])
    app = Chalice("pump-test")
    applied: list[int] = []
    attempts: list[int] = []

    def apply(body):
        attempts.append(body["seq"])
        if body["seq"] == 1 and attempts.count(1) == 1:
            raise RuntimeError("a throttled write: retried later")
        applied.append(body["seq"])

    @app.on_sqs_message(queue=f"{name}.fifo", batch_size=10)
    def consume(event):
        return queues.process_batch(event, apply)

    run_pump(app, sqs, until=lambda: len(applied) == 2)

    assert applied == [1, 2]
    assert attempts == [1, 1, 2]  # event 2 was not even tried behind the failed event 1
    assert counts(sqs, url) == (0, 0) and counts(sqs, dlq) == (0, 0)


def test_a_handler_that_raises_returns_the_whole_batch(sqs):
    name, url, dlq = make_queue(sqs, max_receives=2)
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"m{i}"} for i in range(3)])
    app = Chalice("pump-test")
    received: list[tuple[str, str]] = []

    @app.on_sqs_message(queue=name, batch_size=10)
    def consume(event):
        for record in event:
            received.append((record.body, record.to_dict()["attributes"]["ApproximateReceiveCount"]))
        raise RuntimeError("downstream is down")

    run_pump(app, sqs, until=lambda: counts(sqs, dlq)[0] == 3)

    # nothing was deleted: every message came back once more, then went to the DLQ
    assert sorted(received) == [(f"m{i}", n) for i in range(3) for n in ("1", "2")]
    assert counts(sqs, url) == (0, 0)


def test_a_failure_naming_a_record_outside_the_batch_fails_the_batch():
    assert failed_ids({"batchItemFailures": [{"itemIdentifier": "x"}]}, {"a", "b"}) == {"a", "b"}
    assert failed_ids({"batchItemFailures": [{"itemIdentifier": "a"}]}, {"a", "b"}) == {"a"}
    assert failed_ids({"batchItemFailures": []}, {"a"}) == set()
    assert failed_ids(None, {"a"}) == set()


def test_a_consumer_of_an_undeclared_queue_stops_the_start(sqs):
    app = Chalice("pump-test")
    app.on_sqs_message(queue="no-such-queue")(lambda event: None)
    with pytest.raises(RuntimeError, match="infra/template.yaml"):
        EventPump(app, sqs=sqs)


def test_a_batch_longer_than_its_function_timeout_fails_as_in_lambda_and_memory_is_the_configured_one(sqs):
    name, url, dlq = make_queue(sqs, max_receives=3)
    sqs.send_message(QueueUrl=url, MessageBody="slow once")
    app = Chalice("pump-test")
    calls: list[tuple[str, int]] = []

    @app.on_sqs_message(queue=name, batch_size=10)
    def consume(event):
        calls.append((event.to_dict()["Records"][0]["attributes"]["ApproximateReceiveCount"],
                      event.context.memory_limit_in_mb))
        if len(calls) == 1:
            time.sleep(1.3)  # over the 1 s timeout below

    pump = EventPump(app, wait_seconds=1, sqs=sqs, timeouts={"consume": 1}, memory={"consume": 1024}).start()
    try:
        wait_for(lambda: len(calls) == 2 and counts(sqs, url) == (0, 0))
    finally:
        pump.stop()
    # the timed-out batch was not deleted: it came back, and the second, quick, run settled it
    assert calls == [("1", 1024), ("2", 1024)]
    assert counts(sqs, dlq) == (0, 0)
