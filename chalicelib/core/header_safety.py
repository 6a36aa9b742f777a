"""What may be written into a header of an outgoing message: one rule, used everywhere.

A header value is one line of text. A CR or LF would end it and start a header of the
sender's choosing (``Hi\\r\\nBcc: victim@x.test``); NUL, VT, FF and the other C0 controls
and DEL are not allowed in a header by RFC 5322 and are read differently by different
mail software; a lone UTF-16 surrogate can't be encoded at all. Tab is allowed (it folds).

Such characters are refused, never stripped: whoever sent them learns their data is wrong
instead of getting a message with a silently altered subject. The send API and SMTP ingress
(``sending.validation.parse_send``, which both use) refuse them per field; the templates capability
refuses them in a template's subject and category; a template rendered with variables is
checked at send time and again by the MIME builder, which checks every header value it
writes (``check``), so a value that got past everything else still can't make a header.
"""

from __future__ import annotations

import re

_UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f\ud800-\udfff]")
_NAME = re.compile(r"[!-9;-~]+")  # printable ASCII without ':' (RFC 5322 ftext)
_SHORT = {0x00: "NUL", 0x09: "TAB", 0x0A: "LF", 0x0B: "VT", 0x0C: "FF", 0x0D: "CR", 0x1B: "ESC", 0x7F: "DEL"}


class UnsafeHeader(ValueError):
    """A header value (or name) that would break the header section; ``str()`` says which and why."""


def problem(value: str) -> str | None:
    """Why ``value`` can't be written into a header, or None if it can."""
    match = _UNSAFE.search(value)
    if match is None:
        return None
    code = ord(match.group())
    if 0xD800 <= code <= 0xDFFF:
        return f"must not contain a lone UTF-16 surrogate (found U+{code:04X})"
    name = _SHORT.get(code)
    return f"must not contain control characters or line breaks (found U+{code:04X}{' ' + name if name else ''})"


def check(field: str, value: str) -> str:
    """``value`` unchanged if it is safe in a header, else UnsafeHeader naming ``field``."""
    reason = problem(value)
    if reason is not None:
        raise UnsafeHeader(f"{field} {reason}")
    return value


def valid_name(name: str) -> bool:
    """A header field name: printable ASCII, no spaces, no colon."""
    return _NAME.fullmatch(name) is not None
