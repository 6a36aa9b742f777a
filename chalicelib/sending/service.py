"""Accepting mail: validate, authorize, write one message record per recipient, enqueue.

An API call costs a fixed handful of AWS calls whatever its size: the content document once
(inline in SQS or one S3 put), the message records in BatchWrites of 25, and the dispatches
(up to ``DISPATCH_SIZE`` messages each) in SQS batches of 10.
"""

from __future__ import annotations

import json
from typing import Any

from chalicelib.core import clock, header_safety, ids, queues
from chalicelib.core.permissions import Principal
from chalicelib.sending import content, events, hooks, streams, templating, worker
from chalicelib.sending.models import QUEUED, Message
from chalicelib.sending.senders import SenderDomain, SenderResolver
from chalicelib.sending.validation import SendError, SendRequest, parse_send

DISPATCH_SIZE = 50  # messages per SQS message (one worker lease), all of one sending domain
MAX_STORED_TEMPLATE_VARIABLES = 16 * 1024  # bytes kept on each record for the email log


class Submission:
    """The messages of one API call, written and enqueued together by ``commit``."""

    def __init__(self, principal: Principal, stream: str, client_ip: str | None) -> None:
        self.principal = principal
        self.stream = stream
        self.client_ip = client_ip
        self.request_id = ids.new_uuid()
        self.entries: list[SendRequest] = []
        self.messages: list[Message] = []
        self.written: list[Message] = []  # records commit wrote itself (the rest the worker writes)
        self.senders = SenderResolver(principal, stream)
        self.templates = templating.Renderer(principal.account_id)

    def add(self, request: SendRequest) -> list[str]:
        """Authorize and stage one request; return its message ids (one per recipient)."""
        sender = self.senders.resolve(request)
        rendered = None
        if request.template_uuid:
            try:  # the template must exist now; the worker renders the whole of it when it sends
                rendered = self.templates.headline(request.template_uuid, request.template_variables)
            except templating.TemplateUnavailable as exc:
                raise SendError(400, [f"'template_uuid' is invalid: {exc}"]) from None
            unsafe = [f"'{name}' rendered from the template {reason}"
                      for name, value in (("subject", rendered.subject), ("category", rendered.category))
                      if value and (reason := header_safety.problem(value))]
            if unsafe:  # template_variables that would inject a header (the MIME builder refuses them too)
                raise SendError(422, unsafe)
        entry = len(self.entries)
        self.entries.append(request)
        variables = None
        if request.template_uuid:  # kept on each record for the email log, unless large
            variables = request.template_variables
            if len(json.dumps(variables)) > MAX_STORED_TEMPLATE_VARIABLES:
                variables = {}
        message_ids = []
        for kind, address in request.recipients():
            message_ids.append(self._stage(entry, request, sender, rendered, variables, kind, address.email))
        for bcc in sender.auto_bcc:  # the domain's Auto BCC: one copy per request, not per recipient
            self._stage(entry, request, sender, rendered, variables, "auto_bcc", bcc)
        return message_ids

    def _stage(self, entry: int, request: SendRequest, sender: SenderDomain, rendered: templating.Rendered | None,
               variables: dict[str, Any] | None, kind: str, recipient: str) -> str:
        now = clock.now()
        message_id = ids.new_uuid()
        envelope = {
            "request_id": self.request_id, "entry": entry, "kind": kind, "domain_name": sender.domain_name,
            "from": request.sender.email, "subject": rendered.subject if rendered else request.subject,
            "category": rendered.category if rendered else request.category,
            "custom_variables": request.custom_variables or None, "template_uuid": request.template_uuid,
            "template_id": rendered.template_id if rendered else None, "template_variables": variables,
            "client_ip": self.client_ip, "configuration_set": sender.configuration_set,
            "unsubscribe": self.stream == streams.BULK or sender.auto_unsubscribe,
            "track_opens": sender.track_opens or None, "track_clicks": sender.track_clicks or None,
            "bcc_headers": dict(sender.auto_bcc_headers) if kind == "auto_bcc" and sender.auto_bcc_headers else None,
        }
        message = Message(
            message_id, account_id=self.principal.account_id, sent_key=f"{clock.iso(now)}#{message_id}",
            created_at=now, stream=self.stream, domain_id=sender.domain_id, recipient=recipient, status=QUEUED,
            events=[events.event("queued", {"stream": self.stream})],
            envelope={k: v for k, v in envelope.items() if v is not None},
        )
        self.messages.append(message)
        return message_id

    def commit(self, defer_records: bool = False) -> None:
        """Store and enqueue. With ``defer_records`` (the SMTP ingress) a dispatch that can
        carry its records' snapshots is the only write: SQS keeps it durably and the worker
        writes the records when it takes the dispatch (``Delivery._materialize``), so accepting
        costs one AWS call. Records that don't fit in the body are written here first."""
        if not self.messages:
            return
        ref = content.save(self.principal.account_id, self.request_id, content.ContentDocument(self.entries))
        bodies, written = [], []
        for messages in _dispatches(self.messages):
            body = worker.dispatch_body(f"{self.request_id}:{len(bodies)}", self.principal.account_id,
                                        self.stream, messages, ref, deferred=defer_records)
            if not body.get("deferred"):
                written.extend(messages)
            bodies.append(body)
        self.written = written  # set first: a failure below leaves these for the caller to remove
        if written:
            with Message.batch_write() as batch:
                for message in written:
                    batch.save(message)
        queues.send_many(streams.queue_for(self.stream), bodies)

    def forget(self) -> None:
        """Remove the records a failed ``commit`` wrote itself, so the client's retry is the only copy."""
        with Message.batch_write() as batch:
            for message in self.written:
                batch.delete(message)


def _dispatches(messages: list[Message]) -> list[list[Message]]:
    """Up to ``DISPATCH_SIZE`` messages each, all from one sending domain: the worker counts a
    dispatch against its domain's rate and asks that domain's suppressions."""
    by_domain: dict[int, list[Message]] = {}
    for message in messages:
        by_domain.setdefault(message.domain_id, []).append(message)
    return [group[start:start + DISPATCH_SIZE]
            for group in by_domain.values() for start in range(0, len(group), DISPATCH_SIZE)]


def _refuse_over_quota(principal: Principal) -> None:
    """Mail over the monthly quota would only be rejected by the worker: say so now (403)."""
    reason = hooks.quota_refusal(principal.account_id)
    if reason:
        raise SendError(403, [reason])


def send(principal: Principal, body: Any, stream: str, client_ip: str | None = None) -> dict[str, Any]:
    """A send body (the API's JSON shape) sent as ``POST /api/send`` sends it; SendError on any problem."""
    return send_request(principal, parse_send(body), stream, client_ip)


def send_request(principal: Principal, request: SendRequest, stream: str,
                 client_ip: str | None = None) -> dict[str, Any]:
    """``POST /api/send``: one message per recipient; SendError on any problem."""
    _refuse_over_quota(principal)
    submission = Submission(principal, stream, client_ip)
    message_ids = submission.add(request)
    submission.commit()
    return {"success": True, "message_ids": message_ids}


def batch(principal: Principal, items: list[SendRequest | SendError], stream: str,
          client_ip: str | None = None) -> dict[str, Any]:
    """``POST /api/batch``: each request answered on its own, in order (HTTP 200 regardless);
    ``items`` are the requests as ``BatchSend`` parsed them, or the SendError each gave."""
    _refuse_over_quota(principal)
    submission = Submission(principal, stream, client_ip)
    responses: list[dict[str, Any]] = []
    for item in items:
        if isinstance(item, SendError):  # the request's own rules refused it
            responses.append({"success": False, "errors": item.errors})
            continue
        try:
            message_ids = submission.add(item)
            responses.append({"success": True, "message_ids": message_ids})
        except SendError as exc:
            responses.append({"success": False, "errors": exc.errors})
    submission.commit()
    return {"success": True, "responses": responses}
