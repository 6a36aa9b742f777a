"""Bulk actions on up to 1,000 selected contacts (seed 001): add to lists, remove from
lists, unsubscribe, delete. The irreversible ones need the confirmation word typed. The
contacts are changed ``WORKERS`` at a time, each exactly as a single update would."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from chalicelib.contacts import changes, contacts, lists
from chalicelib.contacts import fields as fields_mod
from chalicelib.contacts.common import MAX_BULK
from chalicelib.contacts.models import Contact
from chalicelib.core.errors import NotFound, Unprocessable

ACTIONS = ("add_to_lists", "remove_from_lists", "unsubscribe", "delete")
# Contacts changed at once. Each change is a few AWS round trips (read, conditional write,
# event publish); one after another, 1,000 of them could outlast API Gateway's 29 s.
WORKERS = 16
CONFIRMATION = {"unsubscribe": "unsubscribe", "delete": "delete"}


def run(account_id: int, body: dict[str, Any]) -> dict[str, Any]:
    action = body.get("action")
    if action not in ACTIONS:
        raise Unprocessable.field("action", f"must be one of: {', '.join(ACTIONS)}")
    selected = body.get("contacts")
    if not isinstance(selected, list) or not selected or not all(isinstance(c, str) for c in selected):
        raise Unprocessable.field("contacts", "must be a non-empty array of contact ids or emails")
    if len(selected) > MAX_BULK:
        raise Unprocessable.field("contacts", f"bulk operations are limited to {MAX_BULK:,} contacts at once")
    word = CONFIRMATION.get(action)
    if word and body.get("confirm") != word:
        raise Unprocessable.field("confirm", f"type '{word}' to confirm; this can't be undone")
    change = changes.Change()
    if action in ("add_to_lists", "remove_from_lists"):
        ids, problem = lists.check_ids(body.get("list_ids"), lists.existing_ids(account_id), "list_ids")
        if problem or not ids:
            raise Unprocessable(problem or {"list_ids": ["choose at least one list"]})
        if action == "add_to_lists":
            change.add_lists = ids
        else:
            change.remove_lists = ids
    elif action == "unsubscribe":
        change.unsubscribed = True
    schema = fields_mod.schema(account_id)
    mutate = _mutator(change, schema)

    def apply(identifier: str) -> bool:
        """One contact's change; False if there is no such contact."""
        try:
            if action == "delete":
                contacts.delete_contact(account_id, identifier)
            else:
                contacts.update_with_retry(account_id, identifier, mutate)
        except (NotFound, contacts.ContactsNotFound):
            return False
        return True

    unique = list(dict.fromkeys(selected))
    with ThreadPoolExecutor(max_workers=min(WORKERS, len(unique))) as pool:
        outcomes = list(pool.map(apply, unique))
    missing = [identifier for identifier, found in zip(unique, outcomes, strict=True) if not found]
    return {"action": action, "processed": len(unique) - len(missing), "not_found": missing}


def _mutator(change: changes.Change, schema: fields_mod.Schema):
    def mutate(contact: Contact) -> list[dict[str, Any]]:
        return changes.apply(contact, change, schema, source="bulk", created=False)
    return mutate
