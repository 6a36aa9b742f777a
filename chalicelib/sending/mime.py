"""MIME messages with the standard library's encoders, assembled directly.

The worker builds one message per recipient, and the recipients of one request share their
body and attachments, so encoded parts are cached in a ``PartCache`` for the length of a
dispatch: an attachment is base64-encoded once, not once per recipient. Headers are
encoded with ``email.header``/``email.utils`` (RFC 2047 for non-ASCII, folded lines), bodies
as quoted-printable UTF-8, attachments as base64 with RFC 2231 file names. Every line ends
in CRLF and no line exceeds 998 octets, as SES requires.

Every header value (names, subject, category, file names, ...) passes ``header_safety.check``
before it is written, whatever checked it before: a value that would make a header of its
own raises ``UnsafeHeader`` and the message is not built.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from datetime import datetime
from email.header import Header
from email.utils import encode_rfc2231, format_datetime, formataddr
from typing import Any

from chalicelib.core.header_safety import UnsafeHeader, check, valid_name
from chalicelib.sending.validation import Address, Attachment

CRLF = b"\r\n"


@dataclass
class Content:
    """What one message says, after any template is rendered."""

    sender: Address
    to: list[Address]
    cc: list[Address]
    reply_to: Address | None
    subject: str
    text: str | None
    html: str | None
    attachments: list[Attachment] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    category: str | None = None
    custom_variables: dict[str, Any] = field(default_factory=dict)


@dataclass
class Built:
    raw: bytes  # what the recipient gets
    metadata: bytes  # header lines kept only in the stored copy (X-MT-Category, X-MT-Custom-Variables)

    @property
    def stored(self) -> bytes:
        return self.metadata + self.raw


class PartCache:
    """Encoded leaves (bodies, attachments) by what they encode; lives for one dispatch."""

    def __init__(self) -> None:
        self.texts: dict[tuple[str, str], bytes] = {}
        # keyed by the whole attachment: str hashes are cached, and a repeated lookup of the
        # same object compares by identity, so this costs nothing per recipient
        self.attachments: dict[Attachment, bytes] = {}


# ---------------------------------------------------------------- headers


def header_value(value: str, field: str = "a header value") -> str:
    """A header value as ASCII: RFC 2047-encoded when needed, folded when long.
    ``field`` names it in the UnsafeHeader raised for a value no header may hold."""
    check(field, value)
    if value.isascii() and len(value) < 900:
        return value
    # encoded words fold anywhere, even inside a long unbroken run of characters
    return Header(value, "utf-8", maxlinelen=76).encode(linesep="\r\n")


def address(addr: Address, field: str = "an address") -> str:
    check(f"{field} address", addr.email)
    if addr.name:
        check(f"{field} display name", addr.name)
    return formataddr((addr.name, addr.email), charset="utf-8") if addr.name else addr.email


def address_list(addrs: list[Address], field: str = "an address") -> str:
    return ",\r\n ".join(address(a, field) for a in addrs)  # folded: a long To list stays under 998 octets


def _line(name: str, value: str) -> bytes:
    return f"{name}: {value}\r\n".encode("ascii")


# ---------------------------------------------------------------- leaves


def _qp(text: str) -> bytes:
    data = text.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8")
    return binascii.b2a_qp(data, istext=True).replace(b"\n", CRLF)


def _text_leaf(cache: PartCache, subtype: str, text: str) -> bytes:
    key = (subtype, text)
    leaf = cache.texts.get(key)
    if leaf is None:
        leaf = (f"Content-Type: text/{subtype}; charset=utf-8\r\n"
                "Content-Transfer-Encoding: quoted-printable\r\n\r\n").encode() + _qp(text)
        cache.texts[key] = leaf
    return leaf


def _param(name: str, value: str) -> str:
    if value.isascii() and '"' not in value and "\\" not in value:
        return f'{name}="{value}"'
    return f"{name}*={encode_rfc2231(value, 'utf-8')}"


def _attachment_leaf(cache: PartCache, item: Attachment) -> bytes:
    leaf = cache.attachments.get(item)
    if leaf is None:
        check("the attachment file name", item.filename)
        data = base64.b64decode("".join(item.content.split()))
        head = [f"Content-Type: {item.type}; {_param('name', item.filename)}",
                f"Content-Disposition: {item.disposition}; {_param('filename', item.filename)}",
                "Content-Transfer-Encoding: base64"]
        if item.content_id:
            head.append(f"Content-ID: <{item.content_id}>")
        leaf = ("\r\n".join(head) + "\r\n\r\n").encode() + base64.encodebytes(data).replace(b"\n", CRLF)
        cache.attachments[item] = leaf
    return leaf


def _multipart(subtype: str, parts: list[bytes]) -> bytes:
    # "=_" never occurs in QP or base64 bodies, so a fixed boundary per subtype (nested
    # parts differ by subtype) is safe, and costs no random draw per part
    boundary = f"=_pl_{subtype}"
    out = [f'Content-Type: multipart/{subtype}; boundary="{boundary}"\r\n\r\n'.encode()]
    delimiter = f"--{boundary}\r\n".encode()
    for part in parts:
        out.append(delimiter)
        out.append(part if part.endswith(CRLF) else part + CRLF)
    out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out)


def body(content: Content, cache: PartCache) -> bytes:
    """The MIME entity (its Content-* headers, a blank line, and its body)."""
    inline = [a for a in content.attachments if a.disposition == "inline"]
    attached = [a for a in content.attachments if a.disposition != "inline"]
    if not content.html:  # no HTML to reference inline images: they travel as attachments
        attached, inline = attached + inline, []
    html = _text_leaf(cache, "html", content.html) if content.html else None
    if html is not None and inline:
        html = _multipart("related", [html, *(_attachment_leaf(cache, a) for a in inline)])
    text = _text_leaf(cache, "plain", content.text) if content.text else None
    if text is not None and html is not None:
        entity = _multipart("alternative", [text, html])
    else:
        entity = html if html is not None else (text or _text_leaf(cache, "plain", ""))
    if attached:
        entity = _multipart("mixed", [entity, *(_attachment_leaf(cache, a) for a in attached)])
    return entity


def build(content: Content, *, message_id: str, domain: str, date: datetime, cache: PartCache,
          extra_headers: list[tuple[str, str]] = ()) -> Built:
    """The full message for one recipient; UnsafeHeader if a header value can't be written."""
    head = [_line("From", address(content.sender, "the From"))]
    if content.to:
        head.append(_line("To", address_list(content.to, "a To")))
    if content.cc:
        head.append(_line("Cc", address_list(content.cc, "a Cc")))
    if content.reply_to is not None:
        head.append(_line("Reply-To", address(content.reply_to, "the Reply-To")))
    head += [
        _line("Subject", header_value(content.subject or "", "the subject")),
        _line("Date", format_datetime(date)),
        _line("Message-ID", f"<{message_id}@{domain}>"),
        _line("MIME-Version", "1.0"),
    ]
    for name, value in [*content.headers.items(), *extra_headers]:
        if not valid_name(name):
            raise UnsafeHeader(f"the header name {name!r} is not a valid header name")
        head.append(_line(name, header_value(value, f"the {name} header")))
    metadata = []
    if content.category:
        metadata.append(_line("X-MT-Category", header_value(content.category, "the category")))
    if content.custom_variables:
        metadata.append(_line("X-MT-Custom-Variables", header_value(
            json.dumps(content.custom_variables, ensure_ascii=False, separators=(", ", ": ")),
            "the custom variables")))
    return Built(b"".join(head) + body(content, cache), b"".join(metadata))
