"""Identifiers: atomic integer ids (the SDK validates ints for most resources) and UUIDs."""

from __future__ import annotations

import uuid
from typing import Any

from pynamodb.attributes import NumberAttribute, UnicodeAttribute

from chalicelib.core.db import BaseModel, table_name
from chalicelib.core.errors import NotFound


class Counter(BaseModel):
    """One item per id sequence; UpdateItem ADD makes allocation atomic across Lambdas."""

    class Meta:
        table_name = table_name("counters")

    name = UnicodeAttribute(hash_key=True)
    value = NumberAttribute(default=0)


def next_id(sequence: str) -> int:
    """Allocate the next integer id of a sequence (``account``, ``api_token``, ``domain``...)."""
    item = Counter(sequence)
    item.update(actions=[Counter.value.add(1)])
    return int(item.value)


def new_uuid() -> str:
    return str(uuid.uuid4())


def is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
        return True
    except ValueError:
        return False


def path_id(value: Any) -> int:
    """An integer id from a URL path; anything else names nothing (404, not a 500)."""
    try:
        return int(value)
    except (TypeError, ValueError):
        raise NotFound() from None
