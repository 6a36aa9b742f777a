"""Helpers for sending tests: a verified sending domain, the queue pump, SES's outbox."""

from __future__ import annotations

import email
import email.policy
import json
from typing import Any

from chalicelib import aws
from chalicelib.sending import streams

FUNCTIONS = {streams.TRANSACTIONAL: "deliver_transactional", streams.BULK: "deliver_bulk"}


def pump(client, rounds: int = 20) -> int:
    """Deliver what is on the sending queues now, as the Lambda event source would.

    Each received batch goes to the same handler Lambda runs; records it reports as failed
    stay on the queue (invisible until their visibility timeout), the others are deleted.
    Returns how many records were handled.
    """
    sqs = aws.client("sqs")
    handled = 0
    for _ in range(rounds):
        got = 0
        for stream, function in FUNCTIONS.items():
            url = aws.queue_url(streams.queue_for(stream))
            received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                           AttributeNames=["All"]).get("Messages", [])
            if not received:
                continue
            got += len(received)
            event = {"Records": [{
                "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                "attributes": m.get("Attributes", {}), "messageAttributes": {}, "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs", "eventSourceARN": f"arn:aws:sqs:us-east-1:123456789012:{url}",
                "awsRegion": "us-east-1"} for m in received]}
            result = client.lambda_.invoke(function, event).payload or {}
            failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
            for m in received:
                if m["MessageId"] not in failed:
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            handled += len(received)
        if not got:
            break
    return handled


def ses_outbox() -> list[Any]:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    return ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages


def sent_to(address: str) -> list[email.message.EmailMessage]:
    """Every message SES accepted for this recipient, parsed."""
    out = []
    for item in ses_outbox():
        if address.lower() in [d.lower() for d in getattr(item, "destinations", [])] and hasattr(item, "raw_data"):
            out.append(email.message_from_string(item.raw_data, policy=email.policy.default))
    return out


def queued_bodies(stream: str) -> list[dict[str, Any]]:
    """Bodies currently receivable on a stream's queue (left in place)."""
    sqs = aws.client("sqs")
    url = aws.queue_url(streams.queue_for(stream))
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0).get("Messages", [])
    return [json.loads(m["Body"]) for m in received]


# ---------------------------------------------------------------- sending domains
# TEMPORARY stand-in for chalicelib.domains until that branch is merged: the same function
# name and Domain attributes, registered in sys.modules by the fixture below.

import sys  # noqa: E402
import types  # noqa: E402
import uuid  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402

from chalicelib.core.errors import Forbidden  # noqa: E402

_domains: dict[tuple[int, str], Any] = {}


@dataclass
class _Domain:
    account_id: int
    domain_id: int
    domain_name: str
    auto_bcc_emails: list[str] = field(default_factory=list)
    auto_bcc_headers: list[dict[str, str]] = field(default_factory=list)
    auto_unsubscribe_link_enabled: bool = False
    demo: bool = False


def _sender_check(account_id: int, from_email: str, recipients: list[str]) -> Any:
    name = from_email.rsplit("@", 1)[-1].lower()
    domain = _domains.get((int(account_id), name))
    if domain is None:
        raise Forbidden(f"Sending from domain is not allowed: {name}")
    return domain


def install_domains() -> None:
    if getattr(sys.modules.get("chalicelib.domains.service"), "sender_check", None) is _sender_check:
        return
    module = types.ModuleType("chalicelib.domains.service")
    module.sender_check = _sender_check
    package = types.ModuleType("chalicelib.domains")
    package.service = module
    sys.modules["chalicelib.domains"] = package
    sys.modules["chalicelib.domains.service"] = module
    from chalicelib.core import resources

    resources.register(resources.ResourceType(
        "domain", exists=lambda a, d: any(x.domain_id == int(d) for (acc, _), x in _domains.items() if acc == a),
        nodes=lambda a: []))


def verified_domain(account_id: int, name: str | None = None, **settings: Any) -> Any:
    from chalicelib.core import ids

    install_domains()
    name = name or f"d{uuid.uuid4().hex[:10]}.example.com"
    domain = _Domain(account_id, ids.next_id("domain"), name, **settings)
    _domains[(account_id, name)] = domain
    try:
        aws.client("sesv2").create_email_identity(EmailIdentity=name)
    except Exception:  # noqa: BLE001 - already there
        pass
    return domain
