"""Email logs: an account's messages newest first, filtered, paged with ``search_after``.

Filters follow Mailtrap's email-logs API (``filters[field][operator]`` / ``[value]``; unknown
or malformed filters are ignored, as the spec says), plus ``filters[custom_variables.<name>]``
(Postline's own) to find messages by one of their custom variables. ``sent_after``/``sent_before`` narrow
the index query itself; the rest are applied to the messages read. Only messages of
domains the token can see are listed.
"""

from __future__ import annotations

import hmac
import json
import time
from typing import Any

from pynamodb.exceptions import DoesNotExist

from chalicelib.core import aws, clock
from chalicelib.core.config import settings
from chalicelib.core.errors import BadRequest, NotFound
from chalicelib.core.permissions import VIEWER, Principal
from chalicelib.core.signing import sign
from chalicelib.sending import events
from chalicelib.sending.models import WIRE_STATUS, Message
from chalicelib.sending.request_models import EmailLogQuery

PAGE_SIZE = 50
RAW_LINK_SECONDS = 3600
_WIRE_STATUSES = set(WIRE_STATUS.values())


# ---------------------------------------------------------------- wire shapes


def _summary(message: Message) -> dict[str, Any]:
    return {
        "message_id": message.message_id,
        "status": WIRE_STATUS.get(message.status, "enqueued"),
        "subject": message.subject,
        "from": message.from_email,
        "to": message.recipient,
        "sent_at": clock.iso(message.created_at),
        "client_ip": message.client_ip,
        "category": message.category,
        "custom_variables": message.custom_variables or {},
        "sending_stream": message.stream,
        "sending_domain_id": message.domain_id,
        "domain_id": message.domain_id,  # the spec's name for the SDK's sending_domain_id
        "template_id": message.template_id,
        "template_variables": message.template_variables or {},
        "opens_count": int(message.opens_count or 0),
        "clicks_count": int(message.clicks_count or 0),
    }


def _detail(message: Message) -> dict[str, Any]:
    body = _summary(message)
    body["rfc_message_id"] = f"<{message.message_id}@{message.domain_name}>"
    body["raw_message_url"] = raw_url(message.message_id) if message.raw_key else None
    body["events"] = events.public_events(message)
    body["status_reason"] = message.status_reason
    return body


# ---------------------------------------------------------------- filters


def _values(spec: dict[str, Any]) -> list[str]:
    value = spec.get("value")
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _string_filter(spec: dict[str, Any], get) -> Any:
    op, values = spec.get("operator"), _values(spec)
    lowered = [v.lower() for v in values]
    if op in ("ci_equal", "ci_not_equal") and values:
        hit = lambda m: (get(m) or "").lower() in lowered  # noqa: E731
        return hit if op == "ci_equal" else (lambda m: not hit(m))
    if op in ("ci_contain", "ci_not_contain") and values:
        hit = lambda m: lowered[0] in (get(m) or "").lower()  # noqa: E731
        return hit if op == "ci_contain" else (lambda m: not hit(m))
    if op in ("equal", "not_equal") and values:
        hit = lambda m: str(get(m) if get(m) is not None else "") in values  # noqa: E731
        return hit if op == "equal" else (lambda m: not hit(m))
    if op in ("contain", "not_contain") and values:
        hit = lambda m: values[0] in str(get(m) or "")  # noqa: E731
        return hit if op == "contain" else (lambda m: not hit(m))
    if op == "empty":
        return lambda m: not get(m)
    if op == "not_empty":
        return lambda m: bool(get(m))
    return None


def _number_filter(spec: dict[str, Any], get) -> Any:
    op, values = spec.get("operator"), _values(spec)
    try:
        n = int(values[0])
    except (IndexError, ValueError):
        return None
    return {"equal": lambda m: get(m) == n, "greater_than": lambda m: get(m) > n,
            "less_than": lambda m: get(m) < n}.get(op)


def _event_types(message: Message) -> set[str]:
    return {e.get("event_type") for e in message.events or []} & events.PUBLIC_DETAILS.keys()


def _reported(name: str):
    """A detail the mailbox provider's answer gave (the latest delivery or bounce that has it)."""
    def get(message: Message) -> str | None:
        for e in reversed(message.events or []):
            value = (e.get("details") or {}).get(name)
            if value is not None and e.get("event_type") in ("delivery", "soft_bounce", "bounce"):
                return str(value)
        return None

    return get


def _events_filter(spec: dict[str, Any]) -> Any:
    op, values = spec.get("operator"), set(_values(spec))
    if not values:
        return None
    if op == "include_event":
        return lambda m: bool(_event_types(m) & values)
    if op == "not_include_event":
        return lambda m: not (_event_types(m) & values)
    return None


def _status_filter(spec: dict[str, Any]) -> Any:
    values = set(_values(spec)) & _WIRE_STATUSES
    if not values:
        return None
    hit = lambda m: WIRE_STATUS.get(m.status, "enqueued") in values  # noqa: E731
    return {"equal": hit, "not_equal": lambda m: not hit(m)}.get(spec.get("operator"))


_STRING_FIELDS = {
    "to": lambda m: m.recipient, "from": lambda m: m.from_email, "subject": lambda m: m.subject,
    "client_ip": lambda m: m.client_ip, "category": lambda m: m.category,
    "sending_stream": lambda m: m.stream,
    "domain_id": lambda m: str(m.domain_id), "sending_domain_id": lambda m: str(m.domain_id),
    # known once SES notifications report them
    "sending_ip": _reported("sending_ip"), "email_service_provider": _reported("email_service_provider"),
    "email_service_provider_response": _reported("email_service_provider_response"),
    "recipient_mx": _reported("recipient_mx"),
}
_NUMBER_FIELDS = {"opens_count": lambda m: int(m.opens_count or 0), "clicks_count": lambda m: int(m.clicks_count or 0)}


def _custom_variable(name: str) -> Any:
    def get(message: Message) -> str | None:
        value = (message.custom_variables or {}).get(name)
        if value is None:
            return None
        return json.dumps(value) if isinstance(value, bool) else str(value)

    return get


def _predicates(filters: dict[str, Any]) -> list[Any]:
    preds = []
    for field, spec in filters.items():
        if not isinstance(spec, dict):
            continue
        if field in _STRING_FIELDS:
            pred = _string_filter(spec, _STRING_FIELDS[field])
        elif field in _NUMBER_FIELDS:
            pred = _number_filter(spec, _NUMBER_FIELDS[field])
        elif field == "status":
            pred = _status_filter(spec)
        elif field == "events":
            pred = _events_filter(spec)
        elif field.startswith("custom_variables."):  # Postline's own: one variable by name
            pred = _string_filter(spec, _custom_variable(field.split(".", 1)[1]))
        else:
            pred = None
        if pred is not None:
            preds.append(pred)
    return preds


def _time_bound(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return clock.iso(clock.parse_iso(value))
    except ValueError:
        return None


# ---------------------------------------------------------------- queries


def list_messages(principal: Principal, query: EmailLogQuery) -> dict[str, Any]:
    account_id = principal.account_id
    filters, search_after = query.filters, query.search_after
    visible = principal.resource_ids("domain", VIEWER)  # None: every domain of the account
    preds = _predicates(filters)
    after, before = _time_bound(filters.get("sent_after")), _time_bound(filters.get("sent_before"))
    upper = f"{before}#\uffff" if before else None
    cursor = None
    if search_after:
        try:
            start = Message.get(str(search_after))
        except DoesNotExist:
            start = None
        if start is None or start.account_id != account_id:
            raise BadRequest("search_after does not name a message of this account")
        cursor = start.sent_key
    condition = None
    if after and upper:
        condition = Message.sent_key.between(after, upper)
    elif after:
        condition = Message.sent_key >= after
    elif upper:
        condition = Message.sent_key <= upper
    page: list[Message] = []
    total = 0
    more = False
    for message in Message.by_account.query(account_id, condition, scan_index_forward=False):
        if visible is not None and message.domain_id not in visible:
            continue
        if not all(pred(message) for pred in preds):
            continue
        total += 1
        if cursor is not None and message.sent_key >= cursor:
            continue
        if len(page) < PAGE_SIZE:
            page.append(message)
        else:
            more = True
    return {"messages": [_summary(m) for m in page], "total_count": total,
            "next_page_cursor": page[-1].message_id if more and page else None}


def get_message(principal: Principal, message_id: str) -> Message:
    try:
        message = Message.get(str(message_id))
    except DoesNotExist:
        raise NotFound() from None
    visible = principal.resource_ids("domain", VIEWER)
    if message.account_id != principal.account_id or (visible is not None and message.domain_id not in visible):
        raise NotFound()
    return message


def message_detail(principal: Principal, message_id: str) -> dict[str, Any]:
    return _detail(get_message(principal, message_id))


# ---------------------------------------------------------------- raw MIME


def _raw_signature(message_id: str, expires: int) -> str:
    return sign("raw", f"{message_id}:{expires}")


def raw_url(message_id: str) -> str:
    """A link to the stored .eml that works without a token for an hour (the spec's signed URL)."""
    expires = int(time.time()) + RAW_LINK_SECONDS
    token = f"{message_id}.{expires}.{_raw_signature(message_id, expires)}"
    return f"{settings().public_api_url.rstrip('/')}/api/raw_messages/{token}"


def raw_message(token: str) -> bytes:
    """The stored copy a raw link points at; NotFound for a forged, expired or unknown link."""
    parts = (token or "").split(".")
    if len(parts) != 3 or not parts[1].isdigit():
        raise NotFound()
    message_id, expires, signature = parts[0], int(parts[1]), parts[2]
    if not hmac.compare_digest(signature, _raw_signature(message_id, expires)) or expires < time.time():
        raise NotFound()
    try:
        message = Message.get(message_id)
    except DoesNotExist:
        raise NotFound() from None
    if not message.raw_key:
        raise NotFound()
    end = int(message.raw_offset) + int(message.raw_length) - 1
    return aws.client("s3").get_object(Bucket=aws.bucket("data"), Key=message.raw_key,
                                       Range=f"bytes={int(message.raw_offset)}-{end}")["Body"].read()
