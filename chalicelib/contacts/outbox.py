"""Contact change events: numbered per contact, kept on the contact until published, and
published in order to the ``contact-events.fifo`` queue (docs/contact-events.md).

How "once, in order" holds (docs/decisions.md, Contacts):
- each change takes the contact's next sequence numbers and is written *with* its events
  (the ``outbox`` map on the item) in one conditional write: no event without its change,
  no change without its event;
- whoever writes a contact first publishes what is still in its outbox, oldest first, then
  its own events, then removes them from the item; a crash in between leaves them there
  for the next writer or the sweeper, which publish them before anything newer;
- messages go to a FIFO queue, MessageGroupId = account id (so everything about one contact
  is delivered in order) and MessageDeduplicationId = a hash of the events' ids (so a
  retried publish inside SQS's 5-minute window is dropped); past that window a consumer
  drops an event whose ``seq`` it has already seen for the contact.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from typing import Any

from pynamodb.exceptions import DoesNotExist, UpdateError

from chalicelib.contacts.common import ms_to_iso, now_ms
from chalicelib.contacts.meta import plain
from chalicelib.contacts.models import Contact, ImportJob
from chalicelib.core import aws, db, queues

log = logging.getLogger("postline.contacts.events")

QUEUE = queues.register("contact-events.fifo")
MAX_MESSAGE_BYTES = 200_000  # under SQS's 256 KiB
API = "api"
SWEEP_AFTER_MS = 60_000


def new_event(contact: Contact, kind: str, data: dict[str, Any], source: str, at: int | None = None) -> dict[str, Any]:
    """An event for ``contact``; its ``seq`` and ``id`` are given by ``assign``."""
    return {"type": f"contact.{kind}", "account_id": int(contact.account_id), "contact_id": contact.contact_id,
            "email": contact.email, "occurred_at": ms_to_iso(at or now_ms()), "source": source, "data": data}


def assign(contact: Contact, events: list[dict[str, Any]]) -> None:
    """Number ``events`` after the contact's last one and put them in its outbox."""
    box = plain(contact.outbox)
    seq = int(contact.seq or 0)
    for event in events:
        seq += 1
        event["seq"] = seq
        event["id"] = f"{contact.contact_id}:{seq}"
        event["email"] = contact.email
        box[str(seq)] = json.dumps(event, separators=(",", ":"), default=str)
    contact.seq = seq
    contact.outbox = box or None


def has_pending(contact: Contact) -> bool:
    return bool(plain(contact.outbox))  # (an empty pynamodb map is truthy)


def pending(contact: Contact) -> list[dict[str, Any]]:
    return [json.loads(v) for _, v in sorted(plain(contact.outbox).items(), key=lambda kv: int(kv[0]))]


def keep_unsettled(contact: Contact, cache: dict[str, bool] | None = None) -> None:
    """Drop outbox entries someone already published (an import chunk that finished)."""
    if has_pending(contact) and contact.outbox_ref and is_settled(int(contact.account_id), contact.outbox_ref, cache):
        contact.outbox = None


def is_settled(account_id: int, ref: str, cache: dict[str, bool] | None = None) -> bool:
    """Whether the events of ``ref`` are known to be published: only a finished import chunk."""
    if not ref.startswith("import:"):
        return False
    if cache is not None and ref in cache:
        return cache[ref]
    _, import_id, chunk = ref.split(":")
    try:
        job = ImportJob.get(int(account_id), int(import_id))
        settled = int(chunk) in (job.chunks_done or set())
    except DoesNotExist:
        settled = True  # the import is gone; nobody else will publish these
    if cache is not None:
        cache[ref] = settled
    return settled


def _messages(events: list[dict[str, Any]]) -> Iterable[tuple[str, str]]:
    """Pack events into bodies under the size limit; each with a deterministic dedup id."""
    batch: list[str] = []
    ids: list[str] = []
    size = 20
    for event in events:
        text = json.dumps(event, separators=(",", ":"), default=str)
        if batch and size + len(text) + 1 > MAX_MESSAGE_BYTES:
            yield _body(batch), _dedup(ids)
            batch, ids, size = [], [], 20
        batch.append(text)
        ids.append(event["id"])
        size += len(text) + 1
    if batch:
        yield _body(batch), _dedup(ids)


def _body(texts: list[str]) -> str:
    return '{"events":[' + ",".join(texts) + "]}"


def _dedup(ids: list[str]) -> str:
    return hashlib.sha256("\n".join(ids).encode()).hexdigest()


def publish(account_id: int, events: list[dict[str, Any]]) -> int:
    """Send events (already in order) to the FIFO queue; returns the number of messages."""
    if not events:
        return 0
    sqs = aws.client("sqs")
    url = aws.queue_url(QUEUE)
    sent = 0
    for body, dedup in _messages(events):
        sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=str(account_id),
                         MessageDeduplicationId=dedup)
        sent += 1
    return sent


def settle(contact: Contact, published: list[dict[str, Any]]) -> None:
    """Remove published events from the item. If nothing was written since, the contact
    also leaves the sweeper's index; otherwise the newer writer owns what is left."""
    keys = [str(e["seq"]) for e in published if e["contact_id"] == contact.contact_id]
    if not keys:
        return
    removals = [Contact.outbox[k].remove() for k in keys]
    try:
        contact.update(actions=[*removals, Contact.outbox_pending.remove(), Contact.outbox_since.remove(),
                                Contact.outbox_ref.remove()],
                       condition=Contact.seq == int(contact.seq))
        return
    except UpdateError as exc:
        if not db.condition_failed(exc):
            raise
    try:
        contact.update(actions=removals, condition=Contact.email_key.exists())
    except UpdateError as exc:
        if not db.condition_failed(exc):
            raise  # (a deleted contact has nothing left to settle)


def publish_and_settle(contact: Contact) -> None:
    """After a write by the API: publish the contact's outbox and clear it."""
    events = pending(contact)
    if not events:
        return
    publish(int(contact.account_id), events)
    settle(contact, events)


def mark_api_pending(contact: Contact) -> None:
    """Before writing: the events on the item are the API's to publish (the sweeper's index)."""
    contact.outbox_ref = API
    contact.outbox_pending = API
    contact.outbox_since = now_ms()


def sweep(older_than_ms: int = SWEEP_AFTER_MS) -> int:
    """Publish events an API write left behind (it crashed between its write and publish)."""
    cutoff = now_ms() - older_than_ms
    swept = 0
    for key in Contact.by_pending_events.query(API, Contact.outbox_since < cutoff):
        try:
            contact = Contact.get(key.account_id, key.email_key, consistent_read=True)
        except DoesNotExist:
            continue
        if contact.outbox_ref == API and has_pending(contact):
            publish_and_settle(contact)
            swept += 1
    return swept
