"""The two sending streams and their queues (transactional and bulk travel apart)."""

from __future__ import annotations

from chalicelib.core import hosts, queues

TRANSACTIONAL = hosts.TRANSACTIONAL  # "transactional"
BULK = hosts.BULK  # "bulk"

QUEUES = {
    TRANSACTIONAL: queues.register("send-transactional"),
    BULK: queues.register("send-bulk"),
}


def queue_for(stream: str) -> str:
    return QUEUES[stream]
