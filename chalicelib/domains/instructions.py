""""Send setup instructions": email a domain's DNS records to whoever manages its DNS.

Postline has no sending pipeline yet, so a request is recorded durably and stops one step
short of delivery: the API stores it (``queued``) and puts it on the ``setup-instructions``
queue; the consumer renders the email (subject, text and HTML with every DNS record) into
the data bucket at ``setup-instructions/<account>/<request>.json`` and marks the request
``pending_delivery``. The sending pipeline will deliver those (``pending_delivery()``).
"""

from __future__ import annotations

import html
import json
import logging
from typing import Any

from pynamodb.exceptions import DoesNotExist, UpdateError

from chalicelib import aws
from chalicelib.core import clock, ids, queues, ratelimit
from chalicelib.core.errors import Unprocessable
from chalicelib.core.permissions import ADMIN, Principal
from chalicelib.domains import service
from chalicelib.domains.models import Domain, SetupInstructionRequest

log = logging.getLogger("postline.domains.instructions")
QUEUE = queues.register("setup-instructions")
QUEUED, PENDING_DELIVERY = "queued", "pending_delivery"
PER_DOMAIN_PER_HOUR = 10  # the endpoint emails any address: keep it from being a spam cannon


def request(principal: Principal, domain_id: Any, email: Any) -> SetupInstructionRequest:
    domain = service.domain_for(principal, domain_id, ADMIN)
    if domain.demo:
        raise Unprocessable("The demo domain is already set up; there are no DNS records to publish")
    if email is None or (isinstance(email, str) and not email.strip()):
        raise Unprocessable.field("email", "can't be blank")
    address = service.valid_email("email", email)
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
    """Queue consumer: render once (idempotent by request id) and leave it for delivery."""
    try:
        item = SetupInstructionRequest.get(str(body["request_id"]), consistent_read=True)
    except DoesNotExist:
        log.warning("setup-instructions request %s no longer exists", body.get("request_id"))
        return
    if item.status != QUEUED:
        return
    try:
        domain = Domain.get(item.account_id, item.domain_id, consistent_read=True)
    except DoesNotExist:
        return
    email = render(domain)
    key = f"setup-instructions/{item.account_id}/{item.request_id}.json"
    aws.client("s3").put_object(
        Bucket=aws.bucket("data"), Key=key, ContentType="application/json",
        Body=json.dumps({"request_id": item.request_id, "account_id": item.account_id,
                         "domain_id": item.domain_id, "to": item.email, **email,
                         "rendered_at": clock.iso(clock.now())}).encode())
    try:
        item.update(actions=[SetupInstructionRequest.status.set(PENDING_DELIVERY),
                             SetupInstructionRequest.subject.set(email["subject"]),
                             SetupInstructionRequest.s3_key.set(key),
                             SetupInstructionRequest.updated_at.set(clock.now())],
                    condition=SetupInstructionRequest.status == QUEUED)
    except UpdateError:  # a duplicate delivery of the message got there first
        pass


def pending_delivery() -> list[SetupInstructionRequest]:
    """Rendered instructions waiting for the sending pipeline."""
    return list(SetupInstructionRequest.by_status.query(PENDING_DELIVERY))
