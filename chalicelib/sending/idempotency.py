"""At most one SES submission per message: dispatch leases and the submission ledger.

SQS delivers at least once, and a worker can die anywhere. Two records make sending safe:

1. **Dispatch lease** (table ``send_dispatches``). A dispatch is one SQS message's worth of
   messages. Before touching them a worker claims the dispatch with a conditional write
   (free, or its lease expired, and not done). Every copy of a dispatch (a redelivery, a
   retry re-enqueued after SES throttling) carries the same dispatch id, so only one worker
   at a time works on those messages. The lease outlives the worker's time limit, so a
   lease can only expire when its worker is gone.
2. **Submission ledger** (the message records). Under the lease, a message is marked
   ``sending`` *before* its SES call and recorded ``sent`` with SES's MessageId after it.
   A later holder of the lease sends only messages still ``queued``; one found ``sending``
   was in flight when a worker died, so SES may or may not have it: it is never resent,
   and ends ``failed`` with that reason. Marks and records are batched (a chunk of messages
   per DynamoDB BatchWrite), so a crash can leave at most one chunk in that state.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from pynamodb.exceptions import UpdateError

from chalicelib.core import clock
from chalicelib.sending.models import DispatchLease, Message

LEASE_SECONDS = 180  # longer than the worker function's timeout (60 s) plus its time budget margin
KEEP_DONE = timedelta(days=7)  # done markers outlive SQS retention (4 days), then expire


class LeaseBusy(Exception):
    """Another worker holds the dispatch; the SQS record comes back after its visibility timeout."""


class Lease:
    def __init__(self, dispatch_id: str, owner: str) -> None:
        self.dispatch_id = dispatch_id
        self.owner = owner

    def _finish(self, state: str) -> None:
        item = DispatchLease(self.dispatch_id)
        try:
            item.update(actions=[DispatchLease.state.set(state), DispatchLease.lease_until.set(0),
                                 DispatchLease.expires.set(clock.now() + KEEP_DONE)],
                        condition=DispatchLease.owner == self.owner)
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                raise LeaseBusy(f"dispatch {self.dispatch_id} was taken over") from None
            raise

    def release(self) -> None:
        """Let the next copy of this dispatch (a re-enqueued retry) claim it at once."""
        self._finish("released")

    def complete(self) -> None:
        """Every message of the dispatch is final: later copies are skipped."""
        self._finish("done")


def claim(dispatch_id: str) -> Lease | None:
    """The lease on a dispatch; None if the dispatch is already done; LeaseBusy if held."""
    owner = uuid.uuid4().hex
    now = clock.now().timestamp()
    item = DispatchLease(dispatch_id)
    try:
        item.update(
            actions=[DispatchLease.state.set("claimed"), DispatchLease.owner.set(owner),
                     DispatchLease.lease_until.set(now + LEASE_SECONDS),
                     DispatchLease.expires.set(clock.now() + KEEP_DONE)],
            condition=DispatchLease.dispatch_id.does_not_exist()
            | ((DispatchLease.state != "done") & (DispatchLease.lease_until < now)))
    except UpdateError as exc:
        if exc.cause_response_code != "ConditionalCheckFailedException":
            raise
        current = DispatchLease.get(dispatch_id, consistent_read=True)
        if current.state == "done":
            return None
        raise LeaseBusy(f"dispatch {dispatch_id} is being delivered by another worker") from None
    return Lease(dispatch_id, owner)


class Ledger:
    """Message records waiting to be written, flushed together in one BatchWrite."""

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
        self._pending.clear()
