"""20,000 SES notifications through the events worker, beside one bare DynamoDB update per event.

Everything runs in one process on the in-process AWS emulation (moto), as the test suite
does. Setup (not timed): an account, a verified domain and 20,000 sent messages (half
transactional, half bulk), and one SES notification per message in SES's own JSON
(local/ses_events.py builds them): 80% Delivery, 5% hard bounce (``badrecipient``:
a suppression, and on bulk mail a contact lookup), 5% spam complaint (a suppression), 5%
DeliveryDelay (soft bounce), 5% Transient bounce (``greylisting``: no suppression).

Ours: the notifications handed to the ``record_ses_events`` consumer 10 per invocation, as
Lambda's SQS event source does: statuses, event history, suppressions and contacts.
Baseline: one ``update_item`` on the messages table per event (set the status) on the same
emulation. Four rounds alternate the two, so a busy machine slows both alike. The RESULT is
the CPU-time rate (the machine is shared; both sides are single-threaded and CPU-bound).

Run from the repository root: ``.venv/bin/python bench/events.py``
"""

from __future__ import annotations

import json
import os
import time
import uuid
import warnings

from _stack import AwsClock, emulated_aws

warnings.filterwarnings("ignore")
EVENTS = int(os.environ.get("BENCH_EVENTS", 20_000))
ROUNDS = 4
PER_INVOCATION = 10


def notification(message, i: int) -> dict:
    from local import ses_events

    raw = (f"From: {message.from_email}\r\nTo: {message.recipient}\r\nSubject: Bench\r\n"
           f"Message-ID: <{message.message_id}@{message.domain_name}>\r\n\r\n").encode()
    mail = ses_events.mail(message.ses_message_id, message.from_email, message.recipient, raw,
                           message.configuration_set, {"postline-message-id": message.message_id})
    kind = i % 20
    if kind == 0:
        return ses_events.bounce(mail, message.recipient, "Permanent", "General", "5.1.1",
                                 "smtp; 550 5.1.1 user unknown")
    if kind == 1:
        return ses_events.complaint(mail, message.recipient)
    if kind == 2:
        return ses_events.delay(mail, message.recipient, "4.2.2", "smtp; 452 4.2.2 Mailbox full")
    if kind == 3:
        return ses_events.bounce(mail, message.recipient, "Transient", "General", "4.7.1",
                                 "smtp; 451 4.7.1 Greylisted, try again later")
    return ses_events.delivery(mail, message.recipient)


def sent_messages(account_id: int, domain) -> list:
    from chalicelib.core import clock
    from chalicelib.core.config import settings
    from chalicelib.sending import events
    from chalicelib.sending.models import SENT, Message

    now = clock.now()
    out = []
    for i in range(EVENTS):
        stream = "bulk" if i % 2 else "transactional"
        message_id = str(uuid.uuid4())
        message = Message(message_id, account_id=account_id, sent_key=f"{clock.iso(now)}#{message_id}",
                          created_at=now, stream=stream, domain_id=domain.domain_id,
                          recipient=f"r{i}@bench-rcpt.example", status=SENT,
                          events=[events.event("queued"), events.event("sent")])
        message.domain_name = domain.domain_name
        message.from_email = f"news@{domain.domain_name}"
        message.subject = "Bench"
        message.configuration_set = settings().resource_prefix + stream
        message.ses_message_id = f"0100018c{uuid.uuid4().hex}-000000"
        out.append(message)
    with Message.batch_write() as batch:
        for message in out:
            batch.save(message)
    return out


def main() -> None:
    with emulated_aws():
        from chalice.test import Client

        import app as app_module
        from chalicelib.accounts import service as accounts
        from chalicelib.core import aws
        from chalicelib.core.config import settings
        from chalicelib.sending import event_worker
        from chalicelib.sending.models import Message
        from chalicelib.suppressions.models import Suppression
        from tests.sending_support import verified_domain

        account, _ = accounts.create_account("Bench", "owner@bench.example")
        domain = verified_domain(account.account_id)
        messages = sent_messages(account.account_id, domain)
        bodies = [json.dumps(notification(m, i)) for i, m in enumerate(messages)]
        queue = settings().queue_name(event_worker.QUEUE)
        table = Message.Meta.table_name
        ddb = aws.client("dynamodb")
        per_round = EVENTS // ROUNDS
        ours_cpu = bare_cpu = ours_wall = bare_wall = 0.0

        with Client(app_module.app) as client, AwsClock() as aws_clock:
            for r in range(ROUNDS):
                chunk = range(r * per_round, (r + 1) * per_round)
                invocations = [[bodies[i] for i in chunk[k:k + PER_INVOCATION]]
                               for k in range(0, per_round, PER_INVOCATION)]
                sqs_events = [{"Records": [{
                    "messageId": str(uuid.uuid4()), "receiptHandle": "r", "body": b, "attributes": {},
                    "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs", "awsRegion": "us-east-1",
                    "eventSourceARN": f"arn:aws:sqs:us-east-1:123456789012:{queue}"} for b in group]}
                    for group in invocations]
                aws_clock.paused = False
                start, cpu_start = time.perf_counter(), time.process_time()
                for event in sqs_events:
                    result = client.lambda_.invoke("record_ses_events", event).payload
                    assert result == {"batchItemFailures": []}, result
                ours_wall += time.perf_counter() - start
                ours_cpu += time.process_time() - cpu_start
                aws_clock.paused = True

                start, cpu_start = time.perf_counter(), time.process_time()
                for i in chunk:
                    ddb.update_item(TableName=table, Key={"message_id": {"S": f"bare-{i}"}},
                                    UpdateExpression="SET #s = :s", ExpressionAttributeNames={"#s": "status"},
                                    ExpressionAttributeValues={":s": {"S": "delivered"}})
                bare_wall += time.perf_counter() - start
                bare_cpu += time.process_time() - cpu_start

        statuses: dict[str, int] = {}
        for m in Message.batch_get([m.message_id for m in messages], attributes_to_get=["status"]):
            statuses[m.status] = statuses.get(m.status, 0) + 1
        suppressed = sum(1 for _ in Suppression.by_account.query(account.account_id))
        assert statuses == {"delivered": EVENTS * 16 // 20, "bounced": EVENTS * 2 // 20,
                            "opted_out": EVENTS // 20, "soft_bounced": EVENTS // 20}, statuses
        assert suppressed == EVENTS * 2 // 20, suppressed

    ours, bare = EVENTS / ours_cpu, EVENTS / bare_cpu
    print(f"events: {EVENTS} SES notifications in {ROUNDS} rounds, {PER_INVOCATION} per invocation; "
          f"statuses {statuses}, {suppressed} suppressions")
    print(f"ours: {ours_wall:.2f} s wall, {ours_cpu:.2f} s CPU; {aws_clock.calls} AWS calls "
          f"({aws_clock.calls / EVENTS:.2f} per event), {(ours_cpu - aws_clock.cpu) / EVENTS * 1000:.3f} ms CPU "
          f"per event outside AWS calls")
    print(f"bare: {bare_wall:.2f} s wall, {bare_cpu:.2f} s CPU; 1 update_item per event")
    print(f"wall clock:  ours {EVENTS / ours_wall:.0f} events/s, bare {EVENTS / bare_wall:.0f} events/s, "
          f"ratio {bare_wall / ours_wall:.2f}")
    print(f"CPU seconds: ours {ours:.0f} events/s, bare {bare:.0f} events/s, ratio {ours / bare:.2f} (goal >= 0.5)")
    print(f"RESULT events {ours:.0f} events/s ratio={ours / bare:.2f}")


if __name__ == "__main__":
    main()
