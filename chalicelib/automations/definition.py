"""An automation's definition: one trigger and a tree of steps, parsed and validated.

The API takes the best of the three vendors (seed-E §6): Mailtrap's triggers, actions and
rules, Misar's ``trigger_type``/``trigger_config`` and its flat ``{delay_minutes,
template_id, subject}`` steps, TopMail's trigger names. Everything is normalised to one
canonical form, which is what is stored, compiled and returned.

Steps form a tree: a list runs top to bottom; a ``conditional_split`` ends its list and
continues in its ``yes`` and ``no`` lists. Every step carries an integer ``id`` unique in
its automation and kept across edits (per-step stats follow it).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from chalicelib.automations import conditions
from chalicelib.core.emails import valid_email
from chalicelib.core.errors import Unprocessable

# ------------------------------------------------------------------ triggers

CONTACT_CREATED = "contact_created"
FIELD_UPDATED = "contact_field_updated"
ADDED_TO_LIST = "contact_added_to_list"
REMOVED_FROM_LIST = "contact_removed_from_list"
CUSTOM_EVENT = "contact_custom_event"
RE_ENGAGEMENT = "re_engagement"
TRIGGER_TYPES = (CONTACT_CREATED, FIELD_UPDATED, ADDED_TO_LIST, REMOVED_FROM_LIST, CUSTOM_EVENT, RE_ENGAGEMENT)
TRIGGER_ALIASES = {
    "signup": CONTACT_CREATED, "created": CONTACT_CREATED,  # TopMail
    "field_updated": FIELD_UPDATED,
    "added_to_list": ADDED_TO_LIST, "welcome_email": ADDED_TO_LIST,  # TopMail, Misar
    "removed_from_list": REMOVED_FROM_LIST,
    "custom": CUSTOM_EVENT, "custom_event": CUSTOM_EVENT, "api_event": CUSTOM_EVENT,
    "abandoned_cart": CUSTOM_EVENT,  # Misar: the custom event "cart_abandoned"
    "inactive": RE_ENGAGEMENT,
}
MAX_INACTIVE_DAYS = 3650

# ------------------------------------------------------------------ steps

SEND_EMAIL = "send_email"
UPDATE_FIELD = "update_contact_field"
UNSUBSCRIBE = "unsubscribe_contact"
ADD_TO_LISTS = "add_to_lists"
REMOVE_FROM_LISTS = "remove_from_lists"
TIME_DELAY = "time_delay"
SPLIT = "conditional_split"
ACTIONS = (SEND_EMAIL, UPDATE_FIELD, UNSUBSCRIBE, ADD_TO_LISTS, REMOVE_FROM_LISTS)
STEP_TYPES = (*ACTIONS, TIME_DELAY, SPLIT)
STEP_ALIASES = {
    "email": SEND_EMAIL, "update_field": UPDATE_FIELD, "unsubscribe": UNSUBSCRIBE,
    "add_to_list": ADD_TO_LISTS, "remove_from_list": REMOVE_FROM_LISTS,
    "delay": TIME_DELAY, "wait": TIME_DELAY, "split": SPLIT, "condition": SPLIT,
}
UNIT_SECONDS = {"minutes": 60, "hours": 3600, "days": 86400, "weeks": 604800}
UNIT_ALIASES = {"minute": "minutes", "hour": "hours", "day": "days", "week": "weeks"}
MAX_STEPS = 100
MAX_SPLIT_DEPTH = 10
MAX_LISTS = 50
# Step Functions standard workflows run for at most a year; so does any path through the tree.
MAX_PATH_DELAY_SECONDS = 365 * 86400


def _fail(path: str, message: str) -> Unprocessable:
    return Unprocessable.field(path, message)


# ------------------------------------------------------------------ trigger parsing


def parse_trigger(trigger_type: Any, config: Any) -> tuple[str, dict[str, Any]]:
    """Canonical (trigger_type, trigger_config) or a 422 naming the bad key."""
    if not isinstance(trigger_type, str) or not trigger_type.strip():
        raise _fail("trigger_type", "can't be blank")
    raw_type = trigger_type.strip().lower()
    kind = TRIGGER_ALIASES.get(raw_type, raw_type)
    if kind not in TRIGGER_TYPES:
        raise _fail("trigger_type", f"'{trigger_type}' is not a trigger type; use one of: {', '.join(TRIGGER_TYPES)}")
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise _fail("trigger_config", "must be an object")
    out: dict[str, Any] = {}
    if kind == FIELD_UPDATED:
        name = config.get("field", config.get("merge_tag"))
        if not isinstance(name, str) or not name.strip():
            raise _fail("trigger_config.field", "can't be blank (the field whose change starts the automation)")
        out["field"] = name.strip()
    elif kind in (ADDED_TO_LIST, REMOVED_FROM_LIST):
        raw = config.get("list_ids", [config["list_id"]] if config.get("list_id") is not None else [])
        out["list_ids"] = _list_ids(raw, "trigger_config.list_ids", allow_empty=True)
    elif kind == CUSTOM_EVENT:
        name = config.get("event_name", config.get("event", config.get("name")))
        if name is None and raw_type == "abandoned_cart":
            name = "cart_abandoned"
        if not isinstance(name, str) or not name.strip():
            raise _fail("trigger_config.event_name", "can't be blank (it must equal the event name sent to the API)")
        if len(name) > 255:
            raise _fail("trigger_config.event_name", "is too long (maximum is 255 characters)")
        out["event_name"] = name.strip()
    elif kind == RE_ENGAGEMENT:
        days = config.get("inactive_days")
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_INACTIVE_DAYS:
            raise _fail("trigger_config.inactive_days", f"must be a whole number of days from 1 to {MAX_INACTIVE_DAYS}")
        out["inactive_days"] = days
    return kind, out


def _list_ids(raw: Any, path: str, allow_empty: bool = False) -> list[int]:
    if not isinstance(raw, list):
        raw = [raw]
    ids: list[int] = []
    for value in raw:
        if isinstance(value, bool):
            raise _fail(path, "must be an array of list ids")
        try:
            ids.append(int(value))
        except (TypeError, ValueError):
            raise _fail(path, "must be an array of list ids") from None
    if not ids and not allow_empty:
        raise _fail(path, "can't be blank")
    if len(ids) > MAX_LISTS:
        raise _fail(path, f"can name at most {MAX_LISTS} lists")
    return sorted(set(ids))


# ------------------------------------------------------------------ step parsing


class _Ids:
    """Hands out step ids: a step keeps an id it was given if that id is free."""

    def __init__(self, next_id: int) -> None:
        self.next_id = next_id
        self.used: set[int] = set()

    def take(self, wanted: Any) -> int:
        if isinstance(wanted, int) and not isinstance(wanted, bool) and wanted > 0 and wanted not in self.used:
            self.used.add(wanted)
            self.next_id = max(self.next_id, wanted + 1)
            return wanted
        while self.next_id in self.used:
            self.next_id += 1
        self.used.add(self.next_id)
        self.next_id += 1
        return self.next_id - 1


def parse_steps(raw: Any, next_id: int = 1) -> tuple[list[dict[str, Any]], int]:
    """Validate a step tree; returns (canonical steps, the next free step id)."""
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise _fail("steps", "must be an array")
    ids = _Ids(next_id)
    steps = _parse_list(raw, "steps", ids, depth=0)
    total = sum(1 for _ in walk(steps))
    if total > MAX_STEPS:
        raise _fail("steps", f"can have at most {MAX_STEPS} steps")
    for path_delay in _path_delays(steps, 0):
        if path_delay > MAX_PATH_DELAY_SECONDS:
            raise _fail("steps", "the delays on one path add up to more than a year")
    _link_engagement(steps, "steps", [])
    return steps, ids.next_id


def _link_engagement(steps: list[dict[str, Any]], path: str, emails_above: list[int]) -> None:
    """Point each ``email.opened`` / ``email.clicked`` condition at a send-email step above its
    split on the same path: the one it names, or the nearest one."""
    emails = list(emails_above)
    for i, step in enumerate(steps):
        where = f"{path}[{i}]"
        if step["type"] == SEND_EMAIL:
            emails.append(step["id"])
        elif step["type"] == SPLIT:
            for cond in conditions.engagement_conditions(step["conditions"]):
                if "step_id" not in cond and emails:
                    cond["step_id"] = emails[-1]
                if cond.get("step_id") not in emails:
                    raise _fail(f"{where}.conditions", f"{cond['field']} needs a send_email step before the "
                                                       "split on its path ('step_id' names one)")
            _link_engagement(step["yes"], f"{where}.yes", emails)
            _link_engagement(step["no"], f"{where}.no", emails)


def _parse_list(raw: list[Any], path: str, ids: _Ids, depth: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i, item in enumerate(raw):
        where = f"{path}[{i}]"
        if not isinstance(item, dict):
            raise _fail(where, "must be an object with a 'type'")
        if "type" not in item and "template_id" in item:
            out.extend(_misar_step(item, where, ids))  # {delay_minutes, template_id, subject}
            continue
        step = _parse_step(item, where, ids, depth)
        if step["type"] == SPLIT and i != len(raw) - 1:
            raise _fail(where, "a conditional split must be the last step of its list; "
                               "put the steps after it in its 'yes' or 'no' branch")
        out.append(step)
    return out


def _misar_step(item: dict[str, Any], where: str, ids: _Ids) -> list[dict[str, Any]]:
    delay = item.get("delay_minutes", 0)
    if isinstance(delay, bool) or not isinstance(delay, (int, float)) or delay < 0:
        raise _fail(f"{where}.delay_minutes", "must be a number of minutes, 0 or more")
    steps = []
    if delay:
        steps.append({"id": ids.take(None), "type": TIME_DELAY, **_delay_amount(int(delay), "minutes", where)})
    email = {k: v for k, v in item.items() if k != "delay_minutes"}
    email["type"] = SEND_EMAIL
    steps.append(_parse_step(email, where, ids, 0))
    return steps


def _parse_step(item: dict[str, Any], where: str, ids: _Ids, depth: int) -> dict[str, Any]:
    raw_type = item.get("type")
    kind = STEP_ALIASES.get(str(raw_type).lower(), str(raw_type).lower()) if raw_type else None
    if kind not in STEP_TYPES:
        raise _fail(f"{where}.type", f"must be one of: {', '.join(STEP_TYPES)}")
    step: dict[str, Any] = {"id": ids.take(item.get("id")), "type": kind}
    if kind == SEND_EMAIL:
        step.update(_send_email(item, where))
    elif kind == UPDATE_FIELD:
        name = item.get("field", item.get("merge_tag"))
        if not isinstance(name, str) or not name.strip():
            raise _fail(f"{where}.field", "can't be blank")
        if "value" not in item:
            raise _fail(f"{where}.value", "is required (null clears the field)")
        value = item["value"]
        if value is not None and not isinstance(value, (str, int, float, bool)):
            raise _fail(f"{where}.value", "must be a string, number, boolean or null")
        if isinstance(value, str) and len(value) > 255:
            raise _fail(f"{where}.value", "is too long (maximum is 255 characters)")
        step.update(field=name.strip(), value=value)
    elif kind in (ADD_TO_LISTS, REMOVE_FROM_LISTS):
        raw = item.get("list_ids", [item["list_id"]] if item.get("list_id") is not None else [])
        step["list_ids"] = _list_ids(raw, f"{where}.list_ids")
    elif kind == TIME_DELAY:
        if "delay_minutes" in item and "amount" not in item:
            step.update(_delay_amount(item["delay_minutes"], "minutes", where))
        else:
            step.update(_delay_amount(item.get("amount"), item.get("unit"), where))
    elif kind == SPLIT:
        if depth >= MAX_SPLIT_DEPTH:
            raise _fail(where, f"conditional splits can nest at most {MAX_SPLIT_DEPTH} deep")
        group = item.get("conditions")
        if isinstance(group, list) and "match" in item:
            group = {"match": item["match"], "conditions": group}
        step["conditions"] = conditions.parse(group, f"{where}.conditions")
        for branch in ("yes", "no"):
            raw_branch = item.get(branch, [])
            if raw_branch is None:
                raw_branch = []
            if not isinstance(raw_branch, list):
                raise _fail(f"{where}.{branch}", "must be an array of steps")
            step[branch] = _parse_list(raw_branch, f"{where}.{branch}", ids, depth + 1)
    return step


def _send_email(item: dict[str, Any], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    template = item.get("template_id", item.get("template_uuid"))
    if isinstance(template, bool) or not isinstance(template, (int, str)) or str(template).strip() == "":
        raise _fail(f"{where}.template_id", "can't be blank")
    out["template_id"] = template if isinstance(template, int) else template.strip()
    subject = item.get("subject")
    if subject is not None:
        if not isinstance(subject, str):
            raise _fail(f"{where}.subject", "must be a string")
        if len(subject) > 255:
            raise _fail(f"{where}.subject", "is too long (maximum is 255 characters)")
        if subject.strip():
            out["subject"] = subject
    sender = item.get("from_email", item.get("from"))
    if isinstance(sender, dict):
        if item.get("from_name") is None and sender.get("name"):
            out["from_name"] = str(sender["name"])
        sender = sender.get("email")
    if sender is not None:
        email = valid_email(sender)  # the sending API's definition, so a valid step is sendable
        if email is None:
            raise _fail(f"{where}.from_email", "is invalid")
        out["from_email"] = email
    name = item.get("from_name")
    if name is not None:
        if not isinstance(name, str) or len(name) > 255:
            raise _fail(f"{where}.from_name", "must be a string of at most 255 characters")
        out["from_name"] = name
    return out


def _delay_amount(amount: Any, unit: Any, where: str) -> dict[str, Any]:
    unit_name = UNIT_ALIASES.get(str(unit).lower(), str(unit).lower()) if unit is not None else None
    if unit_name not in UNIT_SECONDS:
        raise _fail(f"{where}.unit", "must be one of: minutes, hours, days, weeks")
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 1:
        raise _fail(f"{where}.amount", "must be a whole number, 1 or more")
    if amount * UNIT_SECONDS[unit_name] > MAX_PATH_DELAY_SECONDS:
        raise _fail(f"{where}.amount", "can't be more than a year")
    return {"amount": amount, "unit": unit_name}


# ------------------------------------------------------------------ reading a tree


def walk(steps: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every step of the tree, depth first in reading order."""
    for step in steps:
        yield step
        if step["type"] == SPLIT:
            yield from walk(step["yes"])
            yield from walk(step["no"])


def _path_delays(steps: list[dict[str, Any]], so_far: int) -> Iterator[int]:
    total = so_far
    for step in steps:
        if step["type"] == TIME_DELAY:
            total += delay_seconds(step)
        if step["type"] == SPLIT:
            yield from _path_delays(step["yes"], total)
            yield from _path_delays(step["no"], total)
            return
    yield total


def delay_seconds(step: dict[str, Any]) -> int:
    return int(step["amount"]) * UNIT_SECONDS[step["unit"]]


def referenced(steps: list[dict[str, Any]]) -> dict[str, set[Any]]:
    """Templates, lists and fields the steps use (checked against their owners at activation)."""
    refs: dict[str, set[Any]] = {"templates": set(), "lists": set(), "fields": set(), "senders": set(),
                                 "senderless": set()}
    for step in walk(steps):
        if step["type"] == SEND_EMAIL:
            refs["templates"].add(step["template_id"])
            if step.get("from_email"):
                refs["senders"].add(step["from_email"])
            else:
                refs["senderless"].add(step["id"])
        elif step["type"] in (ADD_TO_LISTS, REMOVE_FROM_LISTS):
            refs["lists"].update(step["list_ids"])
        elif step["type"] == UPDATE_FIELD:
            refs["fields"].add(step["field"])
        elif step["type"] == SPLIT:
            refs["fields"].update(conditions.referenced_fields(step["conditions"]))
            refs["lists"].update(conditions.referenced_lists(step["conditions"]))
    return refs


def walk_paths(steps: list[dict[str, Any]], path: str = "steps") -> Iterator[tuple[str, dict[str, Any]]]:
    """Like ``walk``, with each step's position as the API names it (``steps[2].yes[0]``)."""
    for i, step in enumerate(steps):
        where = f"{path}[{i}]"
        yield where, step
        if step["type"] == SPLIT:
            yield from walk_paths(step["yes"], f"{where}.yes")
            yield from walk_paths(step["no"], f"{where}.no")


def label(step: dict[str, Any]) -> str:
    """A short human description, used for state names and a run's current step."""
    kind = step["type"]
    if kind == SEND_EMAIL:
        return f"Send email (template {step['template_id']})"
    if kind == UPDATE_FIELD:
        return f"Update field {step['field']}"
    if kind == UNSUBSCRIBE:
        return "Unsubscribe contact"
    if kind == ADD_TO_LISTS:
        return "Add to lists " + ", ".join(map(str, step["list_ids"]))
    if kind == REMOVE_FROM_LISTS:
        return "Remove from lists " + ", ".join(map(str, step["list_ids"]))
    if kind == TIME_DELAY:
        unit = step["unit"] if step["amount"] != 1 else step["unit"][:-1]
        return f"Wait {step['amount']} {unit}"
    return "Conditional split"
