"""Suppression rules: who is suppressed, how suppressions are made, listed and removed.

A suppression belongs to one sending domain and one stream (``transactional``, ``bulk`` or
``any`` for both); the same address suppressed on two domains is two suppressions (seed:
suppressions are per sending domain). The delivery worker asks ``blocked`` once per
dispatch (through ``chalicelib.sending.hooks``); a blocked recipient is not submitted and
gets a ``reject`` event saying ``Recipient in suppression list. Reason: <type>``.

Suppressions are made by hand (API, CSV import), by unsubscribes, and by the delivery events
``record_delivery_event`` is given: hard bounces of the suppressing bounce categories and
spam complaints (seed-C §2.2 table).
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pynamodb.exceptions import PutError

from chalicelib.accounts import service as accounts
from chalicelib.core import clock, db, jsonbody
from chalicelib.core.emails import valid_email
from chalicelib.core.errors import BadRequest, NotFound, PayloadTooLarge, Unprocessable
from chalicelib.core.permissions import ADMIN, VIEWER, Principal
from chalicelib.suppressions.models import (
    ANY,
    HARD_BOUNCE,
    MANUAL_IMPORT,
    SPAM_COMPLAINT,
    STREAMS,
    TYPES,
    UNSUBSCRIPTION,
    Suppression,
    address_of,
    scope_of,
)
from chalicelib.suppressions.request_models import SuppressionCreate, SuppressionList

PAGE_SIZE = 1000  # the spec: up to 1000 suppressions per request
MAX_PER_DOMAIN = 1000  # seed: up to 1,000 emails per selected domain in one insert
MAX_IMPORT_BYTES = 5 * 1024 * 1024

# seed-C §2.2: the 17 bounce categories, and the three whose hard bounces suppress.
BOUNCE_CATEGORIES = (
    "transientfail", "greylisting", "badsender", "block", "content", "dnsFail", "generalfail", "other",
    "relayfail", "serverfail", "spam", "verifyfail", "timeout", "badrecipient", "overquota",
    "serverpolicy", "spam_gmail",
)
SUPPRESSING_BOUNCE_CATEGORIES = frozenset({"timeout", "badrecipient", "overquota"})


def reject_reason(suppression_type: str) -> str:
    """The reason on a suppressed message's ``reject`` event (seed-C: the email log example)."""
    return f"Recipient in suppression list. Reason: {suppression_type}"


# ---------------------------------------------------------------- wire shape


def to_wire(item: Suppression) -> dict[str, Any]:
    return {
        "id": item.suppression_id,
        "type": item.type,
        "created_at": clock.iso(item.created_at),
        "email": item.email,
        "sending_stream": item.stream,
        "domain_name": item.domain_name,
        "message_bounce_category": item.message_bounce_category,
        "message_category": item.message_category,
        "message_client_ip": item.message_client_ip,
        "message_created_at": clock.iso(item.message_created_at),
        "message_esp_response": item.message_esp_response,
        "message_esp_server_type": item.message_esp_server_type,
        "message_outgoing_ip": item.message_outgoing_ip,
        "message_recipient_mx_name": item.message_recipient_mx_name,
        "message_sender_email": item.message_sender_email,
        "message_subject": item.message_subject,
    }


# ---------------------------------------------------------------- the check


def blocked(account_id: int, domain_id: int, stream: str, emails: Iterable[str]) -> dict[str, str]:
    """Which of these addresses (lower case) are suppressed for the domain on the stream,
    with the suppression type. One BatchGetItem per 50 addresses."""
    scope = scope_of(account_id, domain_id)
    keys = {(scope, address_of(e, s)) for e in emails for s in {stream, ANY}}
    out: dict[str, str] = {}
    if keys:
        for item in Suppression.batch_get(list(keys), attributes_to_get=["email", "type", "stream"]):
            if item.email not in out or item.stream == stream:  # the stream's own entry names the reason
                out[item.email] = item.type
    return out


# ---------------------------------------------------------------- making suppressions


@dataclass(frozen=True)
class MessageFacts:
    """What a triggering message says about itself (shown on automatic suppressions)."""

    message_id: str | None = None
    bounce_category: str | None = None
    category: str | None = None
    client_ip: str | None = None
    created_at: datetime | None = None
    esp_response: str | None = None
    esp_server_type: str | None = None
    outgoing_ip: str | None = None
    recipient_mx_name: str | None = None
    sender_email: str | None = None
    subject: str | None = None


def _new_item(account_id: int, domain_id: int, domain_name: str | None, email: str, stream: str,
              suppression_type: str, facts: MessageFacts | None = None) -> Suppression:
    now = clock.now()
    sid = str(uuid.uuid4())
    email = email.lower()
    facts = facts or MessageFacts()
    return Suppression(
        scope_of(account_id, domain_id), address_of(email, stream),
        suppression_id=sid, account_id=int(account_id), domain_id=int(domain_id), domain_name=domain_name,
        email=email, stream=stream, type=suppression_type, created_at=now, list_key=f"{clock.iso(now)}#{sid}",
        account_email=f"{int(account_id)}#{email}",
        message_id=facts.message_id, message_bounce_category=facts.bounce_category,
        message_category=facts.category, message_client_ip=facts.client_ip,
        message_created_at=facts.created_at, message_esp_response=facts.esp_response,
        message_esp_server_type=facts.esp_server_type, message_outgoing_ip=facts.outgoing_ip,
        message_recipient_mx_name=facts.recipient_mx_name, message_sender_email=facts.sender_email,
        message_subject=facts.subject,
    )


def suppress(account_id: int, domain_id: int, email: str, stream: str, suppression_type: str, *,
             domain_name: str | None = None, facts: MessageFacts | None = None) -> tuple[Suppression, bool]:
    """Add one suppression unless the address already has one for that domain and stream.
    Returns it and whether it is new (an existing entry keeps its type and date)."""
    item = _new_item(account_id, domain_id, domain_name, email, stream, suppression_type, facts)
    try:
        item.save(condition=Suppression.scope.does_not_exist())
        return item, True
    except PutError as exc:
        if not db.condition_failed(exc):
            raise
    return Suppression.get(item.scope, item.address, consistent_read=True), False


def _facts_of(message: Any, **extra: Any) -> MessageFacts:
    return MessageFacts(
        message_id=getattr(message, "message_id", None), category=getattr(message, "category", None),
        client_ip=getattr(message, "client_ip", None), created_at=getattr(message, "created_at", None),
        sender_email=getattr(message, "from_email", None), subject=getattr(message, "subject", None),
        **{k: (str(v) if v is not None else None) for k, v in extra.items()})


def suppression_type_for(event_type: str, bounce_category: str | None = None) -> str | None:
    """The seeds' rule: which delivery event suppresses the recipient, and as what."""
    kind = event_type.strip().lower().replace(" ", "_")
    if kind == "bounce":
        return HARD_BOUNCE if bounce_category in SUPPRESSING_BOUNCE_CATEGORIES else None
    if kind == "spam":
        return SPAM_COMPLAINT
    if kind == "unsubscribe":
        return UNSUBSCRIPTION
    return None  # soft bounces, deliveries, opens, clicks, rejects, suspensions


def record_delivery_event(message: Any, event_type: str, bounce_category: str | None = None,
                          details: dict[str, Any] | None = None) -> Suppression | None:
    """Apply the suppression rules to one event about a sent message.

    ``message`` is the sending capability's message record (account, domain, stream,
    recipient, subject...). A hard ``bounce`` whose category is ``timeout``, ``badrecipient``
    or ``overquota`` suppresses as ``hard bounce``; ``spam`` as ``spam complaint``;
    ``unsubscribe`` as ``unsubscription``. The suppression is for the message's domain and
    stream (seed-C §9.5). ``details`` may carry ``esp_response``, ``esp_server_type``,
    ``outgoing_ip`` and ``recipient_mx_name``. Returns the suppression, or None when the event
    does not suppress. Idempotent: a repeated event finds the existing suppression.
    """
    suppression_type = suppression_type_for(event_type, bounce_category)
    if suppression_type is None:
        return None
    details = details or {}
    facts = _facts_of(message, bounce_category=bounce_category if suppression_type == HARD_BOUNCE else None,
                      **{k: details.get(k) for k in ("esp_response", "esp_server_type", "outgoing_ip",
                                                     "recipient_mx_name")})
    item, _ = suppress(int(message.account_id), int(message.domain_id), message.recipient, message.stream,
                       suppression_type, domain_name=getattr(message, "domain_name", None), facts=facts)
    return item


# ---------------------------------------------------------------- API: list


def _by_id(account_id: int, suppression_id: str) -> Suppression:
    for item in Suppression.by_id.query(str(suppression_id)):
        if item.account_id == int(account_id):
            return item
    raise NotFound()


def list_suppressions(principal: Principal, params: SuppressionList) -> list[dict[str, Any]]:
    """Oldest first, up to 1,000; ``last_id`` continues after that suppression."""
    visible = principal.resource_ids("domain", VIEWER)  # None: every domain of the account
    if visible is not None and not visible:
        accounts.require(principal, VIEWER)
    account_id = principal.account_id
    lower = clock.iso(params.start_time) if params.start_time else "0"
    upper = f"{clock.iso(params.end_time)}#\uffff" if params.end_time else "9"
    if params.last_id:
        try:
            cursor = _by_id(account_id, params.last_id).list_key
        except NotFound:
            raise BadRequest("last_id does not name a suppression of this account") from None
        lower = max(lower, cursor + "\x00")
    filters = []
    for value, attr in ((params.type, "type"), (params.sending_stream, "stream")):
        if value:
            filters.append(lambda s, a=attr, v=value: getattr(s, a) == v)
    if params.domain_id is not None:
        filters.append(lambda s: s.domain_id == params.domain_id)
    if lower >= upper:
        return []
    condition = Suppression.list_key.between(lower, upper)
    email = (params.email or "").strip().lower()
    if email:
        found = Suppression.by_email.query(f"{account_id}#{email}", condition)
    else:
        found = Suppression.by_account.query(account_id, condition)
    page = []
    for item in found:
        if visible is not None and item.domain_id not in visible:
            continue
        if all(f(item) for f in filters):
            page.append(to_wire(item))
            if len(page) == PAGE_SIZE:
                break
    return page


def export_csv(principal: Principal) -> str:
    """Every suppression the token can see, as CSV (the seeds' Export)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["id", "email", "domain_name", "sending_stream", "type", "created_at"])
    params = SuppressionList()
    while True:
        page = list_suppressions(principal, params)
        for s in page:
            writer.writerow([s["id"], s["email"], s["domain_name"], s["sending_stream"], s["type"], s["created_at"]])
        if len(page) < PAGE_SIZE:
            return out.getvalue()
        params = SuppressionList(last_id=page[-1]["id"])


# ---------------------------------------------------------------- API: add, remove


def _valid_email(value: Any) -> str | None:
    email = valid_email(value)
    return email.lower() if email else None


def _stream_error(value: Any) -> str | None:
    if value in (None, ""):
        return "can't be blank"
    if value not in STREAMS:
        return f"is invalid. Allowed values: {', '.join(STREAMS)}."
    return None


def _type_error(value: Any) -> str | None:
    if value not in TYPES:
        return f"is invalid. Allowed values: {', '.join(TYPES)}."
    return None


def create(principal: Principal, params: SuppressionCreate) -> tuple[dict[str, Any], bool]:
    """One manual suppression (the SDK's ``create``); returns it and whether it is new."""
    domain = _live_domain(principal.account_id, params.domain_id)
    if domain is None:
        raise Unprocessable.field("domain_id", "is not a sending domain of this account")
    accounts.require(principal, ADMIN, "domain", domain.domain_id)
    item, new = suppress(principal.account_id, domain.domain_id, params.email, params.sending_stream, params.type,
                         domain_name=domain.domain_name)
    return to_wire(item), new


def _live_domain(account_id: int, raw: Any) -> Any:
    from chalicelib.domains import service as domains  # the domains capability owns domains

    try:
        return domains.get_live(account_id, raw)
    except NotFound:
        return None


def delete(principal: Principal, suppression_id: str) -> dict[str, Any]:
    """Reactivate: the address may receive the domain's mail on that stream again."""
    item = _by_id(principal.account_id, suppression_id)
    accounts.require_domain_admin(principal, item.domain_id)
    item.delete()
    return to_wire(item)


# ---------------------------------------------------------------- API: import


CSV_COLUMNS = ("email", "domain_id", "domain", "sending_stream", "type")


def parse_csv(text: str) -> list[dict[str, str]]:
    """Rows of a CSV upload. A first row naming columns (``email`` plus any of ``domain_id``,
    ``domain``, ``sending_stream``, ``type``) is a header; without one, each line is an email
    (the seeds' "one email per line")."""
    rows = [r for r in csv.reader(io.StringIO(text.lstrip("\ufeff"))) if any(c.strip() for c in r)]
    if not rows:
        return []
    first = [c.strip().lower() for c in rows[0]]
    if "email" in first:
        unknown = [c for c in first if c and c not in CSV_COLUMNS]
        if unknown:
            raise Unprocessable.field("file", f"unknown column(s): {', '.join(unknown)}; "
                                              f"known: {', '.join(CSV_COLUMNS)}")
        return [{first[i]: (cell.strip()) for i, cell in enumerate(r) if i < len(first) and first[i]}
                for r in rows[1:]]
    return [{"email": r[0].strip()} for r in rows]


IMPORT_DEFAULTS = ("domain_id", "sending_stream", "type")  # what the query (or a JSON object) sets for every row


def import_request(principal: Principal, raw: bytes, content_type: str | None,
                   defaults: dict[str, Any]) -> dict[str, Any]:
    """``POST /suppressions/import``: at most MAX_IMPORT_BYTES of a CSV file (``text/csv`` or
    ``text/plain``, UTF-8) or JSON (an array of rows, or an object with ``emails`` or
    ``suppressions`` and defaults of its own, which win over ``defaults`` from the query)."""
    if len(raw) > MAX_IMPORT_BYTES:
        raise PayloadTooLarge()
    defaults = dict(defaults)
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind in ("text/csv", "text/plain"):
        try:
            rows = parse_csv(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise BadRequest("The CSV file must be UTF-8") from None
    else:
        body = jsonbody.parse(raw) if raw.strip() else None
        if isinstance(body, dict):  # {"domain_id", "sending_stream", "type", "emails" | "suppressions"}
            defaults.update({k: body[k] for k in IMPORT_DEFAULTS if body.get(k) is not None})
            body = body.get("suppressions", body.get("emails"))
        if not isinstance(body, list):
            raise BadRequest("Send a JSON array of rows (or {\"emails\": [...]}), or a text/csv file")
        rows = body
    return import_rows(principal, rows, defaults)


def import_rows(principal: Principal, rows: list[Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """Insert many suppressions. Each row is checked on its own and reported by its number
    (1-based, header not counted); valid rows are added even when others are not. At most
    1,000 addresses per domain in one request: more is refused as a whole."""
    if not isinstance(rows, list):
        raise Unprocessable.field("suppressions", "must be an array")
    from chalicelib.domains import service as domains

    live = {d.domain_id: d for d in domains.account_domains(principal.account_id) if not d.demo}
    by_name = {d.domain_name: d for d in live.values()}
    errors: list[dict[str, Any]] = []
    wanted: dict[tuple[str, str], Suppression] = {}
    per_domain: dict[int, int] = {}
    for number, row in enumerate(rows, start=1):
        if isinstance(row, str):
            row = {"email": row}
        if not isinstance(row, dict):
            errors.append({"row": number, "email": None, "errors": ["must be an object or an email"]})
            continue
        problems: list[str] = []
        raw_email = row.get("email")
        email = _valid_email(raw_email)
        if email is None:
            problems.append("email can't be blank" if raw_email in (None, "") else "email is invalid")
        stream = row.get("sending_stream") or defaults.get("sending_stream")
        if problem := _stream_error(stream):
            problems.append(f"sending_stream {problem}")
        suppression_type = row.get("type") or defaults.get("type") or MANUAL_IMPORT
        if problem := _type_error(suppression_type):
            problems.append(f"type {problem}")
        targets = _row_domains(row, defaults, live, by_name, problems)
        for domain in targets:
            if not principal.can(ADMIN, "domain", domain.domain_id):
                problems.append(f"this token can't manage suppressions of {domain.domain_name}")
        if problems:
            errors.append({"row": number, "email": raw_email, "errors": problems})
            continue
        for domain in targets:
            item = _new_item(principal.account_id, domain.domain_id, domain.domain_name, email, stream,
                             suppression_type)
            if (item.scope, item.address) not in wanted:
                wanted[(item.scope, item.address)] = item
                per_domain[domain.domain_id] = per_domain.get(domain.domain_id, 0) + 1
    over = {d: n for d, n in per_domain.items() if n > MAX_PER_DOMAIN}
    if over:
        names = ", ".join(f"{live[d].domain_name} ({n})" for d, n in sorted(over.items()))
        raise Unprocessable(f"At most {MAX_PER_DOMAIN} emails per domain can be added at once: {names}")
    existing = {(s.scope, s.address) for s in Suppression.batch_get(list(wanted), attributes_to_get=[
        "scope", "address"])} if wanted else set()
    new = [item for key, item in wanted.items() if key not in existing]
    with Suppression.batch_write() as batch:
        for item in new:
            batch.save(item)
    return {"created": len(new), "existing": len(existing), "failed": len(errors), "errors": errors}


def _row_domains(row: dict[str, Any], defaults: dict[str, Any], live: dict[int, Any], by_name: dict[str, Any],
                 problems: list[str]) -> list[Any]:
    """The domains a row applies to: its ``domain_id`` or ``domain`` name, else the request's;
    ``all`` means every live domain of the account at insert time (seed: "all domains")."""
    raw = row.get("domain_id") or row.get("domain") or defaults.get("domain_id") or defaults.get("domain")
    if raw in (None, ""):
        problems.append("domain_id can't be blank")
        return []
    if str(raw).strip().lower() == "all":
        if not live:
            problems.append("the account has no sending domains")
        return list(live.values())
    try:
        domain = live.get(int(raw))
    except (TypeError, ValueError):
        domain = by_name.get(str(raw).strip().lower())
    if domain is None:
        problems.append(f"domain {raw} is not a sending domain of this account")
        return []
    return [domain]
