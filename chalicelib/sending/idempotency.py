"""At most one SES submission per message: the dispatch ledger.

SQS delivers at least once and a worker can die anywhere. A **dispatch** is one SQS
message's worth of messages (up to 50, all of one account and stream); every copy of it
(a redelivery, a retry re-enqueued after SES throttling) carries the same dispatch id. Its
ledger item (table ``send_dispatches``) makes delivery safe:

1. **Lease.** A worker claims the dispatch with a conditional write (no ledger yet, or
   released, or its lease expired; never once done). Only the holder touches the dispatch's
   messages. The lease (180 s) outlives the worker function (60 s), so it can only expire
   when its holder is gone.
2. **In flight.** Before a chunk of messages goes to SES, its message ids are written to
   the ledger (conditional on still holding the lease). After the SES calls each message's
   record says what happened (``sent`` with SES's MessageId, ``rejected``, ``failed``).
   A later holder that finds a message listed in flight whose record is not final can't
   know whether SES has it: it is never resent and ends ``failed`` with that reason. A
   crash can leave at most one chunk (``worker.CHUNK_SIZE``) in that state.
3. **Version.** Releasing the lease (to retry later) bumps the ledger's version. A dispatch
   body may carry snapshots of its message records taken at a version; a worker uses them
   instead of reading the records only when the ledger is fresh or was cleanly released at
   exactly that version. Any other case (a crash, a stale redelivered copy) reads the
   records, strongly consistent.
4. **Counted.** Once a holder has counted the dispatch's messages against the account's
   limits it says so in the ledger, so no later copy counts them again: a retry after SES
   throttling, a continuation in a fresh invocation, a copy delivered after the holder died.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from pynamodb.exceptions import PutError, UpdateError

from chalicelib.core import clock, db, queues
from chalicelib.sending import hooks
from chalicelib.sending.models import DispatchLease, Message

LEASE_SECONDS = 180  # longer than the worker function's timeout (60 s)
KEEP_DONE = timedelta(days=7)  # ledgers outlive SQS retention (4 days), then expire


class LeaseBusy(queues.Busy):
    """Another worker holds the dispatch; the SQS record comes back after its visibility timeout."""


class Lease:
    def __init__(self, item: DispatchLease) -> None:
        self.item = item  # the ledger as this holder last wrote it
        self.dispatch_id = item.dispatch_id
        self.version = int(item.version or 0)
        self.previous_state = item.previous_state  # "fresh", "released" or "claimed" (its holder died)
        self.in_flight = set((item.in_flight or "").split())
        self.counted = bool(item.counted)  # a holder before this one counted the messages

    def trusts(self, version: int) -> bool:
        """Whether snapshots taken at ``version`` are the records as they are now."""
        return self.previous_state in ("fresh", "released") and int(version) == self.version

    def _write(self, what: str, **changes: object) -> None:
        # A whole-item put guarded by the owner: cheaper than an update, and it proves the
        # lease is still this worker's at the moment of writing.
        for name, value in changes.items():
            setattr(self.item, name, value)
        try:
            self.item.save(condition=DispatchLease.owner == self.item.owner)
        except PutError as exc:
            if db.condition_failed(exc):
                raise LeaseBusy(f"dispatch {self.dispatch_id} was taken over before {what}") from None
            raise

    def mark_counted(self) -> None:
        """Record that the messages were counted against the limits (right after counting)."""
        self.counted = True
        self._write("counting", counted=True)

    def mark_in_flight(self, message_ids: list[str]) -> None:
        """Record that these messages are about to be submitted (before any SES call)."""
        self._write("submitting", in_flight=" ".join(message_ids))

    def release(self) -> int:
        """Let the next copy of this dispatch claim it at once; return the new version."""
        self.version += 1
        self._write("release", state="released", lease_until=0, in_flight=None, version=self.version)
        return self.version

    def complete(self) -> None:
        """Every message of the dispatch is final: later copies are skipped."""
        self._write("completion", state="done", lease_until=0, in_flight=None, expires=clock.now() + KEEP_DONE)


def claim(dispatch_id: str) -> Lease | None:
    """The lease on a dispatch; None if it is already done; LeaseBusy if someone holds it."""
    now = clock.now().timestamp()
    item = DispatchLease(dispatch_id)
    try:
        item.update(
            actions=[DispatchLease.previous_state.set(DispatchLease.state | "fresh"),
                     DispatchLease.state.set("claimed"), DispatchLease.owner.set(uuid.uuid4().hex),
                     DispatchLease.lease_until.set(now + LEASE_SECONDS),
                     DispatchLease.expires.set(clock.now() + KEEP_DONE)],
            condition=DispatchLease.dispatch_id.does_not_exist()
            | ((DispatchLease.state != "done") & (DispatchLease.lease_until < now)))
    except UpdateError as exc:
        if not db.condition_failed(exc):
            raise
        current = DispatchLease.get(dispatch_id, consistent_read=True)
        if current.state == "done":
            return None
        raise LeaseBusy(f"dispatch {dispatch_id} is being delivered by another worker") from None
    return Lease(item)


class Records:
    """Message records waiting to be written, flushed together in one BatchWrite (25 per call)."""

    def __init__(self) -> None:
        self._pending: dict[str, Message] = {}

    def stage(self, message: Message) -> None:
        self._pending[message.message_id] = message

    def flush(self) -> None:
        if not self._pending:
            return
        with Message.batch_write() as batch:
            for message in self._pending.values():
                batch.save(message)
        hooks.events_saved(*self._pending.values())  # rejects and suspensions the worker wrote, to webhooks
        self._pending.clear()
