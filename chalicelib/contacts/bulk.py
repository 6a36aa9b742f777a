"""Bulk actions on up to 1,000 selected contacts (seed 001): add to lists, remove from
lists, unsubscribe, delete. The irreversible ones need the confirmation word typed. The
contacts are changed ``WORKERS`` at a time, each exactly as a single update would."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from chalicelib.contacts import changes, contacts, lists
from chalicelib.contacts import fields as fields_mod
from chalicelib.contacts.models import Contact
from chalicelib.contacts.request_models import ContactBulkAction
from chalicelib.core.errors import NotFound, Unprocessable

# Contacts changed at once. Each change is a few AWS round trips (read, conditional write,
# event publish); one after another, 1,000 of them could outlast API Gateway's 29 s.
WORKERS = 16


def run(account_id: int, params: ContactBulkAction) -> dict[str, Any]:
    action, selected = params.action, params.contacts
    change = changes.Change()
    if action in ("add_to_lists", "remove_from_lists"):
        ids, problem = lists.check_ids(params.list_ids, lists.existing_ids(account_id), "list_ids")
        if problem:
            raise Unprocessable(problem)
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
