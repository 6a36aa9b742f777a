"""Sending-domain names: what a user types becomes the ASCII name DNS and SES use, or a 422.

Internationalised names are stored as punycode (IDNA 2008 with UTS #46 mapping, so
``Bücher.DE`` becomes ``xn--bcher-kva.de``). A subdomain is its own sending domain, so
nothing here strips labels; ``www.`` is refused because the seeds say to add the domain
without it.
"""

from __future__ import annotations

import ipaddress
import re

import idna

from chalicelib.core.errors import Unprocessable

FIELD = "domain_name"
MAX_LENGTH = 253  # RFC 1035, without the trailing dot
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
# Mailbox providers' domains: nobody can publish records there, and the seeds forbid them.
PUBLIC_MAILBOX_DOMAINS = frozenset({
    "gmail.com", "googlemail.com", "hotmail.com", "outlook.com", "live.com", "msn.com",
    "yahoo.com", "ymail.com", "aol.com", "icloud.com", "me.com", "mac.com", "gmx.com",
    "gmx.de", "web.de", "mail.com", "proton.me", "protonmail.com", "yandex.com", "yandex.ru",
    "mail.ru", "zoho.com", "qq.com", "163.com",
})


def _invalid(message: str) -> Unprocessable:
    return Unprocessable.field(FIELD, message)


def normalize(raw: object) -> str:
    """Validate a domain name and return its lower-case ASCII (punycode) form."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raise _invalid("can't be blank")
    if not isinstance(raw, str):
        raise _invalid("must be a string")
    name = raw.strip().rstrip(".")
    if "://" in name or "/" in name:
        raise _invalid("must be a bare domain name such as example.com, without http:// or a path")
    if "@" in name:
        raise _invalid("must be a domain such as example.com, not an email address")
    if "*" in name:
        raise _invalid("can't contain wildcards; add each subdomain you send from separately")
    if _is_ip(name):
        raise _invalid("must be a domain name, not an IP address")
    if any(ch.isspace() for ch in name):
        raise _invalid("can't contain spaces")
    if name.isascii():
        _check_labels(name.lower())  # plain names get the precise message before IDNA's
    try:
        ascii_name = idna.encode(name, uts46=True).decode("ascii").lower()
    except idna.IDNAError as exc:
        raise _invalid(f"is not a valid domain name ({exc})") from None
    except UnicodeError:
        raise _invalid("is not a valid domain name") from None
    labels = _check_labels(ascii_name)
    if labels[-1].isdigit():
        raise _invalid("must end in a top-level domain, not a number")
    if labels[0] == "www":
        raise _invalid("should be added without www. (for example example.com)")
    if ascii_name in PUBLIC_MAILBOX_DOMAINS:
        raise _invalid(f"{ascii_name} is a public mailbox provider; add a domain you own")
    return ascii_name


def _check_labels(ascii_name: str) -> list[str]:
    if len(ascii_name) > MAX_LENGTH:
        raise _invalid(f"is too long (maximum is {MAX_LENGTH} characters)")
    labels = ascii_name.split(".")
    if len(labels) < 2:
        raise _invalid("must include a top-level domain, such as example.com")
    for label in labels:
        if len(label) > 63:
            raise _invalid(f"has a label longer than 63 characters ({label[:20]}...)")
        if not _LABEL.match(label):
            raise _invalid(f"has an invalid label '{label}': use letters, digits and hyphens, "
                           "not starting or ending with a hyphen")
    return labels


def from_address(email: str) -> str | None:
    """The ASCII domain of an email address, or None if it has none that parses."""
    local, at, domain = (email or "").strip().rpartition("@")
    domain = domain.strip().rstrip(".>").lower()
    if not (local and at and domain):
        return None
    try:
        return idna.encode(domain, uts46=True).decode("ascii").lower()
    except (idna.IDNAError, UnicodeError):
        return None


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]"))
        return True
    except ValueError:
        return False
