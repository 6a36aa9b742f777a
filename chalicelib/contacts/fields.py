"""Custom contact fields: definitions, limits, and converting values to a field's type.

Contacts store values under the field's id ("f<id>"), not its merge tag, so renaming a
merge tag touches no contact. A deleted field's values disappear from every response at
once (reads keep only defined fields) and are removed from the items by a background task.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from chalicelib.contacts import meta, tasks
from chalicelib.contacts.common import MAX_TEXT, now_ms
from chalicelib.core import ids
from chalicelib.core.errors import NotFound, Unprocessable

DATA_TYPES = ("text", "integer", "float", "boolean", "date")
MAX_FIELDS = 40
_INTEGER = re.compile(r"^[+-]?\d+$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ].*)?$")
# What a DynamoDB number can hold: 38 significant digits, magnitude 1E-130 to under 1E+126.
MAX_INTEGER = 10**38 - 1
FLOAT_RANGE = (1e-130, 1e126)
OUT_OF_RANGE = "is out of range (at most 38 digits, magnitude from 1e-130 to below 1e126)"
_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f"}

_KEEP = object()  # update_field: the data type was not sent

# Other capabilities (automations, campaigns) add a check that names what uses a field:
# (account_id, field) -> message or None. Segments register theirs in segments.py.
USAGE_CHECKS: list[Callable[[int, Field], str | None]] = []


@dataclass(frozen=True)
class Field:
    id: int
    name: str
    merge_tag: str
    data_type: str

    @property
    def key(self) -> str:
        return f"f{self.id}"

    def to_wire(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "data_type": self.data_type, "merge_tag": self.merge_tag}


class Schema:
    """An account's field definitions, looked up by id, storage key or merge tag."""

    def __init__(self, defs: dict[str, dict[str, Any]]) -> None:
        self.fields = sorted((Field(int(k), v["name"], v["merge_tag"], v["data_type"]) for k, v in defs.items()),
                             key=lambda f: f.id)
        self.by_key = {f.key: f for f in self.fields}
        self.by_tag = {f.merge_tag: f for f in self.fields}
        self.by_id = {f.id: f for f in self.fields}

    def to_wire_values(self, stored: dict[str, Any]) -> dict[str, Any]:
        """Stored values ("f<id>" keys) as the API shows them (merge tags); unknown keys dropped."""
        return {self.by_key[k].merge_tag: v for k, v in stored.items() if k in self.by_key and v is not None}

    def convert_values(self, raw: Any) -> tuple[dict[str, Any], dict[str, list[str]]]:
        """Validate ``{merge_tag: value}``; returns ({"f<id>": converted or None}, errors).

        ``None`` clears a value. Unknown merge tags are an error ("fields").
        """
        if raw is None:
            return {}, {}
        if not isinstance(raw, dict):
            return {}, {"fields": ["must be an object of merge tags and values"]}
        out: dict[str, Any] = {}
        errors: dict[str, list[str]] = {}
        unknown = [tag for tag in raw if tag not in self.by_tag]
        if unknown:
            errors["fields"] = [f"contains invalid values: {', '.join(sorted(map(str, unknown)))}"]
        for tag, value in raw.items():
            field = self.by_tag.get(tag)
            if field is None:
                continue
            try:
                out[field.key] = convert(field.data_type, value)
            except ValueError as exc:
                errors.setdefault(tag, []).append(str(exc))
        return out, errors


def schema(account_id: int) -> Schema:
    return Schema(meta.definitions(account_id, meta.FIELDS))


def convert(data_type: str, value: Any) -> Any:
    """A value converted to the field's type; ValueError carries a message for the 422."""
    if value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
        if value == "":
            return None
    if data_type == "text":
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ValueError("must be a string")
        text = value if isinstance(value, str) else str(value)
        if len(text) > MAX_TEXT:
            raise ValueError(f"is too long (maximum is {MAX_TEXT} characters)")
        return text
    if data_type == "integer":
        if isinstance(value, bool):
            raise ValueError("must be an integer")
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        elif isinstance(value, str) and _INTEGER.match(value):
            value = int(value)
        if not isinstance(value, int):
            raise ValueError("must be an integer")
        if abs(value) > MAX_INTEGER:
            raise ValueError(OUT_OF_RANGE)
        return value
    if data_type == "float":
        if isinstance(value, bool):
            raise ValueError("must be a number")
        if isinstance(value, (int, float)):
            number = float(value)
        else:
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise ValueError("must be a number") from None
        if number != number or number in (float("inf"), float("-inf")):
            raise ValueError("must be a number")
        if number and not FLOAT_RANGE[0] <= abs(number) < FLOAT_RANGE[1]:
            raise ValueError(OUT_OF_RANGE)
        return number
    if data_type == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
            return value.lower() in _TRUE
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise ValueError("must be true or false")
    if data_type == "date":
        # "YYYY-MM-DD"; a full ISO timestamp keeps its date
        if isinstance(value, str) and _DATE.match(value):
            try:
                return date.fromisoformat(value[:10]).isoformat()
            except ValueError:
                pass
        raise ValueError("must be a date in YYYY-MM-DD format")
    raise ValueError("has an unknown type")


# ---------------------------------------------------------------- definitions API


def list_fields(account_id: int) -> list[Field]:
    return schema(account_id).fields


def get_field(account_id: int, field_id: Any) -> Field:
    try:
        wanted = int(field_id)
    except (TypeError, ValueError):
        raise NotFound() from None
    field = schema(account_id).by_id.get(wanted)
    if field is None:
        raise NotFound()
    return field


def _unique(defs: dict[str, dict[str, Any]], name: str | None, tag: str | None, errors: dict[str, list[str]],
            skip: str | None = None) -> None:
    for key, other in defs.items():
        if key == skip:
            continue
        if name and other["name"].lower() == name.lower():
            errors.setdefault("name", []).append("has already been taken")
        if tag and other["merge_tag"] == tag:
            errors.setdefault("merge_tag", []).append("has already been taken")


def create_field(account_id: int, name: str, tag: str, data_type: str) -> Field:
    """A new field (``ContactFieldCreate`` checked the values; uniqueness and the limit are checked here)."""
    field_id = ids.next_id("contact_field")

    def add(defs: dict[str, dict[str, Any]]) -> Field:
        problems: dict[str, list[str]] = {}
        _unique(defs, name, tag, problems)
        if problems:
            raise Unprocessable(problems)
        if len(defs) >= MAX_FIELDS:
            raise Unprocessable(f"You can have up to {MAX_FIELDS} fields")
        defs[str(field_id)] = {"name": name, "merge_tag": tag, "data_type": data_type, "created_at": now_ms()}
        return Field(field_id, name, tag, data_type)

    return meta.mutate_definitions(account_id, meta.FIELDS, add)


def update_field(account_id: int, field_id: Any, name: str | None = None, tag: str | None = None,
                 data_type: Any = _KEEP) -> Field:
    """Rename a field or change its merge tag (None keeps it); ``data_type``, when sent, must be the field's."""
    current = get_field(account_id, field_id)
    name, tag = name or current.name, tag or current.merge_tag
    if data_type is not _KEEP and data_type != current.data_type:
        raise Unprocessable.field("data_type", "can't be changed")

    def change(defs: dict[str, dict[str, Any]]) -> Field:
        key = str(current.id)
        if key not in defs:
            raise NotFound()
        problems: dict[str, list[str]] = {}
        _unique(defs, name, tag, problems, skip=key)
        if problems:
            raise Unprocessable(problems)
        defs[key].update({"name": name, "merge_tag": tag})
        return Field(current.id, name, tag, current.data_type)

    return meta.mutate_definitions(account_id, meta.FIELDS, change)


def delete_field(account_id: int, field_id: Any) -> None:
    field = get_field(account_id, field_id)
    usage = [message for check in USAGE_CHECKS if (message := check(account_id, field))]
    if usage:
        raise Unprocessable({"usage": usage})

    def remove(defs: dict[str, dict[str, Any]]) -> None:
        if defs.pop(str(field.id), None) is None:
            raise NotFound()

    meta.mutate_definitions(account_id, meta.FIELDS, remove)
    tasks.enqueue({"kind": "purge_field", "account_id": int(account_id), "field_id": field.id})
