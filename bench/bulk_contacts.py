"""A bulk action on 300 contacts (add to a list, take off): changed side by side vs one by one.

Each contact's change is a few AWS round trips (a consistent read, a conditional write, the
change event's publish). On moto in-process a call costs only CPU, which no thread pool can
overlap, so every AWS call here also waits ``LATENCY_MS`` first, a typical in-region
DynamoDB/SQS round trip, released from the GIL as a network wait is. Postline runs the
action with ``bulk.WORKERS`` threads; the baseline is the same code with one (how it ran
before). The contacts are added to a list and taken off again, each way by both (one of
them early, one late), and every run ends with each contact checked. A thread takes the
change events off their queue, as the consumer does in a running stack (moto's cost per
send grows with the queue). moto's own CPU per call is GIL-bound and grows as its tables
fill, so the ratio here is far below what the threads give against AWS, where a call is
mostly waiting.

    .venv/bin/python bench/bulk_contacts.py [contacts]
"""

from __future__ import annotations

import sys
import threading
import time

from _stack import emulated_aws

CONTACTS = int(sys.argv[1]) if len(sys.argv) > 1 else 300  # moto slows as it fills: more takes minutes
LATENCY_MS = 5.0


def drain(queue: str, stop: threading.Event) -> None:
    """Take the change events off their queue as the automation-triggers consumer does: moto
    works out every queue attribute on each send, a cost that grows with the queue (AWS has none)."""
    from chalicelib.core import aws

    sqs, url = aws.client("sqs"), aws.queue_url(queue)
    while not stop.is_set():
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if got:
            sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)])
        else:
            stop.wait(0.05)


def main() -> None:
    with emulated_aws():
        import botocore.client

        from chalicelib.accounts import service as accounts
        from chalicelib.contacts import bulk, contacts, lists, outbox
        from chalicelib.contacts.common import MAX_BULK
        from chalicelib.contacts.request_models import ContactBulkAction, ContactCreate

        account, _ = accounts.create_account("Bench", "bench@bench.example")
        acct = account.account_id
        listed = lists.create_list(acct, "Bench").id
        emails = [f"user{i:05d}@bench.example" for i in range(CONTACTS)]
        for email in emails:
            contacts.create_contact(acct, ContactCreate(email=email))
        assert CONTACTS <= MAX_BULK

        original = botocore.client.BaseClient._make_api_call
        calls = [0]

        def over_the_network(client, operation, params):
            if threading.current_thread().name != "drain":  # the stand-in consumer is not measured
                calls[0] += 1
                time.sleep(LATENCY_MS / 1000)
            return original(client, operation, params)

        def run(action: str, workers: int) -> tuple[float, int]:
            bulk.WORKERS = workers
            calls[0] = 0
            started = time.perf_counter()
            result = bulk.run(acct, ContactBulkAction(action=action, contacts=emails, list_ids=[listed]))
            seconds = time.perf_counter() - started
            assert result["processed"] == CONTACTS and not result["not_found"], result
            return seconds, calls[0]

        def members() -> int:
            return sum(1 for c in contacts.Contact.query(acct) if listed in {int(i) for i in (c.list_ids or ())})

        workers = bulk.WORKERS
        draining = threading.Event()
        drainer = threading.Thread(target=drain, args=(outbox.QUEUE, draining), name="drain", daemon=True)
        drainer.start()
        botocore.client.BaseClient._make_api_call = over_the_network
        try:
            # each way early and late: moto slows down as its tables and queues fill
            side_by_side, calls_now = run("add_to_lists", workers)
            assert members() == CONTACTS
            one_by_one, calls_before = run("remove_from_lists", 1)
            assert members() == 0
            seconds, made = run("add_to_lists", 1)
            one_by_one, calls_before = one_by_one + seconds, calls_before + made
            assert members() == CONTACTS
            seconds, made = run("remove_from_lists", workers)
            side_by_side, calls_now = side_by_side + seconds, calls_now + made
            assert members() == 0
        finally:
            botocore.client.BaseClient._make_api_call = original
            bulk.WORKERS = workers
            draining.set()
            drainer.join()

    ours, base = 2 * CONTACTS / side_by_side, 2 * CONTACTS / one_by_one
    print(f"contacts: {CONTACTS:,}, added to a list and taken off, each way by both; "
          f"every AWS call waits {LATENCY_MS:.0f} ms first (a network round trip)")
    print(f"one by one:   {one_by_one:6.2f} s  ({base:5.0f} contacts/s, "
          f"{calls_before / CONTACTS / 2:.1f} AWS calls each)")
    print(f"{workers} at a time: {side_by_side:6.2f} s  ({ours:5.0f} contacts/s, "
          f"{calls_now / CONTACTS / 2:.1f} AWS calls each)")
    print(f"RESULT bulk_contacts {ours:.0f} contacts/s ratio={ours / base:.2f}")


if __name__ == "__main__":
    main()
