"""Bounce categories (seed-C §2.2) from what SES reports: bounce type, subtype, status and
the receiving server's diagnostic code.

SES's subtype decides where it is unambiguous (``NoEmail`` is a bad recipient, ``MailboxFull``
is over quota...); otherwise the diagnostic code does, through ``RULES`` (first match wins,
so the specific rules come before the general ones); with neither, the bounce type does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# SES subtypes that say what happened whatever the diagnostic says.
SUBTYPE_CATEGORIES = {
    "NoEmail": "badrecipient",
    "Suppressed": "badrecipient",  # SES's global list: the address bounced recently
    "OnAccountSuppressionList": "badrecipient",
    "MailboxFull": "overquota",
    "MessageTooLarge": "content",
    "ContentRejected": "content",
    "AttachmentRejected": "content",
}

# DeliveryDelay delay types (SES is still retrying) that say what happened.
DELAY_CATEGORIES = {
    "InternalFailure": "serverfail",
    "MailboxFull": "overquota",
    "SpamDetected": "spam",
    "RecipientServerError": "serverfail",
    "IPFailure": "block",
    "TransientCommunicationFailure": "timeout",
    "BYOIPHostNameLookupUnavailable": "dnsFail",
    "SendingDeferral": "serverpolicy",
}

# (category, pattern over the lower-cased diagnostic code), in order.
RULES: tuple[tuple[str, re.Pattern[str]], ...] = tuple((category, re.compile(pattern)) for category, pattern in (
    ("spam_gmail", r"\b[45]\.7\.(?:2[5-8])\b|gmail.*(?:unsolicited|rate limit|unusual rate|authenticat)"),
    ("greylisting", r"gr[ae]ylist|\b451[ -]4\.7\.1\b"),
    ("spam", r"\bspam\b|unsolicited|junk mail|\[cs\d\d\]"),
    ("badrecipient", r"\b5\.1\.(?:1|0|10|6)\b|user unknown|unknown user|no such (?:user|mailbox|recipient)"
                     r"|does(?: not|n't) exist|invalid (?:recipient|mailbox)|mailbox (?:unavailable|not found)"
                     r"|recipient address rejected|not a valid mailbox|account (?:is )?disabled"),
    ("overquota", r"\b[45]\.2\.2\b|mailbox (?:is )?full|over ?quota|quota exceeded|insufficient (?:system )?storage"),
    ("relayfail", r"relay"),
    ("verifyfail", r"verif"),
    ("badsender", r"\b[45]\.1\.[78]\b|sender address rejected|invalid sender|sender (?:domain )?(?:unknown|invalid)"),
    ("dnsFail", r"\b[45]\.1\.2\b|\b[45]\.4\.4\b|host (?:or domain )?not found|domain not found|no mx|\bdns\b"),
    ("block", r"block|blacklist|denylist|\blisted\b|spamhaus|reputation|banned"),
    ("content", r"\b[45]\.6\.\d\b|\b[45]\.3\.4\b|content|too (?:large|big)|attachment|virus|malware"),
    ("timeout", r"timed? ?out|\b[45]\.4\.[127]\b|connection (?:dropped|lost)|expired"),
    ("serverpolicy", r"polic|\b[45]\.7\.[01]\b|not (?:authorized|permitted)|prohibited"),
    ("serverfail", r"\b[45]\.3\.[0-2]\b|\b[45]\.2\.[01]\b|server (?:error|failure|busy)|service (?:not )?"
                   r"(?:available|unavailable)|not accepting"),
    ("generalfail", r"\b5\.0\.0\b|\b5\d\d\b"),
    ("transientfail", r"\b4\.\d\.\d+\b|\b4\d\d\b"),
))

_SMTP_CODE = re.compile(r"\b([245]\d\d)\b")


@dataclass(frozen=True)
class Classified:
    category: str
    response_code: int  # the SMTP reply code
    response: str  # what the receiving server said (or SES, when it said nothing)


def _response(diagnostic: str | None, fallback: str) -> str:
    text = (diagnostic or "").strip()
    if text.lower().startswith("smtp;"):
        text = text[5:].strip()
    return text or fallback


def _code(text: str, status: str | None, permanent: bool) -> int:
    found = _SMTP_CODE.search(text)
    if found:
        return int(found.group(1))
    if status and status[:1] in "45":
        return 550 if status[0] == "5" else 450
    return 550 if permanent else 450


def by_diagnostic(diagnostic: str | None) -> str | None:
    text = (diagnostic or "").lower()
    return next((category for category, pattern in RULES if pattern.search(text)), None) if text else None


def classify_bounce(bounce_type: str, subtype: str, status: str | None = None,
                    diagnostic: str | None = None) -> Classified:
    """A Bounce notification's recipient (``bounceType``, ``bounceSubType``, ``status``, ``diagnosticCode``)."""
    permanent = bounce_type != "Transient"
    response = _response(diagnostic, f"{bounce_type} bounce ({subtype}) reported by SES")
    category = SUBTYPE_CATEGORIES.get(subtype) or by_diagnostic(response if diagnostic else None) or by_diagnostic(
        status) or ("transientfail" if bounce_type == "Transient" else
                    "generalfail" if bounce_type == "Permanent" else "other")
    return Classified(category, _code(response, status, permanent), response)


def classify_delay(delay_type: str, status: str | None = None, diagnostic: str | None = None) -> Classified:
    """A DeliveryDelay notification's recipient: a soft bounce, SES retries."""
    response = _response(diagnostic, f"delivery delayed ({delay_type}); SES keeps trying")
    category = DELAY_CATEGORIES.get(delay_type) or by_diagnostic(response if diagnostic else None) or by_diagnostic(
        status) or ("other" if delay_type == "Undetermined" else "transientfail")
    return Classified(category, _code(response, status, False), response)
