"""The delivery worker: one SQS record (a dispatch of up to 50 messages) at a time.

For each dispatch: claim its ledger (idempotency.py), take its message records (the
snapshots the dispatch carries when the ledger vouches for them, else a strongly consistent
read, settling any message a dead worker left in flight), ask the throttling and
suppression hooks (a dispatch over a sending rate goes back on its queue, its messages'
logs saying why and until when), then per chunk of messages: render, build MIME, store the raw copies in
S3, mark the chunk in flight, submit each to SES, and record what SES said. SES throttling
and 5xx put the rest back on the queue with an exponential delay (same dispatch id);
refusals end ``rejected``/``failed`` with the reason. Mail whose sending domain may not send
when its turn comes (DNS no longer verified, not compliant) is suspended: re-checked every
15 minutes, 10 more times, then rejected (seed: Suspension).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import random
import time
import uuid
from datetime import timedelta
from typing import Any

from chalicelib.core import aws, clock, deadletters, queues, redrive
from chalicelib.sending import (
    content,
    dedicated_ips,
    events,
    hooks,
    idempotency,
    mime,
    ses,
    stats,
    streams,
    templating,
    tracking,
    tracking_opt_outs,
    unsubscribe,
)
from chalicelib.sending.models import FAILED, QUEUED, REJECTED, SENT, Message
from chalicelib.sending.validation import SendRequest

log = logging.getLogger("postline.sending.worker")

CHUNK_SIZE = 25  # messages marked in flight, submitted and recorded together (the crash window)
PACK_BYTES = 8 * 1024 * 1024  # messages built and stored in S3 together: up to a dispatch, or this much
MAX_ATTEMPTS = 12  # SES throttled or failing for ~2.5 hours: give up, say why
RETRY_BASE_SECONDS = 30
MAX_DELAY_SECONDS = 900  # the SQS maximum
TIME_BUDGET_SECONDS = 40.0  # stop starting chunks after this (the function times out at 60 s)
SNAPSHOT_BYTES = 150 * 1024  # records carried in a dispatch body (SQS allows 256 KB in all)
DOMAIN_RECHECKS = 10  # seed: an unverified domain's status is re-checked 10 more times
DOMAIN_RECHECK_SECONDS = 900  # every 15 minutes (the SQS maximum delay): 2.5 hours in all
DOMAIN_CHECKED_SECONDS = 60  # the API (or SMTP ingress) checked the domain on acceptance: not asked again this soon

LOST_AT_RESTART_REASON = ("the local stack was restarted before this message was sent, and its queued dispatch "
                          "went with the emulator's queues; send it again")
BUILD_FAILED = "could not be built"  # a dispatch its worker failed on until SQS set it aside
IN_FLIGHT_REASON = ("the worker submitting it to SES stopped before recording the outcome; "
                    "it is not sent again so that it can't arrive twice")


def backoff_seconds(attempt: int) -> int:
    """Delay before retry ``attempt`` (1, 2, ...): 30 s doubling to 15 min, with jitter."""
    delay = min(MAX_DELAY_SECONDS, RETRY_BASE_SECONDS * 2 ** max(0, attempt - 1))
    return max(1, int(delay * random.uniform(0.8, 1.0)))


def dispatch_body(dispatch_id: str, account_id: int, stream: str, messages: list[Message], ref: dict[str, Any],
                  attempt: int = 0, version: int = 0, deferred: bool = False, domain_checks: int = 0) -> dict[str, Any]:
    """What goes on the queue: the message ids, their records as of ledger ``version`` if they fit.

    ``deferred``: the records are not written yet and the snapshots are their only copy
    (set only when the snapshots fit; the caller writes the records otherwise).
    ``domain_checks``: how many times the sending domain was found unable to send."""
    body = {"v": 1, "dispatch_id": dispatch_id, "account_id": account_id, "stream": stream,
            "message_ids": [m.message_id for m in messages], "content": ref, "attempt": attempt,
            "ledger_version": version}
    if domain_checks:
        body["domain_checks"] = domain_checks
    snapshots = [m.serialize() for m in messages]
    if len(json.dumps(snapshots)) <= SNAPSHOT_BYTES:
        body["snapshots"] = snapshots
        if deferred:
            body["deferred"] = True
    return body


def handle(body: dict[str, Any]) -> None:
    """Deliver one dispatch (the SQS consumer calls this through core.queues.process_batch)."""
    Delivery(body).run()


def _fail(message: Message, status: str, reason: str) -> None:
    log.warning("message %s %s: %s", message.message_id, status, reason)
    message.status = status
    message.status_reason = reason
    events.add(message, "reject", {"reject_reason": reason})


@dataclasses.dataclass(frozen=True)
class DomainHold:
    """Mail waiting for its sending domain to be able to send again (shaped like limits.Hold)."""

    reason: str
    until: Any
    seconds: int = DOMAIN_RECHECK_SECONDS
    limit: str = "sending_domain"


class Delivery:
    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body
        self.dispatch_id: str = body["dispatch_id"]
        self.account_id = int(body["account_id"])
        self.stream: str = body["stream"]
        self.attempt = int(body.get("attempt") or 0)
        self.records = idempotency.Records()
        self.tally = stats.Tally()  # sent counts, written once the dispatch is done or put back
        self.parts = mime.PartCache()
        self.started = time.monotonic()
        self._contents: dict[int, mime.Content | templating.TemplateUnavailable] = {}
        self._sizes: dict[int, int] = {}  # SendRequest.size() per entry (it encodes the bodies each call)
        self._document: content.ContentDocument | None = None
        self._templates = templating.Renderer(self.account_id)

    # ------------------------------------------------------------ the dispatch

    def run(self) -> None:
        lease = idempotency.claim(self.dispatch_id)
        if lease is None:
            return  # a copy of this dispatch already finished it
        todo = [m for m in self._messages(lease) if m.status == QUEUED]
        counted = lease.counted  # a retry, a continuation or a crashed holder's copy: counted already
        if todo and self._domain_blocked(lease, todo):
            return None
        if todo:
            hourly = not counted  # the hour once; the per-minute rates on every attempt
            hold = hooks.sending_hold(self.account_id, todo[0].domain_id, len(todo), hourly)
            if hold is not None:
                self._hold(todo, hold)
                return self._requeue(lease, todo, hold.seconds, self.attempt)
            todo = self._suppress(todo, count_usage=not counted)
            if not counted:
                lease.mark_counted()  # a copy delivered after a crash from here on doesn't count again
        while todo:
            if len(todo) < len(self.body["message_ids"]) and time.monotonic() - self.started > TIME_BUDGET_SECONDS:
                return self._requeue(lease, todo, 0, self.attempt)  # the rest in a fresh invocation
            pack, todo = self._next_pack(todo)
            unsent = self._deliver(lease, pack)
            if unsent:
                return self._retry(lease, unsent + todo)
        self.records.flush()
        self.tally.flush()
        lease.complete()

    def give_up(self, reason: str) -> int:
        """The dispatch is dead (its DLQ): every message still queued ends failed with
        ``reason`` (one a dead worker may have submitted, with IN_FLIGHT_REASON). Returns how many."""
        lease = idempotency.claim(self.dispatch_id)
        if lease is None:
            return 0  # a copy of this dispatch finished it
        todo = [m for m in self._messages(lease) if m.status == QUEUED]
        for message in todo:
            _fail(message, FAILED, reason)
            self.records.stage(message)
        self.records.flush()
        lease.complete()
        return len(todo)

    def _messages(self, lease: idempotency.Lease) -> list[Message]:
        """The dispatch's records as they are now, in the order the dispatch lists them."""
        snapshots = self.body.get("snapshots")
        if snapshots is not None and lease.trusts(self.body.get("ledger_version") or 0):
            messages = [Message.from_raw_data(s) for s in snapshots]
            if self.body.get("deferred"):
                self._materialize(messages)
            return messages
        ids = list(dict.fromkeys(self.body["message_ids"]))
        found = {m.message_id: m for m in Message.batch_get(ids, consistent_read=True)}
        if self.body.get("deferred"):  # a holder died before writing them: the snapshots are the records
            unwritten = [m for m in map(Message.from_raw_data, snapshots) if m.message_id not in found]
            self._materialize(unwritten)
            found.update((m.message_id, m) for m in unwritten)
        messages = []
        for message_id in ids:
            message = found.get(message_id)
            if message is None or message.account_id != self.account_id:
                log.error("dispatch %s names message %s it can't deliver", self.dispatch_id, message_id)
                continue
            if message_id in lease.in_flight and message.status == QUEUED:
                _fail(message, FAILED, IN_FLIGHT_REASON)  # a dead worker may have submitted it
                self.records.stage(message)
            messages.append(message)
        return messages

    def _materialize(self, messages: list[Message]) -> None:
        """Write the records of a deferred dispatch (the SMTP ingress accepted them with the
        SQS message as their only copy) before anything else happens to them, so the email
        logs show them queued from now on."""
        for message in messages:
            self.records.stage(message)
        self.records.flush()

    def _suppress(self, todo: list[Message], count_usage: bool) -> list[Message]:
        allowed = []
        by_domain: dict[int, list[Message]] = {}
        for message in todo:
            by_domain.setdefault(message.domain_id, []).append(message)
        for domain_id, group in by_domain.items():
            verdicts = hooks.suppressions_check(self.account_id, domain_id, self.stream, [m.recipient for m in group],
                                                count_usage)
            for message in group:
                verdict = verdicts.get(message.recipient.lower(), hooks.ALLOWED)
                if verdict.allowed:
                    allowed.append(message)
                else:
                    _fail(message, REJECTED, verdict.reason or "Recipient is suppressed")
                    self.records.stage(message)
        return allowed

    def _domain_blocked(self, lease: idempotency.Lease, todo: list[Message]) -> bool:
        """Whether the dispatch's sending domain keeps it from going now (a dispatch holds one
        domain). Suspended: put back for DOMAIN_RECHECK_SECONDS, its logs saying why; after
        DOMAIN_RECHECKS more checks, or at once if the domain is gone, rejected."""
        accepted = min(m.created_at for m in todo)
        if not self.body.get("domain_checks") and clock.now() - accepted < timedelta(seconds=DOMAIN_CHECKED_SECONDS):
            return False  # checked when it was accepted, a moment ago (saves a read per dispatch)
        why, final = hooks.sending_domain_block(self.account_id, todo[0].domain_id)
        if why is None:
            return False
        name = todo[0].domain_name
        checks = int(self.body.get("domain_checks") or 0)
        if final or checks >= DOMAIN_RECHECKS:
            for message in todo:
                _fail(message, REJECTED, f"not sent: the sending domain {name} can't send because {why}"
                      + ("" if final else f" (checked {checks + 1} times over {checks * DOMAIN_RECHECK_SECONDS // 60}"
                                          " minutes)"))
                self.records.stage(message)
            self.records.flush()
            lease.complete()
            return True
        hold = DomainHold(f"suspended: the sending domain {name} can't send because {why}; checked again every "
                          f"{DOMAIN_RECHECK_SECONDS // 60} minutes, {DOMAIN_RECHECKS} times",
                          clock.now() + timedelta(seconds=DOMAIN_RECHECK_SECONDS))
        self._hold(todo, hold)
        self._requeue(lease, todo, hold.seconds, self.attempt, domain_checks=checks + 1)
        return True

    def _hold(self, todo: list[Message], hold: Any) -> None:
        """Say in each message's log why it waits and until when: a ``suspension`` event
        (Mailtrap's event for mail held back; its ``reject_reason`` is what the SDK reads)
        and the status reason. Held again for the same reason, it is not said twice."""
        for message in todo:
            last = (message.events or [{}])[-1]
            if message.status_reason == hold.reason and last.get("event_type") == "suspension":
                continue
            message.status_reason = hold.reason
            events.add(message, "suspension", {"reject_reason": hold.reason, "held_until": clock.iso(hold.until),
                                               "limit": hold.limit})
            self.records.stage(message)

    def _next_pack(self, todo: list[Message]) -> tuple[list[Message], list[Message]]:
        size = 0
        for i, message in enumerate(todo):
            size += self._size(message)
            if size > PACK_BYTES and i > 0:
                return todo[:i], todo[i:]
        return todo, []

    def _requeue(self, lease: idempotency.Lease, messages: list[Message], delay: int, attempt: int,
                 domain_checks: int = 0) -> None:
        log.info("dispatch %s: %d messages back on the queue for %d s (attempt %d)",
                 self.dispatch_id, len(messages), delay, attempt)
        self.records.flush()
        self.tally.flush()
        version = lease.release()
        queues.send(streams.queue_for(self.stream),
                    dispatch_body(self.dispatch_id, self.account_id, self.stream, messages, self.body["content"],
                                  attempt, version, domain_checks=domain_checks), delay)

    def _retry(self, lease: idempotency.Lease, messages: list[Message]) -> None:
        attempt = self.attempt + 1
        if attempt >= MAX_ATTEMPTS:
            last = messages[0].status_reason or "SES did not accept the message"
            for message in messages:
                _fail(message, FAILED, f"not accepted by SES after {attempt} attempts: {last}")
                self.records.stage(message)
            self.records.flush()
            lease.complete()
            return
        self._requeue(lease, messages, backoff_seconds(attempt), attempt)

    # ------------------------------------------------------------ one chunk

    def _deliver(self, lease: idempotency.Lease, pack: list[Message]) -> list[Message]:
        """Build and store a pack, then mark and submit it chunk by chunk; return what SES deferred."""
        built = []
        now = clock.now()
        self._apply_tracking_opt_outs(pack)
        for message in pack:
            result = self._build(message, now)
            if isinstance(result, mime.Built):
                built.append((message, result))
                continue
            if isinstance(result, mime.UnsafeHeader):  # e.g. template variables that would inject a header
                _fail(message, REJECTED, f"not sent: {result}")
            else:
                _fail(message, FAILED, result)
            self.records.stage(message)
        if built:
            self._store_raw(built)
        for start in range(0, len(built), CHUNK_SIZE):
            chunk = built[start:start + CHUNK_SIZE]
            lease.mark_in_flight([m.message_id for m, _ in chunk])  # before any of their SES calls
            for i, (message, raw) in enumerate(chunk):
                message.attempts = (message.attempts or 0) + 1
                config_set = dedicated_ips.configuration_set(message.account_id, message.configuration_set, now)
                result = ses.submit(raw.raw, message.from_email, message.recipient, config_set, message.message_id)
                if result.outcome == ses.SENT:
                    self.tally.add(message, "sent", now)
                    message.status = SENT
                    message.status_reason = None
                    message.ses_message_id = result.ses_message_id
                    events.add(message, "sent", {"ses_message_id": result.ses_message_id,
                                                 "configuration_set": config_set})
                elif result.outcome == ses.RETRY:
                    message.status_reason = result.reason
                    events.add(message, "retry", {"reason": result.reason, "attempt": self.attempt + 1})
                    self.records.stage(message)
                    self.records.flush()  # the outcomes so far; the rest were not submitted
                    return [m for m, _ in chunk[i:]] + [m for m, _ in built[start + CHUNK_SIZE:]]
                elif result.outcome == ses.REJECTED:
                    _fail(message, REJECTED, result.reason or "rejected by SES")
                else:
                    _fail(message, FAILED, result.reason or "SES refused the message")
                self.records.stage(message)
            self.records.flush()  # before the next chunk replaces the in-flight list
        return []  # build failures staged above are flushed by the caller (next pack, requeue, retry or the end)

    def _apply_tracking_opt_outs(self, pack: list[Message]) -> None:
        """Recipients who opted out of tracking on the domain get untracked bodies (one
        Query or BatchGetItem per pack, only when the domain tracks; a dispatch holds one domain)."""
        tracked = [m for m in pack if m.track_opens or m.track_clicks]
        if not tracked:
            return
        off = tracking_opt_outs.opted_out(self.account_id, tracked[0].domain_id, [m.recipient for m in tracked])
        for message in tracked:
            if message.recipient.lower() in off:
                message.track_opens = message.track_clicks = False

    def _entry(self, message: Message) -> SendRequest:
        if self._document is None:
            self._document = content.load(self.body["content"])
        return self._document.entries[int(message.entry)]

    def _size(self, message: Message) -> int:
        entry = int(message.entry)
        size = self._sizes.get(entry)
        if size is None:
            size = self._sizes[entry] = self._entry(message).size()
        return size

    def _content(self, message: Message) -> mime.Content | templating.TemplateUnavailable:
        entry = int(message.entry)
        cached = self._contents.get(entry)
        if cached is None:
            request = self._entry(message)
            cached = mime.Content(
                sender=request.sender, to=request.to, cc=request.cc, reply_to=request.reply_to,
                subject=request.subject or "", text=request.text, html=request.html,
                attachments=request.attachments, headers=request.headers, category=request.category,
                custom_variables=request.custom_variables)
            if request.template_uuid:
                try:
                    rendered = self._templates.render(request.template_uuid, request.template_variables)
                    cached = dataclasses.replace(cached, subject=rendered.subject, text=rendered.text,
                                                 html=rendered.html, category=rendered.category)
                except templating.TemplateUnavailable as exc:
                    cached = exc
            self._contents[entry] = cached
        return cached

    def _build(self, message: Message, now: Any) -> mime.Built | mime.UnsafeHeader | str:
        """The MIME for one message, or why there is none (UnsafeHeader: refused, not failed)."""
        base = self._content(message)
        if isinstance(base, templating.TemplateUnavailable):
            return str(base)
        if not (base.text or base.html):
            return "the rendered message has neither a text nor an HTML body"
        message.subject = base.subject
        extra: list[tuple[str, str]] = []
        if message.unsubscribe:
            url = unsubscribe.url_for(message.message_id)
            html, text = unsubscribe.with_links(base.html, base.text, url)
            base = dataclasses.replace(base, html=html, text=text)
            extra += unsubscribe.headers(message.message_id, message.domain_name, url)
        if message.track_opens or message.track_clicks:
            html, text = tracking.with_tracking(base.html, base.text, message.message_id, message.domain_name,
                                                opens=message.track_opens, clicks=message.track_clicks)
            base = dataclasses.replace(base, html=html, text=text)
        if self.stream == streams.BULK:
            extra.append(("Precedence", "bulk"))
        if message.kind == "auto_bcc" and message.bcc_headers:
            extra += list(message.bcc_headers.items())
        try:
            return mime.build(base, message_id=message.message_id, domain=message.domain_name, date=now,
                              cache=self.parts, extra_headers=extra)
        except mime.UnsafeHeader as exc:
            return exc

    def _store_raw(self, built: list[tuple[Message, mime.Built]]) -> None:
        """One S3 object per pack holding each message's stored copy at its own offset."""
        key = (f"raw/{self.account_id}/{clock.now():%Y/%m/%d}/"
               f"{self.dispatch_id.replace(':', '-')}-{uuid.uuid4().hex[:12]}.eml")
        parts, offset = [], 0
        for message, raw in built:
            data = raw.stored
            message.raw_key, message.raw_offset, message.raw_length = key, offset, len(data)
            offset += len(data)
            parts.append(data)
        aws.client("s3").put_object(Bucket=aws.bucket("data"), Key=key, Body=b"".join(parts),
                                    ContentType="application/octet-stream")


@deadletters.register(*streams.QUEUES.values())
def settle_dead_dispatch(letter: deadletters.DeadLetter) -> str:
    """A dispatch in a sending DLQ: its messages end failed, the error in their email logs."""
    return f"{Delivery(letter.body).give_up(letter.reason(BUILD_FAILED))} message(s) failed"


@redrive.register("sending")
def settle_lost_dispatches() -> int:
    """Local stack restart: the emulator's queues start empty, so every message still queued
    lost its dispatch, and with it the content it carried. Rather than stay queued for ever,
    each ends failed saying so (the email log shows it); in AWS the queue keeps them."""
    lost = list(Message.scan(Message.status == QUEUED))
    for message in lost:
        _fail(message, FAILED, LOST_AT_RESTART_REASON)
    with Message.batch_write() as batch:
        for message in lost:
            batch.save(message)
    return len(lost)
