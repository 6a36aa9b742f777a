"""The emulated AWS the benches run on: moto in-process with the resources created from
infra/template.yaml, exactly as tests/conftest.py does."""

from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import botocore.client

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

os.environ.update({
    "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_SESSION_TOKEN": "bench",
    "AWS_DEFAULT_REGION": "us-east-1", "POSTLINE_STAGE": "dev", "TZ": "UTC",
})
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.pop("POSTLINE_RESOURCE_PREFIX", None)


@contextmanager
def emulated_aws():
    import logging

    from local.testing import in_process_aws

    logging.disable(logging.WARNING)
    with in_process_aws(execute_state_machines=False):
        yield


def run_queue(client, handler: str, queue: str) -> int:
    """Deliver a queue's messages to its @app.on_sqs_message handler, as the event pump does."""
    from chalicelib.core import aws
    from chalicelib.core.config import settings

    sqs = aws.client("sqs")
    url = aws.queue_url(queue)
    handled = 0
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return handled
        for message in messages:
            event = client.events.generate_sqs_event(message_bodies=[message["Body"]],
                                                     queue_name=settings().queue_name(queue))
            if not client.lambda_.invoke(handler, event).payload["batchItemFailures"]:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            handled += 1


class AwsClock:
    """CPU time spent inside AWS calls (botocore and, in process, the emulation itself)."""

    def __init__(self) -> None:
        self.cpu = 0.0
        self.calls = 0
        self.paused = False
        self._original = botocore.client.BaseClient._make_api_call

    def __enter__(self) -> AwsClock:
        original, clock = self._original, self

        def timed(client, operation, params):
            start = time.process_time()
            try:
                return original(client, operation, params)
            finally:
                if not clock.paused:
                    clock.cpu += time.process_time() - start
                    clock.calls += 1

        botocore.client.BaseClient._make_api_call = timed
        return self

    def __exit__(self, *exc) -> None:
        botocore.client.BaseClient._make_api_call = self._original
