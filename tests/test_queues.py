"""core.queues.send_many: batches within the SQS limits of 10 messages and 1 MiB of bodies."""

import json

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
