""""Send setup instructions": email a domain's DNS records to whoever manages its DNS.

The API stores the request (``queued``) and puts it on the ``setup-instructions`` queue; the
consumer renders the email (subject, text and HTML with every DNS record), keeps a copy in
the data bucket at ``setup-instructions/<account>/<request>.json``, sends it as Postline's
own mail (system_mail.py: not the account's mail, so none of its limits or logs) and
marks the request ``sent`` with SES's message id. If SES refuses, the queue retries it; a
request is claimed before its email goes, so it is sent once (``handle``).
"""

from __future__ import annotations

import html
import json
import logging
from datetime import timedelta
from typing import Any

from pynamodb.exceptions import DoesNotExist, UpdateError

from chalicelib.core import aws, clock, db, deadletters, ids, queues, ratelimit
from chalicelib.core.errors import Unprocessable
from chalicelib.domains import system_mail
from chalicelib.domains.models import Domain, SetupInstructionRequest

log = logging.getLogger("postline.domains.instructions")
QUEUE = queues.register("setup-instructions")
QUEUED, SENDING, SENT, FAILED = "queued", "sending", "sent", "failed"
CLAIM_SECONDS = 300  # a "sending" claim older than this was left by a worker that died
PER_DOMAIN_PER_HOUR = 10  # the endpoint emails any address: keep it from being a spam cannon


def request(domain: Domain, address: str) -> SetupInstructionRequest:
    """Queue the instructions email to ``address`` (valid, as ``SetupInstructions`` gives it);
    ``domain``: one the caller administers (``service.domain_for(..., ADMIN)``)."""
    if domain.demo:
        raise Unprocessable("The demo domain is already set up; there are no DNS records to publish")
    ratelimit.hit(f"setup-instructions:{domain.account_id}:{domain.domain_id}", PER_DOMAIN_PER_HOUR, 3600)
    item = SetupInstructionRequest(ids.new_uuid(), account_id=domain.account_id, domain_id=domain.domain_id,
                                   email=address, status=QUEUED)
    item.save()
    queues.send(QUEUE, {"request_id": item.request_id})
    return item


def render(domain: Domain) -> dict[str, str]:
    """The instructions email: every record to publish, as text and as an HTML table."""
    subject = f"DNS records to set up {domain.domain_name} for sending"
    lines = [
        "Hello,", "",
        f"{domain.domain_name} was added as a sending domain. Please publish these DNS records "
        "at the domain's DNS provider (names are shown in full; many providers want only the part "
        f"before {domain.domain_name}):", "",
    ]
    rows = []
    for r in domain.records:
        need = "required" if r.required else "optional: custom click-tracking host"
        lines.append(f"- {r.type} {r.domain} -> {r.value}   ({r.key}, {need})")
        rows.append("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in (r.type, r.domain, r.value, need)) + "</tr>")
    lines += ["", "DNS changes usually show up within minutes to a few hours. Postline re-checks the "
                  "records every hour; the domain can send once they pass.", ""]
    body_html = (
        f"<p>{html.escape(domain.domain_name)} was added as a sending domain. Please publish these DNS "
        "records at the domain's DNS provider:</p><table border='1' cellpadding='4'>"
        "<tr><th>Type</th><th>Name</th><th>Value</th><th></th></tr>" + "".join(rows) + "</table>"
        "<p>Postline re-checks the records every hour; the domain can send once they pass.</p>"
    )
    return {"subject": subject, "text": "\n".join(lines), "html": body_html}


def handle(body: dict[str, Any]) -> None:
    """Queue consumer: render and send once. The request is claimed (``sending``) before the
    email goes, so two deliveries of one queue message don't both send it; a failed send
    gives the claim back for the queue's retry, and a claim whose holder died is taken over
    after ``CLAIM_SECONDS``."""
    try:
        item = SetupInstructionRequest.get(str(body["request_id"]), consistent_read=True)
    except DoesNotExist:
        log.warning("setup-instructions request %s no longer exists", body.get("request_id"))
        return
    if item.status == SENT:
        return
    try:
        domain = Domain.get(item.account_id, item.domain_id, consistent_read=True)
    except DoesNotExist:
        return
    if not _claim(item):
        return  # another delivery is sending it (or has sent it)
    email = render(domain)
    key = f"setup-instructions/{item.account_id}/{item.request_id}.json"
    try:
        aws.client("s3").put_object(
            Bucket=aws.bucket("data"), Key=key, ContentType="application/json",
            Body=json.dumps({"request_id": item.request_id, "account_id": item.account_id,
                             "domain_id": item.domain_id, "to": item.email, **email,
                             "rendered_at": clock.iso(clock.now())}).encode())
        message_id = system_mail.send(item.email, email["subject"], email["text"], email["html"])
    except Exception:
        item.update(actions=[SetupInstructionRequest.status.set(QUEUED)])  # the queue's retry may claim it
        raise
    item.update(actions=[SetupInstructionRequest.status.set(SENT),
                         SetupInstructionRequest.subject.set(email["subject"]),
                         SetupInstructionRequest.s3_key.set(key),
                         SetupInstructionRequest.ses_message_id.set(message_id),
                         SetupInstructionRequest.updated_at.set(clock.now())])


def _claim(item: SetupInstructionRequest) -> bool:
    now = clock.now()
    try:
        item.update(actions=[SetupInstructionRequest.status.set(SENDING),
                             SetupInstructionRequest.updated_at.set(now)],
                    condition=(SetupInstructionRequest.status == QUEUED)
                    | ((SetupInstructionRequest.status == SENDING)
                       & (SetupInstructionRequest.updated_at < now - timedelta(seconds=CLAIM_SECONDS))))
    except UpdateError as exc:
        if db.condition_failed(exc):
            return False
        raise
    return True


@deadletters.register(QUEUE)
def settle_dead_request(letter: deadletters.DeadLetter) -> str:
    """A request its worker could never send: it ends failed with the error (unless sent)."""
    request_id = str(letter.body["request_id"])
    try:
        SetupInstructionRequest(request_id).update(
            actions=[SetupInstructionRequest.status.set(FAILED),
                     SetupInstructionRequest.failure.set(letter.reason("could not be sent")),
                     SetupInstructionRequest.updated_at.set(clock.now())],
            condition=SetupInstructionRequest.request_id.exists() & (SetupInstructionRequest.status != SENT))
    except UpdateError as exc:
        if not db.condition_failed(exc):
            raise
        return f"setup-instructions request {request_id} was sent or no longer exists"
    return f"setup-instructions request {request_id} failed"
