"""Restart of the local stack with 100,000 contacts: how long the saved AWS state takes to load.

Runs the real emulator (the moto server subprocess of `make run`) on a temporary state file:
the template's resources, then 100,000 contact items (10 custom fields, two lists, a
history entry; pynamodb's own serialisation) written with BatchWriteItem while journaling,
then a snapshot, as a shutdown writes. Three starts of a new emulator on that data:

- ours: the snapshot loaded in process (what every start after a Ctrl-C does);
- ours after a kill: no snapshot, the journal of the same writes replayed in process;
- baseline: the same items as the previous version kept them (one BatchWriteItem request
  per 25 items), replayed by moto's recorder over HTTP, as that version's start did (on
  this version's emulator, which measures an item once: the previous one was slower still).

Each start is timed from the request to load until every item is in; the emulator's CPU
time (its process, from /proc) is counted per item. Template resources are created before
the clock starts, as at every boot.

    .venv/bin/python bench/restart.py [contacts]
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import _stack  # noqa: F401  (environment of the benches: region, stage, throwaway credentials)

CONTACTS = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
WRITERS = 4


def contact_items(count: int) -> list[dict]:
    from chalicelib.contacts.models import Contact

    items = []
    for i in range(count):
        contact = Contact(1, f"user{i:06d}@bench.example", contact_id=f"c{i:08x}-4b1e-8a2f-6c3d",
                          email=f"User{i:06d}@bench.example",
                          fields={"f1": f"First {i}", "f2": f"Company {i % 977}", "f3": i, "f4": i % 100, "f5": i / 7,
                                  "f6": i % 2 == 0, "f7": f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}", "f8": "2023-06-30",
                                  "f9": f"+1555{i:07d}", "f10": "en"},
                          list_ids={1, 2 + i % 5}, created_at=1_700_000_000_000 + i, updated_at=1_700_000_000_000 + i,
                          seq=1, history=[{"at": 1_700_000_000_000 + i, "kind": "list_added", "list_id": 1}])
        items.append(contact.serialize())
    return items


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Started:
    """A fresh emulator on ``state`` with the template's resources created."""

    def __init__(self, state: Path, moto_recording: Path | None = None) -> None:
        from chalicelib.core import aws, config
        from local import stack
        from local.emulator import Emulator
        from local.testing import free_port

        if moto_recording is not None:
            os.environ["MOTO_RECORDER_FILEPATH"] = str(moto_recording)
        self.emulator = Emulator("127.0.0.1", free_port(), state).start()
        os.environ.pop("MOTO_RECORDER_FILEPATH", None)
        self.emulator.wait_ready()
        os.environ["AWS_ENDPOINT_URL"] = self.emulator.endpoint
        config.reload()
        aws.reset_clients()
        self.emulator.enable_step_functions()
        stack.deploy()

    def count(self, table: str) -> int:
        from chalicelib.core import aws

        return sum(page["Count"] for page in aws.client("dynamodb").get_paginator("scan").paginate(
            TableName=table, Select="COUNT"))

    def replay_old_recording(self) -> None:
        """The previous version's load: moto's recorder re-sends each line to itself over HTTP."""
        self.emulator._post("recorder/replay-recording", timeout=3600)

    def timed(self, load) -> tuple[float, float]:
        pid = self.emulator.process.pid
        cpu, started = cpu_seconds(pid), time.monotonic()
        load()
        return time.monotonic() - started, cpu_seconds(pid) - cpu


def main() -> None:
    from chalicelib.contacts.models import Contact
    from chalicelib.core import aws
    from local import recording

    table = Contact.Meta.table_name
    items = contact_items(CONTACTS)
    work = Path(tempfile.mkdtemp(prefix="postline-restart-bench-"))
    state, journal_only, old_format = work / "aws-recording.jsonl", work / "journal.jsonl", work / "old.jsonl"
    try:
        seeding = Started(state)
        seeding.emulator.restore()  # nothing saved yet; as every start does
        seeding.emulator.start_recording()
        t = time.monotonic()
        batches = [items[i:i + 25] for i in range(0, len(items), 25)]
        ddb = aws.client("dynamodb")
        with ThreadPoolExecutor(WRITERS) as pool:
            for _ in pool.map(lambda batch: ddb.batch_write_item(
                    RequestItems={table: [{"PutRequest": {"Item": item}} for item in batch]}), batches):
                pass
        print(f"seeded {CONTACTS:,} contacts ({len(batches):,} BatchWriteItem) in {time.monotonic() - t:.1f}s",
              flush=True)
        shutil.copy(state, journal_only)
        saved = seeding.emulator.snapshot()
        print(f"snapshot at shutdown: {saved['items']:,} items, {saved['bytes'] / 1e6:.0f} MB "
              f"in {saved['seconds']:.1f}s (journal was {journal_only.stat().st_size / 1e6:.0f} MB)", flush=True)
        seeding.emulator.stop()
        endpoint = "http://127.0.0.1:1/"  # replayed to whatever port the emulator has
        old_format.write_text("".join(
            recording.request_line("dynamodb", "us-east-1", endpoint, "DynamoDB_20120810.BatchWriteItem",
                                   {"RequestItems": {table: [{"PutRequest": {"Item": item}} for item in batch]}}) + "\n"
            for batch in batches))

        results = {}
        for name, path, moto_recording in (("ours", state, None), ("ours after a kill", journal_only, None),
                                           ("baseline", work / "none.jsonl", old_format)):
            started = Started(path, moto_recording)
            try:
                if moto_recording is None:
                    seconds, cpu = started.timed(started.emulator.restore)
                else:
                    seconds, cpu = started.timed(started.replay_old_recording)
                loaded = started.count(table)
            finally:
                started.emulator.stop()
            assert loaded == CONTACTS, f"{name}: {loaded} of {CONTACTS} contacts"
            calls = 1 if moto_recording is None else len(batches)
            results[name] = seconds
            print(f"{name:18s} {seconds:6.1f}s for {CONTACTS:,} contacts  {CONTACTS / seconds:8.0f} items/s  "
                  f"AWS calls {calls:,} ({calls / CONTACTS:.4f}/item)  "
                  f"emulator CPU {1000 * cpu / CONTACTS:.3f} ms/item", flush=True)
        ours, baseline = CONTACTS / results["ours"], CONTACTS / results["baseline"]
        print(json.dumps({"contacts": CONTACTS, "seconds": {k: round(v, 2) for k, v in results.items()}}))
        print(f"restart with {CONTACTS:,} contacts: {results['ours']:.1f}s (previous version: "
              f"{results['baseline']:.1f}s)")
        print(f"RESULT restart {ours:.0f} items/s ratio={ours / baseline:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
