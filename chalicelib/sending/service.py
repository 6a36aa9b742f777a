"""Accepting mail: validate, authorize, write one message record per recipient, enqueue.

An API call costs a fixed handful of AWS calls whatever its size: the content document once
(inline in SQS or one S3 put), the message records in BatchWrites of 25, and the dispatches
(up to ``DISPATCH_SIZE`` messages each) in SQS batches of 10.
"""

from __future__ import annotations

import json
from typing import Any

from chalicelib.core import clock, ids, queues
from chalicelib.core.permissions import Principal
from chalicelib.sending import content, events, streams, templating
from chalicelib.sending.models import QUEUED, Message
from chalicelib.sending.senders import SenderDomain, SenderResolver
from chalicelib.sending.validation import (
    SendError,
    SendRequest,
    merge_batch_item,
    parse_batch,
    parse_send,
)

DISPATCH_SIZE = 50  # messages per SQS message (one worker lease)
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
        self.senders = SenderResolver(principal, stream)

    def add(self, request: SendRequest) -> list[str]:
        """Authorize and stage one request; return its message ids (one per recipient)."""
        sender = self.senders.resolve(request)
        rendered = None
        if request.template_uuid:
            try:  # the template must exist now; the worker renders it again when it sends
                rendered = templating.render(self.principal.account_id, request.template_uuid,
                                             request.template_variables)
            except templating.TemplateUnavailable as exc:
                raise SendError(400, [f"'template_uuid' is invalid: {exc}"]) from None
        entry = len(self.entries)
        self.entries.append(request)
        message_ids = []
        for kind, address in request.recipients():
            message_ids.append(self._stage(entry, request, sender, rendered, kind, address.email))
        for bcc in sender.auto_bcc:  # the domain's Auto BCC: one copy per request, not per recipient
            self._stage(entry, request, sender, rendered, "auto_bcc", bcc)
        return message_ids

    def _stage(self, entry: int, request: SendRequest, sender: SenderDomain,
               rendered: templating.Rendered | None, kind: str, recipient: str) -> str:
        now = clock.now()
        message_id = ids.new_uuid()
        variables = None
        if request.template_uuid:
            variables = request.template_variables
            if len(json.dumps(variables)) > MAX_STORED_TEMPLATE_VARIABLES:
                variables = {}
        message = Message(
            message_id, account_id=self.principal.account_id, sent_key=f"{clock.iso(now)}#{message_id}",
            created_at=now, request_id=self.request_id, entry=entry, stream=self.stream, kind=kind,
            domain_id=sender.domain_id, domain_name=sender.domain_name, from_email=request.sender.email,
            recipient=recipient,
            subject=rendered.subject if rendered else request.subject,
            category=rendered.category if rendered else request.category,
            custom_variables=request.custom_variables or None,
            template_uuid=request.template_uuid, template_id=rendered.template_id if rendered else None,
            template_variables=variables, client_ip=self.client_ip,
            configuration_set=sender.configuration_set,
            unsubscribe=1 if (self.stream == streams.BULK or sender.auto_unsubscribe) else 0,
            bcc_headers=dict(sender.auto_bcc_headers) if kind == "auto_bcc" and sender.auto_bcc_headers else None,
            status=QUEUED, attempts=0, events=[events.event("queued", {"stream": self.stream})],
        )
        self.messages.append(message)
        return message_id

    def commit(self) -> None:
        if not self.messages:
            return
        ref = content.save(self.principal.account_id, self.request_id, content.ContentDocument(self.entries))
        with Message.batch_write() as batch:
            for message in self.messages:
                batch.save(message)
        bodies = []
        for start in range(0, len(self.messages), DISPATCH_SIZE):
            chunk = self.messages[start:start + DISPATCH_SIZE]
            bodies.append({
                "v": 1, "dispatch_id": f"{self.request_id}:{start // DISPATCH_SIZE}",
                "account_id": self.principal.account_id, "stream": self.stream,
                "message_ids": [m.message_id for m in chunk], "content": ref, "attempt": 0,
            })
        queues.send_many(streams.queue_for(self.stream), bodies)


def send(principal: Principal, body: Any, stream: str, client_ip: str | None = None) -> dict[str, Any]:
    """``POST /api/send``: one message per recipient; SendError on any problem."""
    request = parse_send(body)
    submission = Submission(principal, stream, client_ip)
    message_ids = submission.add(request)
    submission.commit()
    return {"success": True, "message_ids": message_ids}


def batch(principal: Principal, body: Any, stream: str, client_ip: str | None = None) -> dict[str, Any]:
    """``POST /api/batch``: each request answered on its own, in order (HTTP 200 regardless)."""
    base, items = parse_batch(body)
    submission = Submission(principal, stream, client_ip)
    responses: list[dict[str, Any]] = []
    for item in items:
        try:
            message_ids = submission.add(parse_send(merge_batch_item(base, item)))
            responses.append({"success": True, "message_ids": message_ids})
        except SendError as exc:
            responses.append({"success": False, "errors": exc.errors})
    submission.commit()
    return {"success": True, "responses": responses}
