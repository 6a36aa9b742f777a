"""Contact lists: static groups with unique names (seed 001: at most 50, names up to 100).

Membership is on the contact (``list_ids``); a deleted list's id disappears from every
response at once (reads keep only existing lists) and a background task removes it from
the items. Ids are never reused, so a stale id can never point at another list.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib.contacts import meta, tasks
from chalicelib.contacts.common import mailable, now_ms
from chalicelib.contacts.models import Contact
from chalicelib.core import ids
from chalicelib.core.errors import NotFound, Unprocessable

MAX_LISTS = 50
DUPLICATE_NAME = "List names must be unique. You cannot create duplicate list names."

# (account_id, list_id) -> message naming what uses the list, or None (segments register one)
USAGE_CHECKS: list[Callable[[int, int], str | None]] = []


@dataclass(frozen=True)
class ContactList:
    id: int
    name: str
    created_at: int

    def to_wire(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name}


def _from_defs(defs: dict[str, dict[str, Any]]) -> list[ContactList]:
    return sorted((ContactList(int(k), v["name"], int(v.get("created_at", 0))) for k, v in defs.items()),
                  key=lambda item: item.id)


def all_lists(account_id: int) -> list[ContactList]:
    return _from_defs(meta.definitions(account_id, meta.LISTS))


def existing_ids(account_id: int) -> set[int]:
    return {item.id for item in all_lists(account_id)}


def list_lists(account_id: int, search: str | None = None) -> list[ContactList]:
    """Every list; ``search`` keeps names starting with it, case-insensitively (as the SDK documents)."""
    items = all_lists(account_id)
    if search:
        prefix = search.strip().lower()
        items = [item for item in items if item.name.lower().startswith(prefix)]
    return items


def get_list(account_id: int, list_id: Any) -> ContactList:
    try:
        wanted = int(list_id)
    except (TypeError, ValueError):
        raise NotFound() from None
    for item in all_lists(account_id):
        if item.id == wanted:
            return item
    raise NotFound()


def _taken(defs: dict[str, dict[str, Any]], name: str, skip: str | None = None) -> bool:
    return any(key != skip and other["name"].lower() == name.lower() for key, other in defs.items())


def create_list(account_id: int, name: str) -> ContactList:
    """``name``: stripped, not blank, within the length (``ContactListWrite``); unique here."""
    list_id = ids.next_id("contact_list")

    def add(defs: dict[str, dict[str, Any]]) -> ContactList:
        if _taken(defs, name):
            raise Unprocessable.field("name", DUPLICATE_NAME)
        if len(defs) >= MAX_LISTS:
            raise Unprocessable(f"You can have up to {MAX_LISTS} lists")
        created = now_ms()
        defs[str(list_id)] = {"name": name, "created_at": created}
        return ContactList(list_id, name, created)

    return meta.mutate_definitions(account_id, meta.LISTS, add)


def rename_list(account_id: int, list_id: Any, name: str) -> ContactList:
    current = get_list(account_id, list_id)

    def change(defs: dict[str, dict[str, Any]]) -> ContactList:
        key = str(current.id)
        if key not in defs:
            raise NotFound()
        if _taken(defs, name, skip=key):
            raise Unprocessable.field("name", DUPLICATE_NAME)
        defs[key]["name"] = name
        return ContactList(current.id, name, current.created_at)

    return meta.mutate_definitions(account_id, meta.LISTS, change)


def delete_list(account_id: int, list_id: Any) -> None:
    current = get_list(account_id, list_id)
    usage = [message for check in USAGE_CHECKS if (message := check(account_id, current.id))]
    if usage:
        raise Unprocessable({"usage": usage})

    def remove(defs: dict[str, dict[str, Any]]) -> None:
        if defs.pop(str(current.id), None) is None:
            raise NotFound()

    meta.mutate_definitions(account_id, meta.LISTS, remove)
    tasks.enqueue({"kind": "purge_list", "account_id": int(account_id), "list_id": current.id})


def recipients(account_id: int, list_id: Any):
    """The contacts a campaign to this list may mail: its members that common.mailable allows."""
    current = get_list(account_id, list_id)
    members = Contact.query(int(account_id), filter_condition=Contact.list_ids.contains(current.id))
    return (contact for contact in members if mailable(contact))


def check_ids(raw: Any, known: set[int], name: str) -> tuple[set[int], dict[str, list[str]]]:
    """Parse a list of list ids; unknown ids or non-integers are "contains invalid data"."""
    if raw is None:
        return set(), {}
    if not isinstance(raw, list):
        return set(), {name: ["must be an array of list ids"]}
    out: set[int] = set()
    for value in raw:
        if isinstance(value, bool):
            return set(), {name: ["contains invalid data"]}
        try:
            list_id = int(value)
        except (TypeError, ValueError):
            return set(), {name: ["contains invalid data"]}
        if list_id not in known:
            return set(), {name: ["contains invalid data"]}
        out.add(list_id)
    return out, {}


def overlap_message(included: set[int], excluded: set[int]) -> str | None:
    """Mailtrap's words for ids both included and excluded, e.g. "same list_ids 1, 2 and 3 ..."."""
    both = sorted(included & excluded)
    if not both:
        return None
    names = [str(i) for i in both]
    joined = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return f"same list_ids {joined} are specified both as included and excluded"
