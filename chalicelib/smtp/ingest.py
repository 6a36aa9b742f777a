"""Hand-off to the sending pipeline, with writes grouped across concurrent SMTP sessions.

A message is accepted (250) only once it is durably queued for delivery, and those AWS
calls, not SMTP, limit throughput. Sessions therefore don't commit on their own: each
accepted message joins the pending list, and the committer takes everything pending at
once, groups it by (token, stream, client IP), and commits each group as one
``Submission`` (the same object ``POST /api/batch`` uses) with its records deferred: one SQS
batch carrying the content and the records' snapshots, which the delivery worker writes to
the table when it takes the dispatch (``Submission.commit``). A group too large for that
also writes its records first.

A session waits for its 250, so at most one message per connection is pending. The
committer waits up to ``LINGER_SECONDS`` for every authenticated connection that is not
already waiting on a commit to have one pending, then commits without waiting for earlier
commits to finish: sessions whose commit is under way don't hold up the others. The
grouping runs on the server's event loop, where every session lives, so a message reaches
its commit with one hand-off to the commit threads and its answer with one back.

Per-message checks (authorization of the From domain, validation) happen for each message
inside the group, so one bad message is refused alone; a failed commit fails its group
(every session gets a temporary 451) and removes any records it wrote.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from chalicelib.core.permissions import Principal
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
    future: asyncio.Future

    @property
    def key(self) -> tuple[int, int, str, str | None]:
        return self.principal.account_id, self.principal.token_id, self.stream, self.client_ip


class Committer:
    """Used from the event loop only (``submit``); commits run in its own threads."""

    def __init__(self, loop: asyncio.AbstractEventLoop, workers: int = 4,
                 active: Callable[[], int] = lambda: 1) -> None:
        self._loop = loop
        self._active = active  # how many connections could have a message pending (authenticated ones)
        self._pending: list[_Item] = []
        self._in_flight = 0  # messages in commits under way (their sessions can't have another pending)
        self._linger: asyncio.TimerHandle | None = None
        self._stopping = False
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="smtp-commit")
        self._resolvers: dict[tuple[int, str], tuple[float, SenderResolver]] = {}
        self.groups = 0  # commits made (the bench reports messages per commit)
        self.messages = 0

    async def submit(self, principal: Principal, stream: str, client_ip: str | None,
                     request: SendRequest) -> list[str]:
        """Queue one validated message and wait for its message ids (one per recipient)."""
        if self._stopping:
            raise CommitFailed("the SMTP server is stopping")
        item = _Item(principal, stream, client_ip, request, self._loop.create_future())
        self._pending.append(item)
        self._commit_when_ready()
        return await item.future

    def stop(self) -> None:
        """Refuse new messages and wait for the commits under way (call from outside the loop)."""
        self._stopping = True
        self._pool.shutdown(wait=True)

    def _commit_when_ready(self) -> None:
        if not self._pending:
            return
        if len(self._pending) >= min(self._active() - self._in_flight, MAX_GROUP) or self._stopping:
            self._commit_pending()
        elif self._linger is None:
            self._linger = self._loop.call_later(LINGER_SECONDS, self._commit_pending)

    def _commit_pending(self) -> None:
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None
        taken, self._pending = [i for i in self._pending if not i.future.done()], []  # done: session gone
        if not taken:
            return
        self._in_flight += len(taken)
        groups: dict[Any, list[_Item]] = defaultdict(list)
        for item in taken:
            groups[item.key].append(item)
        for group in groups.values():
            for i in range(0, len(group), MAX_GROUP):
                chunk = group[i:i + MAX_GROUP]
                done = self._loop.run_in_executor(self._pool, self._commit, chunk)
                done.add_done_callback(lambda outcome, chunk=chunk: self._answer(chunk, outcome))

    def _answer(self, items: list[_Item], outcome: asyncio.Future) -> None:
        """Back on the loop: give each session its message ids or its error."""
        self._in_flight -= len(items)
        try:
            results = outcome.result()
        except BaseException:  # _commit answers for its own failures; this is anything else
            log.exception("an SMTP commit of %d messages did not finish", len(items))
            results = [CommitFailed("the commit did not finish")] * len(items)
        accepted = sum(1 for r in results if not isinstance(r, BaseException))
        if accepted:
            self.groups += 1
            self.messages += accepted
        for item, result in zip(items, results, strict=True):
            if item.future.done():
                continue
            if isinstance(result, BaseException):
                item.future.set_exception(result)
            else:
                item.future.set_result(result)
        self._commit_when_ready()

    def senders(self, principal: Principal, stream: str) -> SenderResolver:
        """The token's sender lookups, shared by its connections and commits for a while."""
        key = (principal.token_id, stream)
        now = time.monotonic()
        hit = self._resolvers.get(key)
        if hit is None or now - hit[0] > RESOLVER_SECONDS or hit[1].principal != principal:
            hit = (now, SenderResolver(principal, stream))
            self._resolvers[key] = hit
        return hit[1]

    def _commit(self, items: list[_Item]) -> list[list[str] | BaseException]:
        """In a commit thread: each item's message ids, or the exception to answer it with."""
        first = items[0]
        submission = Submission(first.principal, first.stream, first.client_ip)
        submission.senders = self.senders(first.principal, first.stream)  # shared lookups across groups
        results: list[list[str] | BaseException] = []
        for item in items:
            try:
                results.append(submission.add(item.request))
            except Exception as exc:  # SendError (refused) or a lookup failure: this message only
                results.append(exc)
        accepted = sum(1 for r in results if not isinstance(r, BaseException))
        if not accepted:
            return results
        try:
            submission.commit(defer_records=True)
        except Exception:
            log.exception("storing %d SMTP messages failed; each session is told to retry", accepted)
            _forget(submission)
            return [r if isinstance(r, BaseException) else CommitFailed("could not store the message")
                    for r in results]
        return results


def _forget(submission: Submission) -> None:
    """Remove the records of a failed commit, so the client's retry is the only copy."""
    try:
        submission.forget()
    except Exception:
        log.exception("could not remove %d records of a failed SMTP commit", len(submission.written))
