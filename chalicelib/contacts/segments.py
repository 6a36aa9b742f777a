"""Segments: named, dynamic groups of contacts defined by conditions, evaluated on read.

Grammar (also in openapi.yaml, schema SegmentDefinition):
  {"match": "all"|"any", "groups": [{"match": "all"|"any", "conditions": [condition, ...]}]}
  ({"match", "conditions"} alone is one group.) A condition is one of
  - {"field": "<merge tag>", "operator", "value"}: a custom field; operators by its type:
      text: is, is_not, contains, does_not_contain (case-insensitive)
      integer, float: is, is_not, greater_than, less_than
      date: is, before, after; value "YYYY-MM-DD" or {"days_ago": N}
      boolean: is, is_not
      every type also: is_set, is_not_set (no value)
  - {"field": "email", "operator": is|is_not|contains|does_not_contain, "value": "..."}
  - {"field": "status", "operator": is|is_not, "value": subscribed|unsubscribed|pending|bounced}
  - {"field": "list", "operator": is|is_not, "value": <list id>}  (member of / not member of)
  - {"field": "created_at", "operator": is|before|after, "value": "YYYY-MM-DD" or {"days_ago": N}}
  - {"event": "<custom event name>", "operator": performed|not_performed, "within_days": N (optional)}
  A condition on a field the contact has no value for is false (except is_not_set).

Evaluation (docs/data-model.md): one Query of the account's partition of the contacts table
with the conditions pushed down as a FilterExpression, so DynamoDB returns only candidates;
case-insensitive text tests, which DynamoDB cannot express, are checked on those candidates.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pynamodb.exceptions import DoesNotExist

from chalicelib.contacts import fields as fields_mod
from chalicelib.contacts import lists as lists_mod
from chalicelib.contacts.changes import STATUSES
from chalicelib.contacts.common import mailable, now_ms
from chalicelib.contacts.contacts import View
from chalicelib.contacts.meta import plain
from chalicelib.contacts.models import Contact, Segment
from chalicelib.core import clock, ids
from chalicelib.core.errors import NotFound, Unprocessable

MAX_GROUPS = 10
MAX_CONDITIONS = 20
PREVIEW_SIZE = 20  # contacts a preview lists (with the count of all)
SET_OPS = ("is_set", "is_not_set")
OPERATORS = {
    "text": ("is", "is_not", "contains", "does_not_contain", *SET_OPS),
    "integer": ("is", "is_not", "greater_than", "less_than", *SET_OPS),
    "float": ("is", "is_not", "greater_than", "less_than", *SET_OPS),
    "date": ("is", "before", "after", *SET_OPS),
    "boolean": ("is", "is_not", *SET_OPS),
    "email": ("is", "is_not", "contains", "does_not_contain"),
    "status": ("is", "is_not"),
    "list": ("is", "is_not"),
    "created_at": ("is", "before", "after"),
    "event": ("performed", "not_performed"),
}
ALIASES = {"equals": "is", "not_equals": "is_not", "gt": "greater_than", "lt": "less_than",
           "not_contains": "does_not_contain", "exists": "is_set", "not_exists": "is_not_set"}
BUILTIN = ("email", "status", "list", "created_at")


# ---------------------------------------------------------------- validation


def _operator(raw: Any) -> str:
    text = str(raw or "").strip().lower().replace(" ", "_").replace("-", "_")
    return ALIASES.get(text, text)


def _date_value(value: Any, where: str, errors: list[str]) -> Any:
    if isinstance(value, dict) and set(value) == {"days_ago"}:
        days = value["days_ago"]
        if isinstance(days, int) and not isinstance(days, bool) and 0 <= days <= 36500:
            return {"days_ago": days}
    elif isinstance(value, str):
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    errors.append(f"{where}: value must be a date (YYYY-MM-DD) or {{\"days_ago\": N}}")
    return None


def _condition(raw: Any, schema: fields_mod.Schema, known_lists: set[int], where: str,
               errors: list[str]) -> dict[str, Any] | None:
    if not isinstance(raw, dict):
        errors.append(f"{where}: must be an object")
        return None
    op = _operator(raw.get("operator"))
    if "event" in raw:
        name = raw.get("event")
        if not isinstance(name, str) or not name.strip():
            errors.append(f"{where}: event must be a custom event name")
            return None
        if op not in OPERATORS["event"]:
            errors.append(f"{where}: operator '{raw.get('operator')}' is not valid for events "
                          f"(use {', '.join(OPERATORS['event'])})")
            return None
        out: dict[str, Any] = {"kind": "event", "event": name.strip(), "operator": op}
        if raw.get("within_days") is not None:
            days = raw["within_days"]
            if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= 36500:
                errors.append(f"{where}: within_days must be a positive integer")
                return None
            out["within_days"] = days
        return out
    name = raw.get("field")
    if not isinstance(name, str) or not name:
        errors.append(f"{where}: needs a field (a merge tag, email, status, list or created_at) or an event")
        return None
    if name in BUILTIN:
        kind, field_id = name, None
    elif name in schema.by_tag:
        kind, field_id = schema.by_tag[name].data_type, schema.by_tag[name].id
    else:
        errors.append(f"{where}: unknown field '{name}'")
        return None
    if op not in OPERATORS[kind]:
        errors.append(f"{where}: operator '{raw.get('operator')}' is not valid for a {kind} field "
                      f"(use {', '.join(OPERATORS[kind])})")
        return None
    out = {"kind": kind, "operator": op}
    if field_id is not None:
        out["field_id"] = field_id
    if op in SET_OPS:
        return out
    if "value" not in raw:
        errors.append(f"{where}: value is required")
        return None
    value = raw["value"]
    problems: list[str] = []
    if kind in ("date", "created_at"):
        out["value"] = _date_value(value, where, problems)
    elif kind == "status":
        if value not in STATUSES:
            problems.append(f"{where}: value must be one of {', '.join(STATUSES)}")
        out["value"] = value
    elif kind == "list":
        try:
            list_id = int(value)
        except (TypeError, ValueError):
            list_id = -1
        if isinstance(value, bool) or list_id not in known_lists:
            problems.append(f"{where}: list {value} does not exist")
        out["value"] = list_id
    elif kind == "email":
        if not isinstance(value, str) or not value:
            problems.append(f"{where}: value must be a string")
        out["value"] = value
    else:
        try:
            out["value"] = fields_mod.convert(kind, value)
            if out["value"] is None:
                raise ValueError("can't be blank")
        except ValueError as exc:
            problems.append(f"{where}: value {exc}")
    errors.extend(problems)
    return None if problems else out


def normalise(body: dict[str, Any], schema: fields_mod.Schema, known_lists: set[int]) -> dict[str, Any]:
    """The definition in canonical form (fields by id), or a 422 naming each bad condition."""
    if "groups" in body:
        raw_groups = body.get("groups")
        match = body.get("match", "all")
    elif "conditions" in body:
        raw_groups = [{"match": body.get("match", "all"), "conditions": body.get("conditions")}]
        match = "all"
    else:
        raise Unprocessable.field("conditions", "can't be blank")
    errors: list[str] = []
    if match not in ("all", "any"):
        errors.append("match must be all or any")
    if not isinstance(raw_groups, list) or not raw_groups:
        raise Unprocessable.field("groups", "must be a non-empty array")
    if len(raw_groups) > MAX_GROUPS:
        raise Unprocessable.field("groups", f"can have at most {MAX_GROUPS} groups")
    groups = []
    for g, group in enumerate(raw_groups):
        if not isinstance(group, dict) or not isinstance(group.get("conditions"), list) or not group["conditions"]:
            errors.append(f"groups[{g}]: needs a non-empty conditions array")
            continue
        if group.get("match", "all") not in ("all", "any"):
            errors.append(f"groups[{g}]: match must be all or any")
        if len(group["conditions"]) > MAX_CONDITIONS:
            errors.append(f"groups[{g}]: can have at most {MAX_CONDITIONS} conditions")
            continue
        conditions = [_condition(c, schema, known_lists, f"groups[{g}].conditions[{i}]", errors)
                      for i, c in enumerate(group["conditions"])]
        groups.append({"match": group.get("match", "all"), "conditions": conditions})
    if errors:
        raise Unprocessable({"conditions": errors})
    return {"match": match, "groups": groups}


def render(definition: dict[str, Any], schema: fields_mod.Schema) -> dict[str, Any]:
    """The canonical definition as the API shows it (fields by current merge tag)."""
    groups = []
    for group in definition["groups"]:
        conditions = []
        for c in group["conditions"]:
            if c["kind"] == "event":
                out = {"event": c["event"], "operator": c["operator"]}
                if "within_days" in c:
                    out["within_days"] = c["within_days"]
            else:
                field = schema.by_id.get(c.get("field_id"))
                name = c["kind"] if c["kind"] in BUILTIN else (field.merge_tag if field else f"field_{c['field_id']}")
                out = {"field": name, "operator": c["operator"]}
                if "value" in c:
                    out["value"] = c["value"]
            conditions.append(out)
        groups.append({"match": group["match"], "conditions": conditions})
    return {"match": definition["match"], "groups": groups}


# ---------------------------------------------------------------- evaluation


def _day(value: Any) -> str:
    """A condition's date as "YYYY-MM-DD" (relative dates from today, UTC)."""
    if isinstance(value, dict):
        return (clock.now().date() - timedelta(days=value["days_ago"])).isoformat()
    return value


def _day_ms(day: str) -> int:
    return int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp() * 1000)


def _pushdown(c: dict[str, Any]) -> Any:
    """A FilterExpression equal to (or, for text, implied by) the condition; None = no filter."""
    kind, op = c["kind"], c["operator"]
    if kind == "status":
        return Contact.status == c["value"] if op == "is" else Contact.status != c["value"]
    if kind == "list":
        member = Contact.list_ids.contains(c["value"])
        return member if op == "is" else ~member
    if kind == "created_at":
        start = _day_ms(_day(c["value"]))
        end = start + 86_400_000
        return {"is": Contact.created_at.between(start, end - 1), "before": Contact.created_at < start,
                "after": Contact.created_at >= end}[op]
    if kind == "event":
        path = Contact.last_events[c["event"]]
        if "within_days" in c:
            recent = path >= now_ms() - c["within_days"] * 86_400_000
            return recent if op == "performed" else (path.does_not_exist() | ~recent)
        return path.exists() if op == "performed" else path.does_not_exist()
    if kind == "email":
        return None
    path = Contact.fields[f"f{c['field_id']}"]
    if op == "is_set":
        return path.exists()
    if op == "is_not_set":
        return path.does_not_exist()
    if kind == "text":
        return path.exists()  # the case-insensitive test itself runs on the candidates
    value = _day(c["value"]) if kind == "date" else c["value"]
    if op == "is":
        return path == value
    if op == "is_not":
        return path.exists() & (path != value)
    if op in ("greater_than", "after"):
        return path > value
    return path < value  # less_than, before


def _exact_in_dynamodb(c: dict[str, Any]) -> bool:
    return not (c["kind"] == "email" or (c["kind"] == "text" and c["operator"] not in SET_OPS))


def _combine(parts: list[Any], match: str) -> Any:
    """AND/OR of pushed-down parts; an unknown part (None, "true") absorbs an OR."""
    if match == "any" and any(p is None for p in parts):
        return None
    parts = [p for p in parts if p is not None]
    if not parts:
        return None
    out = parts[0]
    for p in parts[1:]:
        out = (out & p) if match == "all" else (out | p)
    return out


def filter_condition(definition: dict[str, Any]) -> Any:
    return _combine([_combine([_pushdown(c) for c in g["conditions"]], g["match"]) for g in definition["groups"]],
                    definition["match"])


def is_exact(definition: dict[str, Any]) -> bool:
    return all(_exact_in_dynamodb(c) for g in definition["groups"] for c in g["conditions"])


def _test(c: dict[str, Any], contact: Contact, values: dict[str, Any]) -> bool:
    kind, op = c["kind"], c["operator"]
    if kind == "status":
        return (contact.status == c["value"]) == (op == "is")
    if kind == "list":
        return (c["value"] in {int(i) for i in (contact.list_ids or ())}) == (op == "is")
    if kind == "created_at":
        start = _day_ms(_day(c["value"]))
        at = int(contact.created_at)
        return {"is": start <= at < start + 86_400_000, "before": at < start, "after": at >= start + 86_400_000}[op]
    if kind == "event":
        last = plain(contact.last_events).get(c["event"])
        recent = "within_days" not in c or int(last or 0) >= now_ms() - c["within_days"] * 86_400_000
        happened = last is not None and recent
        return happened == (op == "performed")
    value = contact.email if kind == "email" else values.get(f"f{c['field_id']}")
    if op == "is_set":
        return value is not None
    if op == "is_not_set":
        return value is None
    if value is None:
        return False
    if kind in ("text", "email"):
        have, want = str(value).lower(), str(c["value"]).lower()
        return {"is": have == want, "is_not": have != want, "contains": want in have,
                "does_not_contain": want not in have}[op]
    want = _day(c["value"]) if kind == "date" else c["value"]
    if kind == "boolean":
        return (bool(value) == want) == (op == "is")
    if kind in ("integer", "float"):
        value = float(value)
    return {"is": value == want, "is_not": value != want, "greater_than": value > want,
            "less_than": value < want, "after": value > want, "before": value < want}[op]


def matches(definition: dict[str, Any], contact: Contact) -> bool:
    values = plain(contact.fields)

    def group_ok(group: dict[str, Any]) -> bool:
        results = (_test(c, contact, values) for c in group["conditions"])
        return all(results) if group["match"] == "all" else any(results)

    groups = (group_ok(g) for g in definition["groups"])
    return all(groups) if definition["match"] == "all" else any(groups)


def evaluate(account_id: int, definition: dict[str, Any], start_key: str | None = None,
             page_size: int | None = None):
    """Yield the account's contacts in the segment, in email order. Without ``page_size``
    DynamoDB pages by its 1 MB read limit: the fewest round trips for a whole evaluation."""
    condition = filter_condition(definition)
    exact = is_exact(definition)
    start = {"account_id": {"N": str(int(account_id))}, "email_key": {"S": start_key}} if start_key else None
    for contact in Contact.query(int(account_id), filter_condition=condition, last_evaluated_key=start,
                                 page_size=page_size):
        if exact or matches(definition, contact):
            yield contact


def recipients(account_id: int, segment_id: Any):
    """The contacts a campaign to this segment may mail: its subscribed members (pending,
    bounced and unsubscribed contacts are never mailed). For campaigns and automations."""
    definition = json.loads(_load(account_id, segment_id).definition)
    return (contact for contact in evaluate(account_id, definition) if mailable(contact))


def count(account_id: int, definition: dict[str, Any]) -> int:
    if is_exact(definition):  # DynamoDB counts; nothing crosses the wire but the number
        return Contact.count(int(account_id), filter_condition=filter_condition(definition))
    return sum(1 for _ in evaluate(account_id, definition))


# ---------------------------------------------------------------- segments API


def _load(account_id: int, segment_id: Any) -> Segment:
    try:
        return Segment.get(int(account_id), int(segment_id), consistent_read=True)
    except (DoesNotExist, TypeError, ValueError):
        raise NotFound() from None


def to_wire(segment: Segment, schema: fields_mod.Schema) -> dict[str, Any]:
    return {"id": int(segment.segment_id), "name": segment.name,
            **render(json.loads(segment.definition), schema),
            "created_at": int(segment.created_at), "updated_at": int(segment.updated_at)}


def _uses(definition: dict[str, Any]) -> tuple[set[int], set[int]]:
    conditions = [c for g in definition["groups"] for c in g["conditions"]]
    return ({c["field_id"] for c in conditions if "field_id" in c},
            {c["value"] for c in conditions if c["kind"] == "list"})


def list_segments(account_id: int) -> list[dict[str, Any]]:
    schema = fields_mod.schema(account_id)
    return [to_wire(s, schema) for s in Segment.query(int(account_id))]


def get_segment(account_id: int, segment_id: Any) -> dict[str, Any]:
    return to_wire(_load(account_id, segment_id), fields_mod.schema(account_id))


def definition_of(account_id: int, body: dict[str, Any]) -> tuple[dict[str, Any], fields_mod.Schema]:
    schema = fields_mod.schema(account_id)
    return normalise(body, schema, lists_mod.existing_ids(account_id)), schema


def create_segment(account_id: int, name: str, sent: dict[str, Any]) -> dict[str, Any]:
    """``sent``: the definition as the request gave it (``ContactSegmentPreview.definition``)."""
    definition, schema = definition_of(account_id, sent)
    field_ids, list_ids = _uses(definition)
    at = now_ms()
    segment = Segment(int(account_id), ids.next_id("contact_segment"), name=name,
                      definition=json.dumps(definition), field_ids=field_ids or None, list_ids=list_ids or None,
                      created_at=at, updated_at=at)
    segment.save(condition=Segment.segment_id.does_not_exist())
    return to_wire(segment, schema)


def update_segment(account_id: int, segment_id: Any, name: str | None, sent: dict[str, Any]) -> dict[str, Any]:
    """``name`` None keeps it; ``sent`` without ``groups`` or ``conditions`` keeps the conditions."""
    segment = _load(account_id, segment_id)
    schema = fields_mod.schema(account_id)
    if name is not None:
        segment.name = name
    if "groups" in sent or "conditions" in sent:
        definition, schema = definition_of(account_id, sent)
        field_ids, list_ids = _uses(definition)
        segment.definition = json.dumps(definition)
        segment.field_ids = field_ids or None
        segment.list_ids = list_ids or None
    segment.updated_at = now_ms()
    segment.save(condition=Segment.segment_id.exists())
    return to_wire(segment, schema)


def delete_segment(account_id: int, segment_id: Any) -> None:
    _load(account_id, segment_id).delete()


def _cursor(contact: Contact) -> str:
    return base64.urlsafe_b64encode(contact.email_key.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str | None) -> str | None:
    if not cursor:
        return None
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except Exception:
        raise Unprocessable.field("cursor", "is invalid") from None


def segment_contacts(account_id: int, segment_id: Any, size: int, cursor: str | None = None) -> dict[str, Any]:
    definition = json.loads(_load(account_id, segment_id).definition)
    return page(account_id, definition, size, cursor)


def page(account_id: int, definition: dict[str, Any], size: int, cursor: str | None) -> dict[str, Any]:
    view = View.load(account_id)
    found: list[Contact] = []
    more = False
    for contact in evaluate(account_id, definition, _decode_cursor(cursor), page_size=max(size, 100)):
        if len(found) == size:
            more = True
            break
        found.append(contact)
    return {"data": [view.wire(c) for c in found], "next_cursor": _cursor(found[-1]) if more else None}


def segment_count(account_id: int, segment_id: Any) -> dict[str, Any]:
    segment = _load(account_id, segment_id)
    return {"id": int(segment.segment_id), "count": count(account_id, json.loads(segment.definition))}


def preview(account_id: int, sent: dict[str, Any]) -> dict[str, Any]:
    """Evaluate conditions without saving them (the UI's "Preview Results"): the first
    PREVIEW_SIZE members and the count. When DynamoDB can't filter exactly, one pass over
    the contacts gives both (rather than a page, then a second pass to count)."""
    definition, _ = definition_of(account_id, sent)
    if is_exact(definition):  # a short query for the page, the count done by DynamoDB
        return {"count": count(account_id, definition),
                "data": page(account_id, definition, PREVIEW_SIZE, None)["data"]}
    first: list[Contact] = []
    total = 0
    for contact in evaluate(account_id, definition):
        if total < PREVIEW_SIZE:
            first.append(contact)
        total += 1
    view = View.load(account_id)
    return {"count": total, "data": [view.wire(c) for c in first]}


# ---------------------------------------------------------------- usage by segments


def _field_usage(account_id: int, field: fields_mod.Field) -> str | None:
    names = [s.name for s in Segment.query(int(account_id)) if field.id in (s.field_ids or set())]
    return f"This field is used in the conditions of segment(s): {', '.join(names)}." if names else None


def _list_usage(account_id: int, list_id: int) -> str | None:
    names = [s.name for s in Segment.query(int(account_id)) if list_id in (s.list_ids or set())]
    return f"This list is used in the conditions of segment(s): {', '.join(names)}." if names else None


fields_mod.USAGE_CHECKS.append(_field_usage)
lists_mod.USAGE_CHECKS.append(_list_usage)
