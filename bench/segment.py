"""Evaluate a 3-condition segment over 100,000 contacts, beside a bare scan, on moto.

Segment: status is subscribed AND total_purchases greater than 500 AND signup_date after
90 days ago (about 1 contact in 8 matches).

Access pattern (Postline): one Query of the account's partition of the contacts table
(hash key account_id), paged, with the three conditions pushed down as a FilterExpression
(`status = :s AND fields.f<id> > :n AND fields.f<id> > :d`), so DynamoDB reads the
partition once and returns only matching items; read capacity is the same as a scan of
the partition, but only matches cross the wire and are deserialised. Conditions DynamoDB
cannot decide exactly (case-insensitive text) are pushed down as `attribute_exists` and
checked on the returned candidates. The baseline scans the table and tests every item in
Python: the read-everything approach. Both give the same members.

    .venv/bin/python bench/segment.py [contacts]
"""

from __future__ import annotations

import sys
import time
from datetime import timedelta

from _stack import emulated_aws

CONTACTS = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000


def main() -> None:
    with emulated_aws():
        from chalicelib.accounts import service as accounts
        from chalicelib.contacts import fields, segments
        from chalicelib.contacts.common import new_contact_id, now_ms
        from chalicelib.contacts.meta import plain
        from chalicelib.contacts.models import Contact
        from chalicelib.core import clock

        account, _ = accounts.create_account("Bench", "bench@bench.example")
        acct = account.account_id
        tier = fields.create_field(acct, "Tier", "tier", "text")
        purchases = fields.create_field(acct, "Total purchases", "total_purchases", "integer")
        signup = fields.create_field(acct, "Signup date", "signup_date", "date")
        today = clock.now().date()
        at = now_ms()
        started = time.perf_counter()
        with Contact.batch_write() as batch:
            for i in range(CONTACTS):
                batch.save(Contact(acct, f"user{i:06d}@bench.example", contact_id=new_contact_id(),
                                   email=f"user{i:06d}@bench.example",
                                   status="unsubscribed" if i % 10 == 0 else "subscribed",
                                   fields={tier.key: ("Gold", "Silver", "VIP")[i % 3], purchases.key: (i * 37) % 1000,
                                           signup.key: (today - timedelta(days=i % 365)).isoformat()},
                                   created_at=at, updated_at=at, seq=1))
        print(f"{CONTACTS:,} contacts written in {time.perf_counter() - started:.1f} s (setup, not measured)")
        print("segment: status is subscribed AND total_purchases > 500 AND signup_date after 90 days ago")
        print("access pattern: one paged Query of the account's partition (hash key account_id) with the "
              "three conditions as a FilterExpression; DynamoDB reads the partition once and returns only "
              "matches. Baseline: Scan of the table, every item tested in Python.")

        definition = segments.normalise({"match": "all", "conditions": [
            {"field": "status", "operator": "is", "value": "subscribed"},
            {"field": "total_purchases", "operator": "greater_than", "value": 500},
            {"field": "signup_date", "operator": "after", "value": {"days_ago": 90}}]},
            fields.schema(acct), set())

        # baseline: scan everything, test each contact in Python
        cutoff = (today - timedelta(days=90)).isoformat()
        started = time.perf_counter()
        bare = 0
        for contact in Contact.scan():
            values = plain(contact.fields)
            if contact.status == "subscribed" and values.get(purchases.key, 0) > 500 and \
                    values.get(signup.key, "") > cutoff:
                bare += 1
        bare_s = time.perf_counter() - started
        bare_rate = CONTACTS / bare_s
        print(f"bare scan + Python test: {bare_s:6.2f} s  {bare_rate:8,.0f} contacts/s  ({bare:,} match)")

        started = time.perf_counter()
        ours = sum(1 for _ in segments.evaluate(acct, definition))
        ours_s = time.perf_counter() - started
        ours_rate = CONTACTS / ours_s
        print(f"postline segment evaluation (partition query, filter pushed down): {ours_s:6.2f} s  "
              f"{ours_rate:8,.0f} contacts/s  ({ours:,} match)")
        assert ours == bare, (ours, bare)

        started = time.perf_counter()
        counted = segments.count(acct, definition)
        print(f"postline segment count (Select=COUNT): {time.perf_counter() - started:6.2f} s  ({counted:,})")
        assert counted == bare
        print(f"RESULT segment {ours_rate:.0f} contacts/s ratio={ours_rate / bare_rate:.2f}")


if __name__ == "__main__":
    main()
