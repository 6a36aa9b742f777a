"""Small pieces every contacts module uses: time in ms, contact ids, email rules, limits, who may be mailed."""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

from chalicelib.contacts.models import Contact
from chalicelib.core import clock
from chalicelib.core.emails import valid_email

MAX_TEXT = 255  # text field values, event names, param keys and values
MAX_BULK = 1000  # contacts per bulk operation (seed 001: 1,000 at once)
MAX_IMPORT = 50_000  # contacts per import request


def now_ms() -> int:
    return int(clock.now().timestamp() * 1000)


def new_contact_id() -> str:
    """A UUIDv7: 48 bits of Unix milliseconds then random bits, so ids sort by creation time."""
    ms = now_ms()
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80 | rand & ((1 << 80) - 1)
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
    return str(uuid.UUID(int=value))


def email_key(email: str) -> str:
    """Emails are unique per account case-insensitively: the key is the lower-cased address."""
    return email.strip().lower()


def email_errors(email: Any) -> list[str]:
    """Messages for an invalid email, in Mailtrap's words; [] when it is valid."""
    if not isinstance(email, str) or not email.strip():
        return ["can't be blank"]
    email = email.strip()
    if len(email) > 254:
        return ["is too long (maximum is 254 characters)"]
    normalised = valid_email(email)  # the project's one definition of a valid address
    if normalised is None:
        return ["is invalid"]
    if len(normalised.rsplit(".", 1)[1]) < 2:  # valid_email takes one-letter TLDs; Mailtrap does not
        return ["top level domain is too short"]
    return []


def mailable(contact: Contact) -> bool:
    """Whether marketing email may go to the contact: only subscribed ones (not pending,
    bounced or unsubscribed). Lists, segments and automations ask this before sending."""
    return contact.status == "subscribed"


def ms_to_iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + f".{int(ms) % 1000:03d}Z"
