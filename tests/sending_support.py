"""Helpers for sending tests: a verified sending domain, the queue pump, SES's outbox."""

from __future__ import annotations

import email
import email.policy
import json
from typing import Any

from chalicelib.core import aws
from chalicelib.sending import streams
from tests.queue_support import deliver_waiting

FUNCTIONS = {streams.TRANSACTIONAL: "deliver_transactional", streams.BULK: "deliver_bulk"}


def pump(client, rounds: int = 20) -> int:
    """Deliver what is on the sending queues now to their consumers (tests/queue_support.py);
    returns how many records were handled."""
    return deliver_waiting(client._app, *streams.QUEUES.values(), rounds=rounds)


def take(stream: str) -> list[dict[str, Any]]:
    """Receive and delete every record waiting on a stream's queue; return their bodies."""
    sqs = aws.client("sqs")
    url = aws.queue_url(streams.queue_for(stream))
    bodies = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not got:
            return bodies
        for m in got:
            bodies.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def deliver(client, stream: str, bodies: list[dict[str, Any]]) -> dict[str, Any]:
    """Invoke the stream's consumer with these bodies, as one SQS event."""
    event = {"Records": [{
        "messageId": f"m-{i}", "receiptHandle": f"r-{i}", "body": json.dumps(b), "attributes": {},
        "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs", "awsRegion": "us-east-1",
        "eventSourceARN": f"arn:aws:sqs:us-east-1:123456789012:{streams.queue_for(stream)}",
    } for i, b in enumerate(bodies)]}
    return client.lambda_.invoke(FUNCTIONS[stream], event).payload


def ses_outbox() -> list[Any]:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    return ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages


def sent_to(address: str) -> list[email.message.EmailMessage]:
    """Every message SES accepted with this envelope recipient, parsed.

    moto lists a raw message's destinations as the call's Destination first, then every
    address of its To/Cc headers; Postline sends each message to one destination.
    """
    out = []
    for item in ses_outbox():
        if not hasattr(item, "raw_data"):
            continue  # a simple (not raw) message: Postline's own mail, see system_mail_to
        destinations = getattr(item, "destinations", None) or []
        if destinations and destinations[0].lower() == address.lower():
            out.append(email.message_from_string(item.raw_data, policy=email.policy.default))
    return out


def system_mail_to(address: str) -> list[dict[str, str]]:
    """Postline's own mail (chalicelib/domains/system_mail.py) SES accepted for this address:
    From, Subject and body of each, oldest first."""
    return [{"From": item.source, "Subject": item.subject, "body": item.body}
            for item in ses_outbox()
            if not hasattr(item, "raw_data") and address.lower() in
            [a.lower() for a in (getattr(item, "destinations", None) or {}).get("ToAddresses", [])]]


def queued_bodies(stream: str) -> list[dict[str, Any]]:
    """Bodies currently receivable on a stream's queue (left in place)."""
    sqs = aws.client("sqs")
    url = aws.queue_url(streams.queue_for(stream))
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0).get("Messages", [])
    return [json.loads(m["Body"]) for m in received]


def waiting_records(stream: str) -> list[Any]:
    """Message records that ride in dispatches still on a stream's queue: the SMTP ingress
    leaves writing them to the worker (``deferred``). The queue is left as it was."""
    from chalicelib.sending.models import Message

    sqs = aws.client("sqs")
    url = aws.queue_url(streams.queue_for(stream))
    records, handles = {}, []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60).get("Messages", [])
        if not got:
            break
        for m in got:
            handles.append(m["ReceiptHandle"])
            body = json.loads(m["Body"])
            for snapshot in body.get("snapshots", []) if body.get("deferred") else []:
                record = Message.from_raw_data(snapshot)
                records[record.message_id] = record
    for start in range(0, len(handles), 10):  # visible again at once, as if never looked at
        entries = [{"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": 0}
                   for i, h in enumerate(handles[start:start + 10])]
        sqs.change_message_visibility_batch(QueueUrl=url, Entries=entries)
    return list(records.values())


# ---------------------------------------------------------------- sending domains


def verified_domain(account_id: int, name: str | None = None, **settings: Any) -> Any:
    """A real sending domain of the account (SES identity, its API token), set verified and
    compliant directly: DNS verification itself is the domains capability's to test."""
    import uuid

    from chalicelib.accounts.models import ApiToken
    from chalicelib.core import clock
    from chalicelib.core.permissions import ADMIN, Grant, Principal
    from chalicelib.domains import service as domains
    from chalicelib.domains.models import Domain
    from chalicelib.domains.request_models import DomainUpdate

    owner = next(t for t in ApiToken.by_account.query(int(account_id)))
    principal = Principal(int(account_id), owner.token_id, owner.name, (Grant("account", int(account_id), ADMIN),))
    domain, _ = domains.create_domain(principal, name or f"d{uuid.uuid4().hex[:10]}.example.com")
    domain.update(actions=[Domain.dns_verified.set(True), Domain.dns_verified_at.set(clock.now()),
                           Domain.compliance_status.set(domains.COMPLIANT)])
    if settings:
        domain = domains.update_domain(principal, domain.domain_id, DomainUpdate.model_validate(settings))
    return Domain.get(int(account_id), domain.domain_id, consistent_read=True)
