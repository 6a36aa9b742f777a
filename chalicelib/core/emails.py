"""The one definition of a valid email address, for HTTP, SMTP and automations alike."""

from __future__ import annotations

import re
from typing import Any

_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_LABEL = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")


def valid_email(value: Any) -> str | None:
    """The address normalised (IDN domain to punycode) if it is a valid mailbox, else None."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    if len(value) > 254 or value.count("@") != 1:
        return None
    local, domain = value.split("@")
    if not local or len(local) > 64 or not _LOCAL.match(local):
        return None
    try:
        domain = domain.encode("idna").decode("ascii") if not domain.isascii() else domain
    except UnicodeError:
        return None
    labels = domain.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels) or labels[-1].isdigit():
        return None
    return f"{local}@{domain}"


def required_email(params: dict[str, Any], errors: dict[str, list[str]], field: str = "email") -> str | None:
    """``params[field]`` as a lower-case valid address, or None with the management API's
    422 message for it added to ``errors``."""
    email = valid_email(params.get(field))
    if params.get(field) in (None, ""):
        errors[field] = ["can't be blank"]
    elif email is None:
        errors[field] = ["is invalid"]
    return email.lower() if email else None
