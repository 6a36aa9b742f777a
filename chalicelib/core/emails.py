"""The one definition of a valid email address, for HTTP, SMTP and automations alike.

The syntax is the ``email-validator`` library's (RFC 5321/5322 dot-atom local part, an
IDNA 2008 domain with a dot and a top-level domain ending in a letter, 64 characters
before the @ and 254 in all at most), with no DNS lookup: whether a domain takes mail is
SES's to find out, not a request's. Quoted local parts, IP-literal domains, display names
and non-ASCII local parts are refused.
"""

from __future__ import annotations

from functools import cache
from typing import Any


@cache
def _library() -> Any:
    """``email_validator``, loaded with the first address checked: its import compiles
    Unicode patterns for ~15 ms of CPU, which a cold start of a function that never checks
    an address should not pay."""
    import email_validator

    # Special-use names the library refuses (.local, .test, .invalid, ...) are addresses a
    # self-hosted install and its local stack use on purpose (owner@postline.local); what such
    # a domain does with mail is SES's to say, as for any other domain. The library documents
    # this list as the way to allow them.
    email_validator.SPECIAL_USE_DOMAIN_NAMES.clear()
    return email_validator


def valid_email(value: Any) -> str | None:
    """The address normalised (IDN domain to punycode) if it is a valid mailbox, else None.

    The local part and an ASCII domain are kept as written (only callers that key on the
    address lower-case it)."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    library = _library()
    try:
        found = library.validate_email(
            value, check_deliverability=False, strict=True,  # strict: a local part over 64 characters is refused
            allow_smtputf8=False, allow_quoted_local=False, allow_domain_literal=False, allow_display_name=False)
    except library.EmailNotValidError:
        return None
    local, domain = value.rsplit("@", 1)
    return f"{local}@{domain if domain.isascii() else found.ascii_domain}"


def required_email(params: dict[str, Any], errors: dict[str, list[str]], field: str = "email") -> str | None:
    """``params[field]`` as a lower-case valid address, or None with the management API's
    422 message for it added to ``errors``."""
    email = valid_email(params.get(field))
    if params.get(field) in (None, ""):
        errors[field] = ["can't be blank"]
    elif email is None:
        errors[field] = ["is invalid"]
    return email.lower() if email else None
