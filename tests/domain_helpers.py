"""Shared helpers for the sending-domain tests: a real DNS server and queue draining."""

from __future__ import annotations

import json
import os
import uuid

import pytest

from chalicelib.core import aws, config
from tests.dnsstub import StubZone, start

_zone: StubZone | None = None


def dns_zone() -> StubZone:
    """One dnslib server per test process; every lookup of the product goes to it."""
    global _zone
    if _zone is None:
        _zone = StubZone()
        server = start(_zone)
        os.environ["POSTLINE_DNS_RESOLVER"] = f"127.0.0.1:{server.server.server_address[1]}"
        os.environ["POSTLINE_DNS_TIMEOUT_SECONDS"] = "2"
        config.reload()
    return _zone


@pytest.fixture()
def zone() -> StubZone:
    return dns_zone()


def unique_domain(prefix: str = "d") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}.example.org"


def zone_value(record: dict) -> str:
    """A record of the API's dns_records in zone-file syntax."""
    if record["type"] == "TXT":
        return '"' + record["value"] + '"'
    if record["type"] == "MX":
        priority, host = record["value"].split()
        return f"{priority} {host}."
    return record["value"] + "."


def publish(zone: StubZone, domain: dict, skip: tuple[str, ...] = ()) -> None:
    """Publish every record of a domain (as the API returned it) on the stub DNS."""
    for record in domain["dns_records"]:
        if record["key"] not in skip:
            zone.set(record["domain"], record["type"], zone_value(record))


def record(domain: dict, key: str) -> dict:
    return next(r for r in domain["dns_records"] if r["key"] == key)


def drain(queue: str) -> list[dict]:
    """Receive (and delete) every message waiting on one of Postline's queues."""
    sqs, url, bodies = aws.client("sqs"), aws.queue_url(queue), []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not got:
            return bodies
        bodies += [json.loads(m["Body"]) for m in got]
        sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)])


def sqs_event(bodies: list[dict], queue: str) -> dict:
    return {"Records": [{
        "messageId": f"m-{i}", "receiptHandle": f"r-{i}", "body": json.dumps(b), "attributes": {},
        "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs", "awsRegion": "us-east-1",
        "eventSourceARN": f"arn:aws:sqs:us-east-1:123456789012:{config.settings().queue_name(queue)}",
    } for i, b in enumerate(bodies)]}
