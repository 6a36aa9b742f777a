"""Helpers for the contacts tests: run the queue consumers as Lambda would, read the
contact-events queue, and make accounts with fields and lists."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.contacts import imports, outbox, tasks
from chalicelib.core import aws
from tests.queue_support import deliver_waiting, waiting


def run_queue(client, queue: str, rounds: int = 200) -> int:
    """Deliver every message on ``queue`` to its consumer (tests/queue_support.py); a record
    the consumer reports as failed stays on the queue."""
    handled = deliver_waiting(client._app, queue, rounds=rounds)
    if handled and waiting(queue):
        raise AssertionError(f"{queue} did not drain")
    return handled


def run_workers(client) -> None:
    """Until both contact queues are empty (an import's split enqueues its chunks)."""
    while run_queue(client, imports.QUEUE) + run_queue(client, tasks.QUEUE):
        pass


def contact_events(account_id: int) -> list[dict[str, Any]]:
    """Every event published for ``account_id`` so far, in queue order (consumed)."""
    sqs = aws.client("sqs")
    url = aws.queue_url(outbox.QUEUE)
    found: list[dict[str, Any]] = []
    for _ in range(500):
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                       AttributeNames=["MessageGroupId"]).get("Messages", [])
        if not messages:
            break
        for message in messages:
            if message["Attributes"]["MessageGroupId"] == str(account_id):
                found.extend(json.loads(message["Body"])["events"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return found


def make_field(api, name: str, data_type: str, merge_tag: str) -> int:
    r = api.post("/api/contacts/fields", {"name": name, "data_type": data_type, "merge_tag": merge_tag})
    assert r.status == 201, r
    return r.json["id"]


def make_list(api, name: str) -> int:
    r = api.post("/api/contacts/lists", {"name": name})
    assert r.status == 200, r
    return r.json["id"]


def make_contact(api, email: str, **contact: Any) -> dict[str, Any]:
    r = api.post("/api/contacts", {"contact": {"email": email, **contact}})
    assert r.status == 201, r
    return r.json["data"]


@pytest.fixture()
def fresh_events():
    """An empty contact-events queue: moto's FIFO queue slows with every message it holds
    (PurgeQueue is refused more than once a minute, so it is drained)."""
    sqs = aws.client("sqs")
    url = aws.queue_url(outbox.QUEUE)
    for _ in range(1000):
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            break
        sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])
    yield
