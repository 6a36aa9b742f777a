"""Per-account metadata items (field and list definitions, the contact count, the export lock).

Definitions live in one small item per kind and change by optimistic concurrency on its
``version``: two concurrent creates cannot both pass a uniqueness or count limit check.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pynamodb.exceptions import DoesNotExist, PutError, UpdateError

from chalicelib.contacts.models import ContactMeta
from chalicelib.core import db
from chalicelib.core.errors import Conflict

T = TypeVar("T")
FIELDS = "fields"
LISTS = "lists"
STATS = "stats"
EXPORT = "export"


def plain(value: Any) -> Any:
    """A pynamodb raw map (or None) as a plain dict."""
    if value is None:
        return {}
    return value.as_dict() if hasattr(value, "as_dict") else dict(value)


def load(account_id: int, kind: str) -> ContactMeta | None:
    try:
        return ContactMeta.get(int(account_id), kind, consistent_read=True)
    except DoesNotExist:
        return None


def definitions(account_id: int, kind: str) -> dict[str, dict[str, Any]]:
    item = load(account_id, kind)
    return plain(item.defs) if item else {}


def mutate_definitions(account_id: int, kind: str, change: Callable[[dict[str, dict[str, Any]]], T]) -> T:
    """Apply ``change`` to the definitions and save them if nobody else saved in between.

    ``change`` edits the dict in place (or raises to refuse); it runs again on a conflict.
    """
    for _ in range(8):
        item = load(account_id, kind)
        version = int(item.version) if item else 0
        defs = plain(item.defs) if item else {}
        result = change(defs)
        fresh = ContactMeta(int(account_id), kind, defs=defs, version=version + 1)
        condition = (ContactMeta.version == version) if item else ContactMeta.kind.does_not_exist()
        try:
            fresh.save(condition=condition)
            return result
        except PutError as exc:
            if not db.condition_failed(exc):
                raise
    raise Conflict("Too many concurrent changes, try again")


def contacts_count(account_id: int) -> int:
    item = load(account_id, STATS)
    return int(item.count or 0) if item else 0


def reserve_contacts(account_id: int, wanted: int, limit: int) -> int:
    """Count up to ``wanted`` new contacts against ``limit``; returns how many fit."""
    for _ in range(20):
        current = contacts_count(account_id)
        granted = max(0, min(wanted, limit - current))
        if granted == 0:
            return 0
        item = ContactMeta(int(account_id), STATS)
        try:
            item.update(actions=[ContactMeta.count.add(granted)],
                        condition=(ContactMeta.count == current) if current else
                        (ContactMeta.count.does_not_exist() | (ContactMeta.count == 0)))
            return granted
        except UpdateError as exc:
            if not db.condition_failed(exc):
                raise
    raise Conflict("Too many concurrent changes, try again")


def reserve_once(account_id: int, key: str, wanted: int, limit: int) -> int:
    """Like ``reserve_contacts`` but at most once per ``key`` (an import chunk): the grant is
    stored on the count item by the same conditional write, so a redelivery gets it back."""
    for _ in range(20):
        item = load(account_id, STATS)
        granted_before = plain(item.reservations).get(key) if item else None
        if granted_before is not None:
            return int(granted_before)
        current = int(item.count or 0) if item else 0
        granted = max(0, min(wanted, limit - current))
        stats = ContactMeta(int(account_id), STATS)
        first = item is None or item.reservations is None
        try:
            stats.update(
                actions=[ContactMeta.count.add(granted),
                         ContactMeta.reservations.set({key: granted}) if first
                         else ContactMeta.reservations[key].set(granted)],
                condition=((ContactMeta.count == current) if item and item.count is not None
                           else ContactMeta.count.does_not_exist())
                & (ContactMeta.reservations.does_not_exist() if first
                   else ContactMeta.reservations[key].does_not_exist()))
            return granted
        except UpdateError as exc:
            if not db.condition_failed(exc):
                raise
    raise Conflict("Too many concurrent changes, try again")


def forget_reservation(account_id: int, key: str) -> None:
    """Once its chunk is counted, a reservation is no longer needed to answer a redelivery."""
    try:
        ContactMeta(int(account_id), STATS).update(actions=[ContactMeta.reservations[key].remove()],
                                                  condition=ContactMeta.reservations.exists())
    except UpdateError as exc:
        if not db.condition_failed(exc):
            raise


def release_contacts(account_id: int, count: int) -> None:
    if count:
        ContactMeta(int(account_id), STATS).update(actions=[ContactMeta.count.add(-int(count))])
