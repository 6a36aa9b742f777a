"""Background work on the ``contact-tasks`` queue: exports, and removing a deleted field's
values or a deleted list's id from the contacts that still carry them. The consumer
(``worker.run_task``) routes each message; this module only queues and does the clean-ups,
so fields and lists, which queue them, do not import exports."""

from __future__ import annotations

from typing import Any

from pynamodb.exceptions import UpdateError

from chalicelib.contacts.models import Contact
from chalicelib.core import db, queues

QUEUE = queues.register("contact-tasks")


def enqueue(body: dict[str, Any]) -> None:
    queues.send(QUEUE, body)


def _each_update(account_id: int, condition: Any, action_for: Any) -> int:
    done = 0
    for contact in Contact.query(account_id, filter_condition=condition):
        try:  # one path per item: atomic, and never re-creates a contact deleted meanwhile
            contact.update(actions=[action_for()], condition=Contact.email_key.exists())
            done += 1
        except UpdateError as exc:
            if not db.condition_failed(exc):
                raise
    return done


def purge_field(account_id: int, field_id: int) -> int:
    path = Contact.fields[f"f{field_id}"]
    return _each_update(account_id, path.exists(), path.remove)


def purge_list(account_id: int, list_id: int) -> int:
    return _each_update(account_id, Contact.list_ids.contains(list_id), lambda: Contact.list_ids.delete({list_id}))
