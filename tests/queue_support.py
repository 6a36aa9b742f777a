"""Driving the real queues with the local event pump (local/pump.py), one batch at
a time, until a record that always fails has been through its queue, into its DLQ and out
through the DLQ's consumer, as in Lambda: retries, SQS's redrive, then core/deadletters.py."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from botocore.exceptions import ClientError

from chalicelib.core import aws, clock, deadletters
from chalicelib.core.config import settings
from local.pump import QueuePoller, consumers


class _Receipts:
    """The SQS client, remembering the receipt handle of every message it receives."""

    def __init__(self, sqs) -> None:
        self.sqs, self.handles = sqs, []

    def __getattr__(self, name):
        return getattr(self.sqs, name)

    def receive_message(self, **kwargs):
        response = self.sqs.receive_message(**kwargs)
        self.handles += [m["ReceiptHandle"] for m in response.get("Messages", [])]
        return response

    def redeliver_now(self) -> None:
        """What the consumer did not delete is visible again at once (its timeout "passed")."""
        for handle in self.handles:
            try:
                self.sqs.change_message_visibility(QueueUrl=self.queue_url, ReceiptHandle=handle, VisibilityTimeout=0)
            except ClientError:
                pass  # deleted: done, or moved on
        self.handles.clear()


def poller(app, short: str, sqs=None) -> QueuePoller:
    """The pump's poller of queue ``short`` (no long poll and no batching window to wait out:
    a test delivers what waits now, by hand)."""
    name = settings().queue_name(short)
    consumer = next(c for c in consumers(app) if c.queue == name)
    return QueuePoller(app, replace(consumer, batching_window=0), wait_seconds=0, sqs=sqs)


def deliver_waiting(app, *shorts: str, rounds: int = 20) -> int:
    """What waits on the queues ``shorts`` now, delivered batch by batch to their consumers
    by the event pump, as Lambda's event source would: records a consumer reports as failed
    stay on their queue (invisible until their visibility timeout). Stops when a round finds
    every queue empty, or after ``rounds``; returns how many records were delivered.

    The one way tests run a queue's consumer (tests/*_support.py build on it)."""
    pollers = [poller(app, short) for short in shorts]
    handled = 0
    for _ in range(rounds):
        got = sum(p.poll_once() for p in pollers)
        if not got:
            break
        handled += got
    return handled


def clear(short: str) -> None:
    """Empty a queue and its DLQ of what earlier tests left there."""
    sqs = aws.client("sqs")
    for name in (short, deadletters.dead_letter_queue(short)):
        url = aws.queue_url(name)  # (PurgeQueue: once a minute per queue)
        while got := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages"):
            sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)])


def waiting(short: str) -> int:
    attrs = aws.client("sqs").get_queue_attributes(QueueUrl=aws.queue_url(short), AttributeNames=["All"])
    return int(attrs["Attributes"]["ApproximateNumberOfMessages"])


def through_dead_letter_queue(app, short: str, max_rounds: int = 12) -> int:
    """Run queue ``short``'s consumer until what it keeps failing on is in the DLQ, then the
    DLQ's consumer; return how many dead letters it settled. Between deliveries the clock
    moves on by the queue's visibility timeout, the time SQS would let pass (leases taken
    by the failed attempts expire as they would)."""
    sqs = aws.client("sqs")
    visibility = int(sqs.get_queue_attributes(QueueUrl=aws.queue_url(short), AttributeNames=["VisibilityTimeout"])
                     ["Attributes"]["VisibilityTimeout"])
    receipts = _Receipts(sqs)
    main = poller(app, short, receipts)
    receipts.queue_url = main.queue_url
    for _ in range(max_rounds):
        if not main.poll_once():
            break
        clock.advance(timedelta(seconds=visibility))
        receipts.redeliver_now()
    else:
        raise AssertionError(f"{short}: records still coming back after {max_rounds} deliveries")
    dead, settled = poller(app, deadletters.dead_letter_queue(short)), 0
    while count := dead.poll_once():
        settled += count
    return settled
