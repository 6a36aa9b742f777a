"""Status changes made by the system rather than the API: a hard bounce (the sending side
reports it), a confirmed double opt-in, an unsubscribe link. Other capabilities call these."""

from __future__ import annotations

from chalicelib.contacts import changes, contacts
from chalicelib.contacts.models import Contact


def mark(account_id: int, identifier: str, status: str, source: str = "system") -> Contact:
    """Set a contact's status (bounced, subscribed after confirmation, unsubscribed).

    An unsubscribed contact stays unsubscribed: only signing up again can undo that.
    """
    if status not in changes.STATUSES:
        raise ValueError(f"unknown status {status!r}")
    return contacts.update_with_retry(account_id, identifier,
                                      lambda contact: changes.set_status(contact, status, source))
