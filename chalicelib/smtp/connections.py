"""Connection limits: per client IP (in this process) and per account (across instances).

Per IP the count is local: the network load balancer keeps a client IP on one task
(source-IP stickiness, infra/smtp-ingress.yaml), so each task sees all of an IP's
connections. Per account it is global, because one account's connections land on every
task: each instance keeps its own count per account in ``smtp_sessions`` and an
authentication sums the live instances' items (one Query and one Put per connection, a Put
when it closes). A heartbeat keeps this instance's items alive; those of a crashed
instance stop counting when their ``alive_until`` passes.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from chalicelib.smtp.models import SmtpSessions

ALIVE_SECONDS = 90  # an instance's counts stand this long without a heartbeat
HEARTBEAT_SECONDS = 30


class IpSlots:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._held: Counter[str] = Counter()
        self._lock = threading.Lock()

    def acquire(self, ip: str) -> bool:
        with self._lock:
            if self._held[ip] >= self.limit:
                return False
            self._held[ip] += 1
            return True

    def release(self, ip: str) -> None:
        with self._lock:
            self._held[ip] -= 1
            if self._held[ip] <= 0:
                del self._held[ip]


class AccountSlots:
    """This instance's connections per account. Acquires and releases of one account are
    serialised (each is a Query and/or a Put), those of different accounts run in parallel:
    no lock but the account's own is held across a DynamoDB call."""

    def __init__(self, limit: int, instance: str | None = None) -> None:
        self.limit = limit
        self.instance = instance or uuid.uuid4().hex
        self._held: Counter[int] = Counter()
        self._locks: dict[int, list] = {}  # account -> [its lock, threads using or waiting on it]
        self._guard = threading.Lock()  # over _held and _locks; never held across a DynamoDB call

    @contextlib.contextmanager
    def _serialised(self, account_id: int) -> Iterator[None]:
        """Hold the account's lock; it is dropped when no thread uses or waits on it."""
        with self._guard:
            entry = self._locks.setdefault(account_id, [threading.Lock(), 0])
            entry[1] += 1
        try:
            with entry[0]:
                yield
        finally:
            with self._guard:
                entry[1] -= 1
                if entry[1] == 0:
                    del self._locks[account_id]

    def acquire(self, account_id: int) -> bool:
        """Take a connection slot for the account unless it already has ``limit`` everywhere."""
        with self._serialised(account_id):
            now = time.time()
            others = sum(int(item.connections) for item in SmtpSessions.query(int(account_id), consistent_read=True)
                         if item.instance != self.instance and item.alive_until > now)
            with self._guard:
                if others + self._held[account_id] >= self.limit:
                    return False
                self._held[account_id] += 1
                held = self._held[account_id]
            self._put(account_id, held)
            return True

    def release(self, account_id: int) -> None:
        with self._serialised(account_id):
            with self._guard:
                self._held[account_id] -= 1
                held = self._held[account_id]
                if held <= 0:
                    del self._held[account_id]
            self._put(account_id, held)

    def heartbeat(self) -> None:
        """Refresh this instance's item of every account it holds connections of. The account
        list is copied under the guard; each count is read and written under its account's
        lock, so a heartbeat never writes a count an acquire or release has already replaced."""
        with self._guard:
            accounts = list(self._held)
        for account_id in accounts:
            with self._serialised(account_id):
                with self._guard:
                    held = self._held.get(account_id, 0)
                if held > 0:  # 0: released meanwhile, and the release wrote it
                    self._put(account_id, held)

    def _put(self, account_id: int, held: int) -> None:
        now = datetime.now(UTC)
        SmtpSessions(int(account_id), self.instance, connections=max(0, held),
                     alive_until=int(now.timestamp()) + ALIVE_SECONDS,
                     expires=now + timedelta(days=1)).save()
