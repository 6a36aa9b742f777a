"""Hand-off to the sending pipeline, with writes grouped across concurrent SMTP sessions.

A message is accepted (250) only once it is durably queued for delivery, and those AWS
calls, not SMTP, limit throughput. Sessions therefore don't commit on their own: each
accepted message joins the pending list, and a committer thread takes everything pending
at once, groups it by (token, stream, client IP), and commits each group as one
``Submission`` (the same object ``POST /api/batch`` uses) with its records deferred: one SQS
batch carrying the content and the records' snapshots, which the delivery worker writes to
the table when it takes the dispatch (``Submission.commit``). A group too large for that
also writes its records first.

A session waits for its 250, so at most one message per connection is pending. The
committer waits up to ``LINGER_SECONDS`` for every authenticated connection that is not
already waiting on a commit to have one pending, then commits without waiting for earlier
commits to finish: sessions whose commit is under way don't hold up the others.

Per-message checks (authorization of the From domain, validation) happen for each message
inside the group, so one bad message is refused alone; a failed commit fails its group
(every session gets a temporary 451) and removes any records it wrote.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from chalicelib.core.permissions import Principal
from chalicelib.sending.models import Message
from chalicelib.sending.senders import SenderResolver
from chalicelib.sending.service import Submission
from chalicelib.sending.validation import SendRequest

log = logging.getLogger("postline.smtp.ingest")

MAX_GROUP = 100  # messages per Submission (the content document then goes to S3 in one put)
RESOLVER_SECONDS = 30.0  # how long a token's sender lookups are reused across groups
LINGER_SECONDS = 0.010  # the longest a message waits for others to join its commit


class CommitFailed(Exception):
    """The group this message was in could not be stored; nothing of it was kept."""


@dataclass
class _Item:
    principal: Principal
    stream: str
    client_ip: str | None
    request: SendRequest
    future: Future = field(default_factory=Future)

    @property
    def key(self) -> tuple[int, int, str, str | None]:
        return self.principal.account_id, self.principal.token_id, self.stream, self.client_ip


class Committer:
    def __init__(self, workers: int = 4, active: Callable[[], int] = lambda: 1) -> None:
        self._active = active  # how many connections could have a message pending (authenticated ones)
        self._pending: list[_Item] = []
        self._in_flight = 0  # messages in commits under way (their sessions can't have another pending)
        self._cond = threading.Condition()
        self._stopping = False
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="smtp-commit")
        self._resolvers: dict[tuple[int, str], tuple[float, SenderResolver]] = {}
        self._thread = threading.Thread(target=self._run, name="smtp-committer", daemon=True)
        self.groups = 0  # commits made (the bench reports messages per commit)
        self.messages = 0
        self._thread.start()

    def submit(self, principal: Principal, stream: str, client_ip: str | None, request: SendRequest) -> Future:
        """Queue one validated message; the future gives its message ids (one per recipient)."""
        item = _Item(principal, stream, client_ip, request)
        with self._cond:
            if self._stopping:
                raise CommitFailed("the SMTP server is stopping")
            self._pending.append(item)
            self._cond.notify()
        return item.future

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join(timeout=30)
        self._pool.shutdown(wait=True)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stopping:
                    self._cond.wait()
                if not self._pending and self._stopping:
                    return
                deadline = time.monotonic() + LINGER_SECONDS
                while len(self._pending) < min(self._active() - self._in_flight, MAX_GROUP) and not self._stopping:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                taken, self._pending = self._pending, []
                self._in_flight += len(taken)
            groups: dict[Any, list[_Item]] = defaultdict(list)
            for item in taken:
                groups[item.key].append(item)
            for group in groups.values():
                for i in range(0, len(group), MAX_GROUP):
                    self._pool.submit(self._commit_and_release, group[i:i + MAX_GROUP])

    def _commit_and_release(self, items: list[_Item]) -> None:
        try:
            self._commit(items)
        finally:
            with self._cond:
                self._in_flight -= len(items)
                self._cond.notify()

    def _resolver(self, principal: Principal, stream: str) -> SenderResolver:
        key = (principal.token_id, stream)
        now = time.monotonic()
        hit = self._resolvers.get(key)
        if hit is None or now - hit[0] > RESOLVER_SECONDS or hit[1].principal != principal:
            hit = (now, SenderResolver(principal, stream))
            self._resolvers[key] = hit
        return hit[1]

    def _commit(self, items: list[_Item]) -> None:
        first = items[0]
        submission = Submission(first.principal, first.stream, first.client_ip)
        submission.senders = self._resolver(first.principal, first.stream)  # shared lookups across groups
        accepted: list[tuple[_Item, list[str]]] = []
        for item in items:
            try:
                accepted.append((item, submission.add(item.request)))
            except Exception as exc:  # SendError (refused) or a lookup failure: this message only
                item.future.set_exception(exc)
        if not accepted:
            return
        try:
            submission.commit(defer_records=True)
        except Exception:
            log.exception("storing %d SMTP messages failed; each session is told to retry", len(accepted))
            _forget(submission.written)
            for item, _ in accepted:
                item.future.set_exception(CommitFailed("could not store the message"))
            return
        self.groups += 1
        self.messages += len(accepted)
        for item, message_ids in accepted:
            item.future.set_result(message_ids)


def _forget(messages: list[Message]) -> None:
    """Remove the records of a failed commit, so the client's retry is the only copy."""
    try:
        with Message.batch_write() as batch:
            for message in messages:
                batch.delete(message)
    except Exception:
        log.exception("could not remove %d records of a failed SMTP commit", len(messages))
