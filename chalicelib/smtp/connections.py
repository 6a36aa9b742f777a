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

import threading
import time
import uuid
from collections import Counter
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
    def __init__(self, limit: int, instance: str | None = None) -> None:
        self.limit = limit
        self.instance = instance or uuid.uuid4().hex
        self._held: Counter[int] = Counter()
        self._lock = threading.Lock()  # one acquire/release at a time in this process

    def acquire(self, account_id: int) -> bool:
        """Take a connection slot for the account unless it already has ``limit`` everywhere."""
        with self._lock:
            now = time.time()
            others = sum(int(item.connections) for item in SmtpSessions.query(int(account_id), consistent_read=True)
                         if item.instance != self.instance and item.alive_until > now)
            if others + self._held[account_id] >= self.limit:
                return False
            self._held[account_id] += 1
            self._put(account_id)
            return True

    def release(self, account_id: int) -> None:
        with self._lock:
            self._held[account_id] -= 1
            self._put(account_id)
            if self._held[account_id] <= 0:
                del self._held[account_id]

    def heartbeat(self) -> None:
        with self._lock:
            for account_id in list(self._held):
                self._put(account_id)

    def _put(self, account_id: int) -> None:
        now = datetime.now(UTC)
        SmtpSessions(int(account_id), self.instance, connections=max(0, self._held[account_id]),
                     alive_until=int(now.timestamp()) + ALIVE_SECONDS,
                     expires=now + timedelta(days=1)).save()
