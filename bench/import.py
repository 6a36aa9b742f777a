"""Import 50,000 contacts with 10 fields each through the import service and its queue
worker, beside a bare pynamodb batch_write of the same contact items, in one run on moto.

Ours does everything an import does: stores the request in S3, validates and converts
every row, splits into chunks, reads which emails exist (BatchGetItem), reserves the
contact quota, writes the contacts (BatchWriteItem) with their change events, publishes
those events to the FIFO queue and counts the result. The baseline only writes items.

    .venv/bin/python bench/import.py [contacts]
"""

from __future__ import annotations

import sys
import time

from _stack import emulated_aws, run_queue

CONTACTS = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
FIELDS = [("Text", "text"), ("Integer", "integer"), ("Float", "float"), ("Boolean", "boolean"), ("Date", "date")]


def rows(count: int) -> list[dict]:
    out = []
    for i in range(count):
        out.append({"email": f"user{i}@bench.example", "fields": {
            "text_0": f"First {i}", "text_1": f"Company {i % 977}", "integer_0": i, "integer_1": i % 100,
            "float_0": i / 7, "float_1": (i % 50) * 1.5, "boolean_0": i % 2 == 0, "boolean_1": i % 3 == 0,
            "date_0": f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}", "date_1": "2023-06-30"}})
    return out


def main() -> None:
    with emulated_aws():
        from chalice.test import Client

        import app as app_module
        from chalicelib.accounts import service as accounts
        from chalicelib.contacts import fields, imports
        from chalicelib.contacts.common import email_key, new_contact_id, now_ms
        from chalicelib.contacts.models import Contact, ImportJob

        account, _ = accounts.create_account("Bench", "bench@bench.example")
        baseline_account, _ = accounts.create_account("Baseline", "base@bench.example")
        for acct in (account, baseline_account):
            for label, data_type in FIELDS:
                for n in range(2):
                    fields.create_field(acct.account_id, f"{label} {n}", f"{data_type}_{n}", data_type)
        data = rows(CONTACTS)
        print(f"{CONTACTS:,} contacts x 10 fields (2 each of text, integer, float, boolean, date)")

        # baseline: the same contacts as items, converted and keyed, written with batch_write
        schema = fields.schema(baseline_account.account_id)
        at = now_ms()
        items = []
        for row in data:
            values, _ = schema.convert_values(row["fields"])
            items.append(Contact(baseline_account.account_id, email_key(row["email"]), contact_id=new_contact_id(),
                                 email=row["email"], status="subscribed", fields=values, created_at=at,
                                 updated_at=at, seq=1))
        started = time.perf_counter()
        with Contact.batch_write() as batch:
            for item in items:
                batch.save(item)
        bare_s = time.perf_counter() - started
        bare_rate = CONTACTS / bare_s
        print(f"bare pynamodb batch_write: {bare_s:7.2f} s  {bare_rate:8,.0f} contacts/s")

        with Client(app_module.app) as client:
            started = time.perf_counter()
            job = imports.start(account.account_id, data, "json")
            chunks = 0
            while True:
                handled = run_queue(client, "contact_imports", imports.QUEUE)
                if not handled:
                    break
                chunks += handled
            ours_s = time.perf_counter() - started
        done = ImportJob.get(account.account_id, job.import_id)
        assert done.status == "finished", done.status
        assert (done.created_count, done.updated_count, done.skipped_count) == (CONTACTS, 0, 0), done.attribute_values
        ours_rate = CONTACTS / ours_s
        print(f"postline import (API service + worker): {ours_s:7.2f} s  {ours_rate:8,.0f} contacts/s "
              f"({chunks} queue messages; finished: {done.created_count:,} created, 0 updated, 0 skipped)")
        print(f"RESULT import {ours_rate:.0f} contacts/s ratio={ours_rate / bare_rate:.2f}")


if __name__ == "__main__":
    main()
