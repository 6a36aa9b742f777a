"""boto3 clients, built once per process so a warm Lambda reuses them.

The endpoint comes from AWS_ENDPOINT_URL (moto locally, nothing in AWS), which boto3 and
pynamodb both read, so no code here knows which of the two it runs on.
"""

from __future__ import annotations

import threading
from functools import cache
from typing import Any

import boto3
from botocore.config import Config

from chalicelib.core.config import settings

_lock = threading.Lock()


@cache
def client(service: str, max_attempts: int = 5) -> Any:
    """A client of ``service``; ``max_attempts=1`` turns botocore's retries off (a caller that
    must not repeat a call, such as an SES send, retries on its own terms)."""
    # boto3's default session is not thread-safe to create clients from; the API server
    # and the event pump run threads, so creation is serialised (use is thread-safe).
    with _lock:
        return boto3.session.Session().client(
            service,
            region_name=settings().region,
            config=Config(retries={"max_attempts": max_attempts, "mode": "standard"}, max_pool_connections=32),
        )


@cache
def queue_url(name: str) -> str:
    """URL of one of Postline's queues by its short name (``send-transactional``...)."""
    return client("sqs").get_queue_url(QueueName=settings().queue_name(name))["QueueUrl"]


def bucket(name: str) -> str:
    return settings().bucket_name(name)


def reset_clients() -> None:
    """Forget cached clients and URLs (tests that start a fresh AWS emulation)."""
    client.cache_clear()
    queue_url.cache_clear()
