"""The segment condition grammar: validate a condition tree and evaluate it against a contact.

Shared by every capability that filters contacts (automation splits now, segments and
exports later), so it lives in core and knows no table: callers hand it a ``Subject``.

    group     := {"match": "all" | "any", "conditions": [condition | group, ...]}
    condition := {"source": "field" | "email" | "subscription_status" | "list" | "event",
                  "field": "<merge tag or event param>", "operator": "<op>", "value": ...}

Operators are the seed's filter operators (001:10138-10141): ``is``, ``is_not``,
``contains``, ``not_contains``, ``gt``, ``lt`` (numbers), ``before``, ``after`` (dates:
``YYYY-MM-DD``, an ISO date-time, or ``{"days_ago": N}`` for "[90 days ago]" / "[Last 30
days]"). A condition on a field or event param the contact does not have is false whatever
the operator (seed-E G5: a missing field takes the "No" branch).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from chalicelib.core.errors import Unprocessable

SOURCES = ("field", "email", "subscription_status", "list", "event")
OPERATORS = ("is", "is_not", "contains", "not_contains", "gt", "lt", "before", "after")
OPERATOR_ALIASES = {
    "equals": "is", "eq": "is", "==": "is", "=": "is", "not_equals": "is_not", "ne": "is_not",
    "!=": "is_not", "does_not_contain": "not_contains", "greater_than": "gt", ">": "gt",
    "less_than": "lt", "<": "lt",
}
SOURCE_OPERATORS = {
    "field": OPERATORS,
    "event": OPERATORS,
    "email": ("is", "is_not", "contains", "not_contains"),
    "subscription_status": ("is", "is_not"),
    "list": ("is", "is_not"),
}
STATUSES = ("subscribed", "unsubscribed", "pending", "bounced")
MAX_CONDITIONS = 20
MAX_DEPTH = 3


@dataclass
class Subject:
    """What a condition can look at: one contact and, in an automation, its triggering event."""

    email: str = ""
    status: str = "subscribed"
    fields: dict[str, Any] = field(default_factory=dict)
    list_ids: set[int] = field(default_factory=set)
    event_params: dict[str, Any] = field(default_factory=dict)
    now: datetime = field(default_factory=lambda: datetime.now(UTC))


# ------------------------------------------------------------------ validation


def validate(raw: Any, path: str = "conditions") -> dict[str, Any]:
    """Normalise a condition group (or a bare list of conditions, matched with ``all``).

    Raises Unprocessable naming ``path`` with a message a person can act on.
    """
    count = [0]
    group = _group(raw, path, 1, count)
    return group


def _fail(path: str, message: str) -> Unprocessable:
    return Unprocessable.field(path, message)


def _group(raw: Any, path: str, depth: int, count: list[int]) -> dict[str, Any]:
    if isinstance(raw, list):
        raw = {"match": "all", "conditions": raw}
    if not isinstance(raw, dict):
        raise _fail(path, "must be an object with 'match' and 'conditions'")
    if depth > MAX_DEPTH:
        raise _fail(path, f"can nest groups at most {MAX_DEPTH} deep")
    match = str(raw.get("match", "all")).lower()
    if match not in ("all", "any"):
        raise _fail(f"{path}.match", "must be 'all' or 'any'")
    items = raw.get("conditions")
    if not isinstance(items, list) or not items:
        raise _fail(f"{path}.conditions", "can't be blank")
    out = []
    for i, item in enumerate(items):
        where = f"{path}.conditions[{i}]"
        if isinstance(item, dict) and "conditions" in item:
            out.append(_group(item, where, depth + 1, count))
        else:
            count[0] += 1
            if count[0] > MAX_CONDITIONS:
                raise _fail(path, f"can have at most {MAX_CONDITIONS} conditions")
            out.append(_condition(item, where))
    return {"match": match, "conditions": out}


def _infer_source(name: str) -> tuple[str, str]:
    lowered = name.lower()
    if lowered.startswith("event.params."):
        return "event", name[len("event.params."):]
    if lowered.startswith("event."):
        return "event", name[len("event."):]
    if lowered == "email":
        return "email", "email"
    if lowered in ("status", "subscription_status"):
        return "subscription_status", "subscription_status"
    if lowered in ("list", "list_id", "list_ids", "lists"):
        return "list", "list_ids"
    if lowered.startswith("fields."):
        return "field", name[len("fields."):]
    return "field", name


def _condition(raw: Any, path: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise _fail(path, "must be an object with 'field', 'operator' and 'value'")
    source = raw.get("source")
    name = raw.get("field")
    if name is not None and not isinstance(name, str):
        raise _fail(f"{path}.field", "must be a string")
    if source is None:
        if not name:
            raise _fail(f"{path}.field", "can't be blank")
        source, name = _infer_source(name)
    elif source not in SOURCES:
        raise _fail(f"{path}.source", f"must be one of: {', '.join(SOURCES)}")
    elif source == "event" and name:
        source, name = _infer_source(name if name.lower().startswith("event.") else f"event.params.{name}")
    if source in ("field", "event") and not (name or "").strip():
        raise _fail(f"{path}.field", "can't be blank")
    op = raw.get("operator")
    op = OPERATOR_ALIASES.get(str(op).lower(), str(op).lower()) if op is not None else None
    if op not in SOURCE_OPERATORS[source]:
        raise _fail(f"{path}.operator", f"must be one of: {', '.join(SOURCE_OPERATORS[source])} for {source}")
    if "value" not in raw:
        raise _fail(f"{path}.value", "can't be blank")
    value = _value(source, op, raw["value"], f"{path}.value")
    out = {"source": source, "operator": op, "value": value}
    if source in ("field", "event"):
        out["field"] = name.strip()
    return out


def _value(source: str, op: str, value: Any, path: str) -> Any:
    if source == "list":
        ids = value if isinstance(value, list) else [value]
        try:
            parsed = [int(v) for v in ids if not isinstance(v, bool)]
        except (TypeError, ValueError):
            parsed = []
        if not parsed or len(parsed) != len(ids):
            raise _fail(path, "must be a list id or an array of list ids")
        return parsed
    if source == "subscription_status":
        if str(value).lower() not in STATUSES:
            raise _fail(path, f"must be one of: {', '.join(STATUSES)}")
        return str(value).lower()
    if op in ("gt", "lt"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _fail(path, f"must be a number for '{op}'")
        return value
    if op in ("before", "after"):
        if isinstance(value, dict) and set(value) == {"days_ago"}:
            days = value["days_ago"]
            if isinstance(days, bool) or not isinstance(days, int) or days < 0:
                raise _fail(path, "days_ago must be a non-negative integer")
            return {"days_ago": days}
        if isinstance(value, str) and _parse_date(value) is not None:
            return value
        raise _fail(path, f"must be a date (YYYY-MM-DD), a date-time or {{\"days_ago\": N}} for '{op}'")
    if op in ("contains", "not_contains"):
        if not isinstance(value, str) or value == "":
            raise _fail(path, f"must be a non-empty string for '{op}'")
        return value
    if value is not None and not isinstance(value, (str, int, float, bool)):
        raise _fail(path, "must be a string, number, boolean or null")
    return value


# ------------------------------------------------------------------ evaluation


def evaluate(group: dict[str, Any], subject: Subject) -> bool:
    """True when the (validated) group matches the subject."""
    results = (
        evaluate(c, subject) if "conditions" in c else _test(c, subject)
        for c in group["conditions"]
    )
    return all(results) if group["match"] == "all" else any(results)


_MISSING = object()


def _test(cond: dict[str, Any], subject: Subject) -> bool:
    source, op, expected = cond["source"], cond["operator"], cond["value"]
    if source == "list":
        member = any(int(v) in subject.list_ids for v in expected)
        return member if op == "is" else not member
    if source == "subscription_status":
        same = (subject.status or "").lower() == expected
        return same if op == "is" else not same
    if source == "email":
        actual: Any = subject.email
    elif source == "event":
        actual = subject.event_params.get(cond["field"], _MISSING)
    else:
        actual = _field(subject.fields, cond["field"])
    if actual is _MISSING or actual is None or actual == "":
        return False  # seed-E G5
    return _compare(op, actual, expected, subject.now)


def _field(fields: dict[str, Any], name: str) -> Any:
    if name in fields:
        return fields[name]
    lowered = name.lower()
    for key, value in fields.items():
        if key.lower() == lowered:
            return value
    return _MISSING


def _compare(op: str, actual: Any, expected: Any, now: datetime) -> bool:
    if op in ("is", "is_not"):
        same = _equal(actual, expected)
        return same if op == "is" else not same
    if op in ("contains", "not_contains"):
        if isinstance(actual, list):
            found = any(str(a).lower() == expected.lower() for a in actual)
        else:
            found = expected.lower() in str(actual).lower()
        return found if op == "contains" else not found
    if op in ("gt", "lt"):
        number = _number(actual)
        if number is None:
            return False
        return number > expected if op == "gt" else number < expected
    when = _parse_date(actual) if isinstance(actual, str) else (
        actual if isinstance(actual, datetime) else None)
    if when is None:
        return False
    if isinstance(expected, dict):
        bound = now - timedelta(days=expected["days_ago"])
    else:
        bound = _parse_date(expected)
    return when < bound if op == "before" else when > bound


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


def _parse_date(value: str) -> datetime | None:
    try:
        if len(value) == 10:
            d = date.fromisoformat(value)
            return datetime(d.year, d.month, d.day, tzinfo=UTC)
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
