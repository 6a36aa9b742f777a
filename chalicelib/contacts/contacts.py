"""Contacts: create, read, update-or-create and delete by UUID or email, list and search.

A contact's key is (account, lower-cased email): creating one is a put conditioned on that
key not existing, so two requests can never create the same email twice. Updates are
conditioned on the contact's sequence number (optimistic concurrency, retried).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from pynamodb.exceptions import PutError, TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.contacts import changes, lists, meta, outbox
from chalicelib.contacts import fields as fields_mod
from chalicelib.contacts.common import email_errors, email_key, new_contact_id, now_ms
from chalicelib.contacts.models import Contact, TimelineEntry, timeline_key
from chalicelib.contacts.request_models import STATUS_ON_CREATE, ContactCreate, ContactSearchQuery, ContactUpdate
from chalicelib.core import db
from chalicelib.core.config import settings
from chalicelib.core.errors import Conflict, NotFound, PostlineError, Unprocessable
from chalicelib.core.ids import is_uuid

CONTACTS_LIMIT_REACHED = "contacts limit reached"


class ContactsNotFound(PostlineError):
    """The body Mailtrap documents for DELETE of an unknown contact."""

    status = 404

    def __init__(self) -> None:
        super().__init__("Contact(s) not found")


@dataclass
class View:
    """What rendering a contact needs: the account's fields and lists."""

    schema: fields_mod.Schema
    list_ids: set[int]

    @classmethod
    def load(cls, account_id: int) -> View:
        return cls(fields_mod.schema(account_id), lists.existing_ids(account_id))

    def wire(self, contact: Contact) -> dict[str, Any]:
        values = self.schema.to_wire_values(meta.plain(contact.fields))
        for tag, value in values.items():
            values[tag] = _typed(self.schema.by_tag[tag].data_type, value)
        return {
            "id": contact.contact_id,
            "email": contact.email,
            "fields": values,
            "list_ids": sorted(int(i) for i in (contact.list_ids or ()) if int(i) in self.list_ids),
            "status": contact.status,
            "created_at": int(contact.created_at),
            "updated_at": int(contact.updated_at),
        }


def _typed(data_type: str, value: Any) -> Any:
    if data_type == "float":
        return float(value)
    if data_type == "integer":
        return int(value)
    return value


# ---------------------------------------------------------------- lookups


def find(account_id: int, identifier: str) -> Contact | None:
    """A contact by UUID or (URL-encoded) email, or None."""
    identifier = unquote(str(identifier)).strip()
    if "@" in identifier:
        try:
            return Contact.get(int(account_id), email_key(identifier), consistent_read=True)
        except Contact.DoesNotExist:
            return None
    if not is_uuid(identifier):
        return None
    for found in Contact.by_id.query(int(account_id), Contact.contact_id == identifier.lower()):
        return found
    return None


def require(account_id: int, identifier: str) -> Contact:
    contact = find(account_id, identifier)
    if contact is None:
        raise NotFound()
    return contact


def get_contact(account_id: int, identifier: str) -> dict[str, Any]:
    return View.load(account_id).wire(require(account_id, identifier))


# ---------------------------------------------------------------- input


def parse_change(params: ContactCreate | ContactUpdate, view: View, *,
                 creating: bool) -> tuple[changes.Change, dict[str, list[str]]]:
    """The change a (well-formed) request asks for, checked against the account's fields and
    lists; the errors are those of unknown merge tags or list ids and of contradictions."""
    errors: dict[str, list[str]] = {}
    values, field_errors = view.schema.convert_values(params.fields)
    errors.update(field_errors)
    change = changes.Change(values=values)
    change.add_lists, problem = lists.check_ids(params.list_ids, view.list_ids, "list_ids")
    errors.update(problem)
    included, problem = lists.check_ids(params.list_ids_included, view.list_ids, "list_ids_included")
    errors.update(problem)
    excluded, problem = lists.check_ids(params.list_ids_excluded, view.list_ids, "list_ids_excluded")
    errors.update(problem)
    overlap = lists.overlap_message(included, excluded)
    if overlap:
        errors.setdefault("base", []).append(overlap)
    change.add_lists |= included
    change.remove_lists = excluded
    change.unsubscribed = params.unsubscribed
    if params.status is not None:
        if not creating:
            errors["status"] = [STATUS_ON_CREATE]
        change.status = params.status
    return change, errors


# ---------------------------------------------------------------- writes


def _save_new(contact: Contact) -> bool:
    """Put a new contact unless its email exists; returns False if it does."""
    try:
        contact.save(condition=Contact.email_key.does_not_exist())
        return True
    except PutError as exc:
        if db.condition_failed(exc):
            return False
        raise


def _create(account_id: int, email: str, change: changes.Change, view: View, source: str) -> Contact:
    if not meta.reserve_contacts(account_id, 1, settings().contacts_limit):
        raise Unprocessable(CONTACTS_LIMIT_REACHED)
    at = now_ms()
    contact = Contact(int(account_id), email_key(email), contact_id=new_contact_id(), email=email.strip(),
                      created_at=at, updated_at=at, seq=0)
    try:
        events = changes.apply(contact, change, view.schema, source=source, created=True)
    except changes.Refused as refused:
        meta.release_contacts(account_id, 1)
        raise refused.to_error() from None
    outbox.assign(contact, events)
    outbox.mark_api_pending(contact)
    if not _save_new(contact):
        meta.release_contacts(account_id, 1)
        raise Unprocessable.field("email", "has already been taken")
    outbox.publish_and_settle(contact)
    return contact


def _key(account_id: int, identifier: str) -> str:
    """The contact's item key: the email itself, or (for a UUID) looked up through the index."""
    ident = unquote(str(identifier)).strip()
    return email_key(ident) if "@" in ident else require(account_id, identifier).email_key


def update_with_retry(account_id: int, identifier: str, mutate: Callable[[Contact], list[dict[str, Any]]],
                      *, found: Contact | None = None) -> Contact:
    """Re-read, mutate and conditionally save a contact until no concurrent write interferes.

    The key is resolved once (from ``found`` when the caller already looked the contact up);
    each try reads the item itself, consistently.
    """
    key = found.email_key if found is not None else _key(account_id, identifier)
    for _ in range(5):
        try:
            contact = Contact.get(int(account_id), key, consistent_read=True)
        except Contact.DoesNotExist:
            moved = require(account_id, identifier)  # deleted (a 404), or by UUID: its email changed meanwhile
            if moved.email_key == key:
                raise NotFound() from None
            key = moved.email_key
            continue
        old_seq = int(contact.seq or 0)
        outbox.keep_unsettled(contact)
        events = mutate(contact)
        if not events and not outbox.has_pending(contact):
            return contact
        outbox.assign(contact, events)
        outbox.mark_api_pending(contact)
        try:
            contact.save(condition=(Contact.seq == old_seq) if old_seq else Contact.email_key.exists())
        except PutError as exc:
            if db.condition_failed(exc):
                continue
            raise
        outbox.publish_and_settle(contact)
        return contact
    raise Conflict("The contact changed concurrently, try again")


def _move_email(contact: Contact, new_email: str, view: View) -> list[dict[str, Any]]:
    """Change the email, which is the key: put the new item and delete the old one atomically."""
    old_key, old_email, old_seq = contact.email_key, contact.email, int(contact.seq or 0)
    moved = Contact(contact.account_id, email_key(new_email), **{
        name: getattr(contact, name) for name in Contact.get_attributes() if name not in ("account_id", "email_key")})
    moved.email = new_email.strip()
    moved.updated_at = now_ms()
    event = outbox.new_event(moved, "field_updated", {"changes": {"email": {"old": old_email, "new": moved.email}}},
                             "api")
    outbox.keep_unsettled(moved)
    outbox.assign(moved, [event])
    outbox.mark_api_pending(moved)
    old = Contact(contact.account_id, old_key)
    try:
        with TransactWrite(connection=db.transactions()) as tx:
            tx.save(moved, condition=Contact.email_key.does_not_exist())
            tx.delete(old, condition=(Contact.seq == old_seq) if old_seq else Contact.email_key.exists())
    except TransactWriteError as exc:
        # pynamodb sends deletes before puts: reasons are [old item's delete, new item's put]
        reasons = [getattr(r, "code", None) for r in (exc.cancellation_reasons or [])]
        if len(reasons) == 2 and reasons[1] == "ConditionalCheckFailed":  # the new email exists
            raise Unprocessable.field("email", "has already been taken") from None
        raise Conflict("The contact changed concurrently, try again") from None
    outbox.publish_and_settle(moved)
    return [event]


def create_contact(account_id: int, params: ContactCreate) -> dict[str, Any]:
    view = View.load(account_id)
    change, errors = parse_change(params, view, creating=True)
    if errors:
        raise Unprocessable(errors)
    return view.wire(_create(account_id, params.email, change, view, "api"))


def upsert_contact(account_id: int, identifier: str, params: ContactUpdate) -> tuple[str, dict[str, Any]]:
    """PATCH: update the contact, or create it when the identifier is an unknown email."""
    view = View.load(account_id)
    existing = find(account_id, identifier)
    ident = unquote(str(identifier)).strip()
    if existing is None and "@" not in ident:
        raise NotFound()
    new_email = params.email
    change, errors = parse_change(params, view, creating=existing is None)
    if existing is None and not new_email and email_errors(ident):
        errors["email"] = email_errors(ident)
    if errors:
        raise Unprocessable(errors)
    if existing is None:
        created = _create(account_id, new_email or ident, change, view, "api")
        return "created", view.wire(created)

    def mutate(contact: Contact) -> list[dict[str, Any]]:
        try:
            return changes.apply(contact, change, view.schema, source="api", created=False)
        except changes.Refused as refused:
            raise refused.to_error() from None

    contact = update_with_retry(account_id, identifier, mutate, found=existing)
    if new_email and email_key(new_email) != contact.email_key:
        _move_email(contact, new_email, view)
        contact = require(account_id, new_email)
    elif new_email and new_email.strip() != contact.email:  # only the letter case differs
        def recase(c: Contact) -> list[dict[str, Any]]:
            old = c.email
            c.email = new_email.strip()
            return [outbox.new_event(c, "field_updated", {"changes": {"email": {"old": old, "new": c.email}}}, "api")]
        contact = update_with_retry(account_id, contact.email_key, recase)
    return "updated", view.wire(contact)


def delete_contact(account_id: int, identifier: str) -> None:
    contact = find(account_id, identifier)
    if contact is None:
        raise ContactsNotFound()
    try:
        Contact(contact.account_id, contact.email_key).delete(condition=Contact.email_key.exists())
    except Exception as exc:  # deleted concurrently: the same outcome for the caller
        if not db.condition_failed(exc):
            raise
        raise ContactsNotFound() from None
    meta.release_contacts(account_id, 1)
    _delete_timeline(int(account_id), contact.contact_id)  # the timeline goes with the contact


def _delete_timeline(account_id: int, contact_id: str) -> None:
    with TimelineEntry.batch_write() as batch:
        for item in TimelineEntry.query(timeline_key(account_id, contact_id)):
            batch.delete(item)


# ---------------------------------------------------------------- listing


def _cursor(contact: Contact) -> str:
    raw = json.dumps([contact.contact_id, contact.email_key]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _start_key(account_id: int, cursor: str | None) -> dict[str, Any] | None:
    if not cursor:
        return None
    try:
        contact_id, key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        assert isinstance(contact_id, str) and isinstance(key, str)
    except Exception:
        raise Unprocessable.field("cursor", "is invalid") from None
    return {"account_id": {"N": str(int(account_id))}, "contact_id": {"S": contact_id}, "email_key": {"S": key}}


def _matches_search(contact: Contact, needle: str) -> bool:
    if needle in contact.email_key:
        return True
    return any(isinstance(v, str) and needle in v.lower() for v in meta.plain(contact.fields).values())


def list_contacts(account_id: int, query: ContactSearchQuery) -> dict[str, Any]:
    """Newest first. ``search`` matches email and text values (case-insensitive substring)."""
    size = query.per_page
    condition = None
    if query.status:
        condition = Contact.status == query.status
    if query.list_id is not None:
        member = Contact.list_ids.contains(query.list_id)
        condition = member if condition is None else condition & member
    needle = (query.search or "").strip().lower()
    view = View.load(account_id)
    found: list[Contact] = []
    more = False
    for contact in Contact.by_id.query(int(account_id), scan_index_forward=False, filter_condition=condition,
                                       last_evaluated_key=_start_key(account_id, query.cursor), page_size=200):
        if needle and not _matches_search(contact, needle):
            continue
        if len(found) == size:
            more = True
            break
        found.append(contact)
    return {"data": [view.wire(c) for c in found], "next_cursor": _cursor(found[-1]) if more and found else None}
