"""The mailbox provider of a recipient (stats' ``email_service_provider``), from the MX of its domain.

Addresses at the big free mailboxes are known by name (gmail.com is ``Google``, hotmail.com
``Outlook``...). Any other domain is asked for its MX records once per process and day: a
company on Google Workspace or Office 365 keeps its own domain, and only its MX (
``aspmx.l.google.com``, ``<tenant>.mail.protection.outlook.com``) tells. A lookup that fails
falls back to the name (``Other``), and is tried again after a few minutes rather than at
every event: the events worker classifies every event it counts.
"""

from __future__ import annotations

import time

from chalicelib.core.cache import BoundedCache

OTHER = "Other"
GOOGLE, WORKSPACE, OUTLOOK, OFFICE_365 = "Google", "Google Workspace", "Outlook", "Office 365"
YAHOO, ICLOUD, PROTON = "Yahoo", "iCloud", "Proton"

_BY_NAME = {  # seed 001: "Google" is free Gmail, "Outlook" is Outlook.com
    GOOGLE: ("gmail.com", "googlemail.com"),
    OUTLOOK: ("outlook.com", "hotmail.com", "live.com", "msn.com"),
    YAHOO: ("yahoo.com", "ymail.com", "rocketmail.com", "aol.com"),
    ICLOUD: ("icloud.com", "me.com", "mac.com"),
    PROTON: ("proton.me", "protonmail.com", "pm.me"),
}
_PROVIDER_OF_DOMAIN = {d: name for name, domains in _BY_NAME.items() for d in domains}

# The MX host's suffix -> provider; the longest suffix wins (Office 365's tenants and
# Outlook.com's own domains share protection.outlook.com).
_BY_MX = {
    "google.com": WORKSPACE, "googlemail.com": WORKSPACE,
    "mail.protection.outlook.com": OFFICE_365,
    "olc.protection.outlook.com": OUTLOOK, "hotmail.com": OUTLOOK,
    "yahoodns.net": YAHOO, "yahoo.com": YAHOO,
    "icloud.com": ICLOUD, "me.com": ICLOUD,
    "protonmail.ch": PROTON, "proton.me": PROTON,
}
ANSWER_SECONDS, FAILURE_SECONDS = 86400, 600
_cache = BoundedCache(max_bytes=2_000_000, max_items=20_000)  # {domain: (expires, provider)}


def provider_of(recipient: str) -> str:
    domain = recipient.rpartition("@")[2].strip().rstrip(".").lower()
    if not domain:
        return OTHER
    known = _PROVIDER_OF_DOMAIN.get(domain)
    if known is not None:
        return known
    cached = _cache.get(domain)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    provider, failed = _from_mx(domain)
    _cache.drop(domain)
    _cache.put(domain, 64 + len(domain), (time.monotonic() + (FAILURE_SECONDS if failed else ANSWER_SECONDS),
                                          provider))
    return provider


def provider_of_mx(host: str) -> str | None:
    host = host.strip().rstrip(".").lower()
    matches = [suffix for suffix in _BY_MX if host == suffix or host.endswith("." + suffix)]
    return _BY_MX[max(matches, key=len)] if matches else None


def _from_mx(domain: str) -> tuple[str, bool]:
    """(provider, whether the lookup failed); no MX, or an unknown one, is ``Other``."""
    from chalicelib.domains import dnscheck

    answer = dnscheck.lookup(dnscheck.resolver(), domain, "MX")
    if answer.kind != "ok":
        return OTHER, answer.kind == "error"
    for _, host in sorted((r.preference, r.exchange.to_text()) for r in answer.rrset):
        found = provider_of_mx(host)
        if found is not None:
            return found, False
    return OTHER, False
