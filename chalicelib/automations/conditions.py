"""Conditional split conditions: the contacts' segment grammar, plus the triggering event.

A split tests the contact with the same grammar segments use (chalicelib/contacts/segments.py:
custom fields by merge tag, ``email``, ``status``, ``list``, ``created_at``, custom events
performed or not), validated and evaluated by the contacts capability itself. On top of it,
an automation can test the event that started the run (seed 001: "Conditional split based
on event data"):

    {"field": "event.params.<key>", "operator": ..., "value": ...}

with the segment operators ``is``, ``is_not``, ``contains``, ``does_not_contain``,
``greater_than``, ``less_than``, ``before``, ``after``, ``is_set``, ``is_not_set``. A param
the event does not have is false, except for ``is_not_set`` (seed-E G5: a missing field
takes the "No" branch).

And whether the contact opened or clicked an email this run sent (``email.opened``,
``email.clicked``): ``{"field": "email.opened", "step_id": 3}`` tests the email of send-email
step 3, which must come before the split on its path; without ``step_id`` the nearest
send-email step above the split is meant (definition.py resolves it). ``operator`` is ``is``
(the default) or ``is_not``, ``value`` true (the default) or false. An email not sent (the
contact was not mailable) was neither opened nor clicked.

Stored form (what the API returns and the ASL shows):
``{"match": "all"|"any", "groups": [{"match": "all"|"any", "conditions": [...]}]}``; a
bare ``{"match", "conditions"}`` or a list of conditions is one group.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from chalicelib.automations import adapters
from chalicelib.automations.adapters import ContactView
from chalicelib.core.errors import Unprocessable

EVENT_PREFIX = "event.params."
OPERATORS = ("is", "is_not", "contains", "does_not_contain", "greater_than", "less_than", "before", "after",
             "is_set", "is_not_set")
ALIASES = {"equals": "is", "eq": "is", "not_equals": "is_not", "ne": "is_not", "gt": "greater_than",
           "lt": "less_than", "not_contains": "does_not_contain", "exists": "is_set", "not_exists": "is_not_set"}
MAX_GROUPS, MAX_CONDITIONS = 10, 20
ENGAGEMENT_FIELDS = {"email.opened": "opened", "email.clicked": "clicked"}


def _fail(path: str, message: str) -> Unprocessable:
    return Unprocessable.field(path, message)


def is_event_condition(cond: dict[str, Any]) -> bool:
    return isinstance(cond.get("field"), str) and cond["field"].startswith(EVENT_PREFIX)


def is_engagement_condition(cond: dict[str, Any]) -> bool:
    return cond.get("field") in ENGAGEMENT_FIELDS


def _is_run_condition(cond: dict[str, Any]) -> bool:
    """About this run (its event, its emails) rather than the contact record."""
    return is_event_condition(cond) or is_engagement_condition(cond)


def parse(raw: Any, path: str) -> dict[str, Any]:
    """The stored form; event conditions fully checked, contact ones by their shape only
    (their fields and lists belong to an account: ``check`` validates them there)."""
    if isinstance(raw, list):
        raw = {"match": "all", "conditions": raw}
    if not isinstance(raw, dict):
        raise _fail(path, "must be an object with 'match' and 'conditions' (or 'groups')")
    match = raw.get("match", "all")
    if match not in ("all", "any"):
        raise _fail(f"{path}.match", "must be 'all' or 'any'")
    if "groups" in raw:
        raw_groups = raw["groups"]
        if not isinstance(raw_groups, list) or not raw_groups:
            raise _fail(f"{path}.groups", "must be a non-empty array")
    else:
        raw_groups = [{"match": match, "conditions": raw.get("conditions")}]
        match = "all"
    if len(raw_groups) > MAX_GROUPS:
        raise _fail(f"{path}.groups", f"can have at most {MAX_GROUPS} groups")
    groups = []
    for g, group in enumerate(raw_groups):
        where = f"{path}.groups[{g}]" if "groups" in raw else path
        if not isinstance(group, dict):
            raise _fail(where, "must be an object with 'match' and 'conditions'")
        group_match = group.get("match", "all")
        if group_match not in ("all", "any"):
            raise _fail(f"{where}.match", "must be 'all' or 'any'")
        items = group.get("conditions")
        if not isinstance(items, list) or not items:
            raise _fail(f"{where}.conditions", "can't be blank")
        if len(items) > MAX_CONDITIONS:
            raise _fail(f"{where}.conditions", f"can have at most {MAX_CONDITIONS} conditions")
        conditions = []
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise _fail(f"{where}.conditions[{i}]", "must be an object")
            at = f"{where}.conditions[{i}]"
            if is_event_condition(item):
                conditions.append(_event_condition(item, at))
            elif is_engagement_condition(item):
                conditions.append(_engagement_condition(item, at))
            else:
                conditions.append(dict(item))
        groups.append({"match": group_match, "conditions": conditions})
    return {"match": match, "groups": groups}


def _event_condition(raw: dict[str, Any], path: str) -> dict[str, Any]:
    key = raw["field"][len(EVENT_PREFIX):].strip()
    if not key:
        raise _fail(f"{path}.field", "must name an event param: event.params.<key>")
    op = str(raw.get("operator") or "").strip().lower().replace(" ", "_")
    op = ALIASES.get(op, op)
    if op not in OPERATORS:
        raise _fail(f"{path}.operator", f"must be one of: {', '.join(OPERATORS)}")
    out = {"field": EVENT_PREFIX + key, "operator": op}
    if op in ("is_set", "is_not_set"):
        return out
    if "value" not in raw:
        raise _fail(f"{path}.value", "can't be blank")
    value = raw["value"]
    if op in ("greater_than", "less_than") and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise _fail(f"{path}.value", f"must be a number for '{op}'")
    if op in ("before", "after") and not (_days_ago(value) is not None or
                                          (isinstance(value, str) and _when(value) is not None)):
        raise _fail(f"{path}.value", f"must be a date (YYYY-MM-DD), a date-time or {{\"days_ago\": N}} for '{op}'")
    if op in ("contains", "does_not_contain") and (not isinstance(value, str) or not value):
        raise _fail(f"{path}.value", f"must be a non-empty string for '{op}'")
    if value is not None and not isinstance(value, (str, int, float, bool, dict)):
        raise _fail(f"{path}.value", "must be a string, number, boolean or null")
    out["value"] = value
    return out


def _engagement_condition(raw: dict[str, Any], path: str) -> dict[str, Any]:
    op = str(raw.get("operator") or "is").strip().lower().replace(" ", "_")
    op = ALIASES.get(op, op)
    if op not in ("is", "is_not"):
        raise _fail(f"{path}.operator", "must be 'is' or 'is_not'")
    value = raw.get("value", True)
    if not isinstance(value, bool):
        raise _fail(f"{path}.value", "must be true or false")
    step_id = raw.get("step_id")
    if step_id is not None and (isinstance(step_id, bool) or not isinstance(step_id, int) or step_id < 1):
        raise _fail(f"{path}.step_id", "must be the id of a send_email step before the split")
    out: dict[str, Any] = {"field": raw["field"], "operator": op, "value": value}
    if step_id is not None:
        out["step_id"] = step_id
    return out


def engagement_conditions(parsed: dict[str, Any]) -> list[dict[str, Any]]:
    """The split's ``email.opened`` / ``email.clicked`` conditions (definition.py sets their step_id)."""
    return [c for g in parsed["groups"] for c in g["conditions"] if is_engagement_condition(c)]


def _contact_part(group: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in group["conditions"] if not _is_run_condition(c)]


def check(account_id: int, parsed: dict[str, Any], path: str) -> None:
    """Validate the contact conditions against the account's fields and lists (422)."""
    for g, group in enumerate(parsed["groups"]):
        contact_part = _contact_part(group)
        if not contact_part:
            continue
        try:
            adapters.contacts.check_conditions(account_id, {"match": group["match"], "conditions": contact_part})
        except Unprocessable as exc:
            messages = [m for ms in exc.errors.values() for m in ms]
            where = f"{path}.groups[{g}]" if len(parsed["groups"]) > 1 else path
            raise Unprocessable({where: messages}) from None


def evaluate(account_id: int, parsed: dict[str, Any], contact: ContactView, event_params: dict[str, Any],
             now: datetime, engaged: dict[int, set[str]] | None = None) -> bool:
    """``engaged``: per send-email step id of this run, what its email saw ("opened", "clicked")."""
    results = (_group(account_id, g, contact, event_params, now, engaged or {}) for g in parsed["groups"])
    return all(results) if parsed["match"] == "all" else any(results)


def _group(account_id: int, group: dict[str, Any], contact: ContactView, params: dict[str, Any],
           now: datetime, engaged: dict[int, set[str]]) -> bool:
    events = [_event_test(c, params, now) if is_event_condition(c) else _engagement_test(c, engaged)
              for c in group["conditions"] if _is_run_condition(c)]
    contact_part = _contact_part(group)
    if group["match"] == "all":
        if not all(events):
            return False
        return not contact_part or adapters.contacts.matches(
            account_id, contact, {"match": "all", "conditions": contact_part})
    if any(events):
        return True
    return bool(contact_part) and adapters.contacts.matches(
        account_id, contact, {"match": "any", "conditions": contact_part})


_MISSING = object()


def _event_test(cond: dict[str, Any], params: dict[str, Any], now: datetime) -> bool:
    op = cond["operator"]
    actual = params.get(cond["field"][len(EVENT_PREFIX):], _MISSING)
    missing = actual is _MISSING or actual is None or actual == ""
    if op in ("is_set", "is_not_set"):
        return missing == (op == "is_not_set")
    if missing:
        return False
    expected = cond["value"]
    if op in ("is", "is_not"):
        return _equal(actual, expected) == (op == "is")
    if op in ("contains", "does_not_contain"):
        found = expected.lower() in str(actual).lower()
        return found == (op == "contains")
    if op in ("greater_than", "less_than"):
        number = _number(actual)
        return number is not None and (number > expected if op == "greater_than" else number < expected)
    when = _when(actual) if isinstance(actual, str) else None
    days = _days_ago(expected)
    bound = now - timedelta(days=days) if days is not None else _when(expected)
    if when is None or bound is None:
        return False
    return when < bound if op == "before" else when > bound


def _engagement_test(cond: dict[str, Any], engaged: dict[int, set[str]]) -> bool:
    seen = ENGAGEMENT_FIELDS[cond["field"]] in engaged.get(int(cond.get("step_id") or 0), set())
    return (seen == cond["value"]) == (cond["operator"] == "is")


def _equal(actual: Any, expected: Any) -> bool:
    if isinstance(expected, bool) or isinstance(actual, bool):
        return str(actual).lower() == str(expected).lower()
    a, e = _number(actual), _number(expected)
    if a is not None and e is not None:
        return a == e
    return str(actual).strip().lower() == str(expected).strip().lower()


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        return None


def _days_ago(value: Any) -> int | None:
    if isinstance(value, dict) and set(value) == {"days_ago"}:
        days = value["days_ago"]
        if isinstance(days, int) and not isinstance(days, bool) and days >= 0:
            return days
    return None


def _when(value: str) -> datetime | None:
    try:
        if len(value) == 10:
            d = date.fromisoformat(value)
            return datetime(d.year, d.month, d.day, tzinfo=UTC)
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def referenced_fields(parsed: dict[str, Any]) -> set[str]:
    """Merge tags of custom fields the contact conditions use (for the contacts' usage check)."""
    builtin = {"email", "status", "list", "created_at"}
    return {c["field"] for g in parsed["groups"] for c in _contact_part(g)
            if isinstance(c.get("field"), str) and c["field"] not in builtin}


def referenced_lists(parsed: dict[str, Any]) -> set[int]:
    out = set()
    for g in parsed["groups"]:
        for c in _contact_part(g):
            if c.get("field") == "list":
                try:
                    out.add(int(c.get("value")))
                except (TypeError, ValueError):
                    pass
    return out
