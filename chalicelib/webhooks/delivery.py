"""Delivering events to webhooks: batched, signed, retried (seed-C §4.4-4.5).

Every event a webhook wants becomes one record on the ``webhook-deliveries`` queue. Its
consumer (app.py) takes up to 500 records, waiting up to 30 s to fill the batch (the Lambda
batching window: the "collected and sent every 30 seconds"); it groups them by webhook and
posts each webhook's events in requests of at most 500, webhooks in parallel threads, so a
slow receiver delays only its own requests.

A request succeeds on HTTP 200 only; anything else, no answer within 30 s, or an address
the egress guard refuses is a failure. A failed request is kept (``PendingBatch``: its exact
body, so every retry carries the same bytes, signature and ``event_id``s) and a ``retry``
record comes back on the same queue after 5 minutes (an SQS message timer). The 40th retry
that fails pauses the webhook and mails the account's owner once. Every request is recorded
in the webhook's delivery history (status, latency, error).
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import math
import threading
import time
import uuid
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pynamodb.exceptions import DeleteError, DoesNotExist, PutError, UpdateError

from chalicelib.core import clock, db, deadletters, queues
from chalicelib.webhooks import egress
from chalicelib.webhooks.models import JSONLINES, DeliveryAttempt, PendingBatch, Webhook, webhook_key

log = logging.getLogger("postline.webhooks")

QUEUE = queues.register("webhook-deliveries")
MAX_EVENTS = 500  # per request (seed-C §4.4)
MAX_BODY_BYTES = 1_000_000  # a request also ends here, so its kept copy fits a DynamoDB item
TIMEOUT_SECONDS = 30.0  # no answer in 30 s is a failure
RETRY_SECONDS = 300  # a failed request is retried every 5 minutes ...
MAX_RETRIES = 40  # ... 40 times, then the webhook is paused
KEEP_HISTORY = timedelta(days=30)
KEEP_BATCH = timedelta(seconds=RETRY_SECONDS * (MAX_RETRIES + 10))
PARALLEL = 16  # webhooks delivered at once by one consumer
USER_AGENT = "Postline-Webhooks/1.0"
_CONTENT_TYPES = {"json": "application/json", JSONLINES: "application/jsonl"}


def sign(secret: str, body: bytes) -> str:
    """``Mailtrap-Signature``: lowercase hex HMAC-SHA256 of the raw body, keyed with the secret."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def encode(events: list[dict[str, Any]], payload_format: str) -> tuple[bytes, str]:
    """The request body and its Content-Type: ``{"events": [...]}``, or one object per line."""
    if payload_format == JSONLINES:
        return "\n".join(_dumps(e) for e in events).encode(), _CONTENT_TYPES[JSONLINES]
    return _dumps({"events": events}).encode(), _CONTENT_TYPES["json"]


def requests_of(events: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """The events cut into requests of at most 500 events and about 1 MB."""
    chunk: list[dict[str, Any]] = []
    size = 0
    for e in events:
        n = len(_dumps(e).encode()) + 1
        if chunk and (len(chunk) == MAX_EVENTS or size + n > MAX_BODY_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(e)
        size += n
    if chunk:
        yield chunk


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    latency_ms: int
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status_code == 200

    def to_wire(self) -> dict[str, Any]:
        return {"success": self.ok, "status_code": self.status_code, "latency_ms": self.latency_ms,
                "error": self.error}


def post(url: str, body: bytes, content_type: str, secret: str, timeout: float = TIMEOUT_SECONDS) -> Outcome:
    """One signed POST to a webhook URL through the egress guard; never raises."""
    started = time.monotonic()
    status, error, conn = None, None, None
    try:
        target = egress.parse(url)
        conn = egress.open_connection(target, timeout)
        headers = {"Content-Type": content_type, "Mailtrap-Signature": sign(secret, body),
                   "User-Agent": USER_AGENT, "Content-Length": str(len(body))}
        if target.authorization:
            headers["Authorization"] = target.authorization
        conn.request("POST", target.path, body=body, headers=headers)
        response = conn.getresponse()
        status = response.status
        response.read(65536)  # what the receiver says is not kept
        if status != 200:
            error = f"HTTP {status}" + (" (redirects are not followed)" if 300 <= status < 400 else "")
    except egress.Refused as exc:
        error = f"refused: {exc}"
    except TimeoutError:
        error = f"no answer within {timeout:g} s"
    except (OSError, http.client.HTTPException, ValueError) as exc:  # ValueError: a malformed allow-list
        error = queues.describe(exc)
    finally:
        if conn is not None:
            conn.close()
    return Outcome(status, int((time.monotonic() - started) * 1000), error)


# ------------------------------------------------------------------ producing


def record(account_id: int, webhook_id: int, payload: dict[str, Any]) -> dict[str, Any]:
    """The queue record of one event for one webhook."""
    return {"kind": "event", "account_id": int(account_id), "webhook_id": int(webhook_id), "event": payload}


def publish(records: list[dict[str, Any]]) -> None:
    if records:
        queues.send_many(QUEUE, records)


# ------------------------------------------------------------------ the consumer


_executor: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    """The senders, kept between invocations (a warm Lambda keeps its threads)."""
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=PARALLEL, thread_name_prefix="webhook")
    return _executor


def handle_batch(event: Any) -> dict[str, list[dict[str, str]]]:
    """One SQS batch: new events grouped per webhook, retries on their own; everything in
    parallel. The batch's webhooks are read in one call and its requests recorded in the
    history in one write at the end. A job that raises returns its records to the queue
    (partial batch failure)."""
    groups: dict[tuple[int, int], list[tuple[str, dict[str, Any]]]] = {}
    retries: list[tuple[str, str]] = []
    failures: list[dict[str, str]] = []
    for record in event:
        raw = record.to_dict() if hasattr(record, "to_dict") else record
        message_id = raw["messageId"]
        try:
            body = json.loads(raw["body"])
            if body.get("kind") == "retry":
                retries.append((message_id, str(body["batch_id"])))
            else:
                key = (int(body["account_id"]), int(body["webhook_id"]))
                groups.setdefault(key, []).append((message_id, body["event"]))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            queues.remember_failure(message_id, queues.source_queue(raw), exc)
            failures.append({"itemIdentifier": message_id})
    run = Run(groups)
    jobs: list[tuple[list[str], Any]] = [([m], lambda b=batch_id: run.retry(b)) for m, batch_id in retries]
    for key, items in groups.items():
        jobs.append(([m for m, _ in items], lambda k=key, e=[e for _, e in items]: run.deliver_new(k, e)))
    futures = [(ids, _pool().submit(job)) for ids, job in jobs]
    for ids, future in futures:
        try:
            future.result()
        except Exception as exc:
            log.exception("webhook delivery job failed; its %d records return to the queue", len(ids))
            for message_id in ids:
                queues.remember_failure(message_id, QUEUE, exc)
                failures.append({"itemIdentifier": message_id})
    run.save_history()
    return {"batchItemFailures": failures}


class Run:
    """What one consumer invocation shares between its threads: the webhooks of its new
    events (one BatchGetItem) and the history items of its requests (one BatchWrite)."""

    def __init__(self, groups: dict[tuple[int, int], Any]) -> None:
        self.hooks: dict[tuple[int, int], Webhook] = {}
        if groups:
            for hook in Webhook.batch_get(list(groups), consistent_read=True):
                self.hooks[(int(hook.account_id), int(hook.webhook_id))] = hook
        self.history: list[DeliveryAttempt] = []
        self._lock = threading.Lock()

    def deliver_new(self, key: tuple[int, int], events: list[dict[str, Any]]) -> int:
        """Post a webhook's new events; returns how many requests were made. Events for a
        webhook that is gone or paused are dropped (a paused webhook receives nothing)."""
        hook = self.hooks.get(key)
        if hook is None or not hook.active:
            log.info("%d events for webhook %s/%s dropped: it is %s", len(events), key[0], key[1],
                     "deleted" if hook is None else "paused")
            return 0
        made = 0
        for chunk in requests_of(events):
            body, content_type = encode(chunk, hook.payload_format)
            outcome = post(hook.url, body, content_type, hook.signing_secret)
            self.settle(hook, str(uuid.uuid4()), 1, len(chunk), body, outcome, None)
            made += 1
        return made

    def retry(self, batch_id: str) -> None:
        """A kept batch's next attempt, when its time has come (the clock decides, so a
        record that comes back early waits again)."""
        try:
            batch = PendingBatch.get(batch_id, consistent_read=True)
        except DoesNotExist:
            return  # delivered or given up meanwhile
        wait = (batch.next_attempt_at - clock.now()).total_seconds()
        if wait > 0:
            queues.send(QUEUE, {"kind": "retry", "batch_id": batch_id}, delay_seconds=math.ceil(wait))
            return
        hook = _webhook(batch.account_id, batch.webhook_id)
        if hook is None or not hook.active:
            log.info("batch %s of webhook %s/%s dropped: it is %s", batch_id, batch.account_id, batch.webhook_id,
                     "deleted" if hook is None else "paused")
            _forget(batch)
            return
        body = zlib.decompress(batch.body)
        outcome = post(hook.url, body, _CONTENT_TYPES.get(batch.payload_format, "application/json"),
                       hook.signing_secret)
        self.settle(hook, batch_id, int(batch.attempts) + 1, int(batch.events_count), body, outcome, batch)

    def settle(self, hook: Webhook, batch_id: str, attempt: int, events_count: int, body: bytes, outcome: Outcome,
               batch: PendingBatch | None) -> None:
        """Record the request; on failure keep the batch for its next attempt, or pause the
        webhook when that was the last."""
        now = clock.now()
        with self._lock:
            self.history.append(attempt_item(hook, batch_id, attempt, events_count, outcome, now))
        if outcome.ok:
            if batch is not None:
                _forget(batch)
            return
        if attempt > MAX_RETRIES:  # the first attempt and 40 retries failed
            if batch is not None:
                _forget(batch)
            pause_exhausted(hook, outcome.error)
            return
        previous = None if batch is None else int(batch.attempts)
        batch = batch or PendingBatch(batch_id, account_id=hook.account_id, webhook_id=hook.webhook_id,
                                      payload_format=hook.payload_format, body=zlib.compress(body),
                                      events_count=events_count, expires=now + KEEP_BATCH)
        batch.attempts = attempt
        batch.next_attempt_at = now + timedelta(seconds=RETRY_SECONDS)
        condition = PendingBatch.batch_id.does_not_exist() if previous is None else PendingBatch.attempts == previous
        try:
            batch.save(condition=condition)
        except PutError as exc:
            if db.condition_failed(exc):  # another consumer made this attempt (a record delivered twice)
                return
            raise
        queues.send(QUEUE, {"kind": "retry", "batch_id": batch_id}, delay_seconds=RETRY_SECONDS)

    def save_history(self) -> None:
        """The invocation's requests into the history; a failure here loses history, not events."""
        try:
            with DeliveryAttempt.batch_write() as batch:
                for item in self.history:
                    batch.save(item)
        except Exception:
            log.exception("the history of %d webhook requests could not be written", len(self.history))


def _webhook(account_id: int, webhook_id: int) -> Webhook | None:
    try:
        return Webhook.get(int(account_id), int(webhook_id), consistent_read=True)
    except DoesNotExist:
        return None


def _forget(batch: PendingBatch) -> None:
    try:
        batch.delete()
    except DeleteError:
        log.warning("could not delete kept batch %s (it expires by itself)", batch.batch_id, exc_info=True)


def attempt_item(hook: Webhook, batch_id: str, attempt: int, events_count: int, outcome: Outcome,
                 now: Any) -> DeliveryAttempt:
    """One request as its delivery-history item."""
    return DeliveryAttempt(webhook_key(hook.account_id, hook.webhook_id), f"{clock.iso(now)}#{batch_id}#{attempt:03d}",
                           batch_id=batch_id, attempt=attempt, at=now, events_count=events_count,
                           status_code=outcome.status_code, latency_ms=outcome.latency_ms, error=outcome.error,
                           expires=now + KEEP_HISTORY)


EXHAUSTED = "Paused after {retries} failed retries of a batch (last error: {error})"


def pause_exhausted(hook: Webhook, error: str | None) -> None:
    """Retries exhausted: pause the webhook and tell the owner, once (only the update that
    actually pauses it sends the mail)."""
    reason = EXHAUSTED.format(retries=MAX_RETRIES, error=error or "unknown")
    try:
        hook.update(actions=[Webhook.active.set(False), Webhook.paused_reason.set(reason),
                             Webhook.updated_at.set(clock.now())],
                    condition=Webhook.active == True)  # noqa: E712 (a pynamodb condition)
    except UpdateError as exc:
        if db.condition_failed(exc):
            return  # already paused
        raise
    _mail_owner(hook, reason)


def _mail_owner(hook: Webhook, reason: str) -> None:
    from chalicelib.accounts import service as accounts  # the owner's address
    from chalicelib.domains import system_mail  # Postline's own mail

    try:
        owner = accounts.get_account(hook.account_id).owner_email
        system_mail.send(owner, f"Webhook paused: {egress.display(hook.url)}",
                         f"Postline paused your webhook {hook.webhook_id} ({egress.display(hook.url)}).\n\n"
                         f"{reason}.\n\nEvents are not sent to it while it is paused. Fix the endpoint, "
                         "then resume the webhook (POST /api/webhooks/{id}/resume or the console).\n")
    except Exception:
        log.exception("webhook %s/%s paused, but its owner could not be mailed", hook.account_id, hook.webhook_id)


def history(account_id: int, webhook_id: int, limit: int = 50) -> list[dict[str, Any]]:
    """The webhook's last requests, newest first."""
    out = []
    for item in DeliveryAttempt.query(webhook_key(account_id, webhook_id), scan_index_forward=False, limit=limit):
        out.append({"batch_id": item.batch_id, "attempt": item.attempt, "at": clock.iso(item.at),
                    "events_count": item.events_count, "status_code": item.status_code,
                    "latency_ms": item.latency_ms, "error": item.error, "success": item.status_code == 200})
    return out


@deadletters.register(QUEUE)
def settle_dead_delivery(letter: deadletters.DeadLetter) -> str:
    """A record the consumer could never process (the webhook or its kept batch could not be
    read or written). The events in it are not delivered; said by ids, never by content."""
    body = letter.body
    if body.get("kind") == "retry":
        return f"retry of webhook batch {body.get('batch_id')} dropped: {letter.reason('it could not be processed')}"
    return (f"event {(body.get('event') or {}).get('event_id')} for webhook {body.get('account_id')}/"
            f"{body.get('webhook_id')} dropped: {letter.reason('it could not be processed')}")
