"""An SMTP message (envelope + MIME) into the body the HTTP send API takes.

The result goes through the same ``validation.parse_send`` as ``POST /api/send``, so both
paths accept and refuse the same things. What SMTP adds is checked here first: the header
section (ASCII only, bounded size), MIME structure (a multipart without its boundaries or a
broken base64 part is refused, never half-read), and exactly one From address.

Recipients are the envelope's (RCPT TO): header To and Cc addresses that are also envelope
recipients keep their place, every other envelope recipient becomes Bcc, and a header
address nobody RCPT'd to receives nothing.

Parsing speed: the MIME tree is read with the ``compat32`` policy and only the headers
whose meaning matters (addresses, subject, the ones passed on) go through
``email.policy.default``'s header parsers, and of those the plain ones (``Name <a@b>``
lists, ASCII text) are read directly with the same result (``_mailboxes``, ``_text_value``).
Parsing the whole message with ``policy.default`` re-parses every Content-Type on each
access and cost ~6 ms per 5 KB message, more than storing it; now it is ~0.3 ms, most of
it the MIME tree.
"""

from __future__ import annotations

import base64
import email
import email.policy
import json
import mimetypes
import re
from email import errors as mime_errors
from email.message import Message
from typing import Any

from chalicelib.core.emails import valid_email
from chalicelib.sending.validation import MAX_CUSTOM_VARIABLES_BYTES, SendError, SendRequest, parse_send
from chalicelib.smtp import replies

_HEADERS = email.policy.default  # RFC 5322 header parsing (addresses, encoded words, defects)
# Headers that the send body carries in its own fields, or that Postline writes itself.
_OWN_HEADERS = {
    "from", "to", "cc", "bcc", "subject", "reply-to", "date", "message-id", "mime-version", "content-type",
    "content-transfer-encoding", "content-disposition", "content-id", "content-description", "received",
    "return-path", "x-mt-category", "x-mt-custom-variables", "dkim-signature", "delivered-to", "x-original-to",
}
# Header values the fast paths read themselves (_text_value, _mailboxes); anything else
# goes through email.policy.default. tests/integration/test_smtp_parse.py holds both to the same answers.
_PLAIN_TEXT = re.compile(r"[\x21-\x7e]+(?: [\x21-\x7e]+)*")  # printable ASCII words, single spaces
_STRUCTURED = {"date", "resent-date", "orig-date", "sender", "resent-sender", "resent-to", "resent-cc",
               "resent-bcc", "resent-from", "message-id", "mime-version", "content-type",
               "content-disposition", "content-transfer-encoding", "to", "from", "cc", "bcc", "reply-to"}
_PLAIN_ADDRESSES = re.compile(r"[^\"()\\:;\[\]\r\n]*")  # no quoted strings, comments, groups, literals, folding
_PLAIN_MAILBOX = re.compile(
    r"[ \t]*(?:([A-Za-z0-9!#$%&'*+/^_`{|}~ \t-]*?)[ \t]*<([^\s<>@,]+@[^\s<>@,]+)>|([^\s<>@,]+@[^\s<>@,]+))[ \t]*")
_NOT_REPLY_TEXT = re.compile(r"[^\x20-\x7e]")
_STRUCTURE_DEFECTS = (
    mime_errors.NoBoundaryInMultipartDefect, mime_errors.StartBoundaryNotFoundDefect,
    mime_errors.CloseBoundaryNotFoundDefect, mime_errors.MultipartInvariantViolationDefect,
    mime_errors.MissingHeaderBodySeparatorDefect, mime_errors.InvalidMultipartContentTransferEncodingDefect,
    mime_errors.InvalidBase64CharactersDefect, mime_errors.InvalidBase64LengthDefect,
    mime_errors.InvalidBase64PaddingDefect,
)


class Refused(Exception):
    """The message is refused with this SMTP reply (nothing of it is stored). A reason may
    quote the message (a decoded From value): the reply is kept one line of printable
    ASCII, so no decoded CR LF can end it and start a reply of the sender's choosing."""

    def __init__(self, reply: str) -> None:
        reply = _NOT_REPLY_TEXT.sub("?", reply)
        super().__init__(reply)
        self.reply = reply


def _header_section(raw: bytes) -> bytes:
    for sep in (b"\r\n\r\n", b"\n\n"):
        at = raw.find(sep)
        if at >= 0:
            return raw[:at]
    return raw


def _parts(message: Message) -> list[Message]:
    """Every part, depth first; an attached message (message/*) is one part, not opened."""
    out = [message]
    if message.is_multipart() and message.get_content_maintype() == "multipart":
        for sub in message.get_payload():
            out.extend(_parts(sub))
    return out


def _check_defects(parts: list[Message]) -> None:
    for part in parts:
        for defect in part.defects:
            if isinstance(defect, _STRUCTURE_DEFECTS):
                name = type(defect).__name__.removesuffix("Defect")
                raise Refused(replies.CONTENT_REFUSED.format(reason=f"Malformed MIME ({name}): {defect}".rstrip(": ")))


def _text_value(name: str, value: str) -> str:
    """A header's value as ``email.policy.default`` reads it (unfolded, RFC 2047 words decoded)."""
    if "=?" not in value and _PLAIN_TEXT.fullmatch(value) and name.lower() not in _STRUCTURED:
        return value  # what the parser would give back unchanged, without building its token tree
    return str(_HEADERS.header_fetch_parse(name, value))


def _header(message: Message, name: str) -> list[str]:
    return [_text_value(name, value) for value in message.get_all(name) or []]


def _mailboxes(value: str) -> list[tuple[str, str]]:
    """(addr-spec, display name) of each mailbox in an address header's value, groups
    flattened, as ``email.policy.default`` reads them. Plain lists (``Name <a@b>, c@d``:
    no quotes, comments, groups, encoded words or folding) are read directly; they are most
    mail, and the full parser costs ~0.1 ms per header."""
    if _PLAIN_ADDRESSES.fullmatch(value) and "=?" not in value:
        out = []
        for item in value.split(","):
            match = _PLAIN_MAILBOX.fullmatch(item)
            if match is None:
                break
            name, angled, bare = match.groups()
            out.append((angled or bare, " ".join((name or "").split())))
        else:
            return out
    try:
        header = _HEADERS.header_fetch_parse("To", value)
    except ValueError:  # the parser refuses an encoded CR or LF in a display name (header_safety's rule)
        raise Refused(replies.CONTENT_REFUSED.format(
            reason="An address header's display name must not contain control characters or line breaks")) from None
    return [(a.addr_spec, a.display_name or "") for a in getattr(header, "addresses", ())]


def _addresses(message: Message, name: str) -> list[tuple[str, str]]:
    """(normalised email, display name) of each address in a header; groups flattened."""
    out = []
    for value in message.get_all(name) or []:
        for addr_spec, display_name in _mailboxes(value):
            email_ = valid_email(addr_spec)
            if email_:
                out.append((email_, display_name))
    return out


def _sender(message: Message) -> dict[str, str]:
    values = message.get_all("From") or []
    if not values:
        raise Refused(replies.CONTENT_REFUSED.format(reason="Message has no From header"))
    addresses = [a for value in values for a in _mailboxes(value)]
    if len(values) != 1 or len(addresses) != 1:
        raise Refused(replies.CONTENT_REFUSED.format(reason="The From header must hold exactly one address"))
    addr_spec, display_name = addresses[0]
    email_ = valid_email(addr_spec)
    if email_ is None:
        raise Refused(replies.CONTENT_REFUSED.format(
            reason=f"The From address is not valid: {_text_value('From', values[0])}"))
    out = {"email": email_}
    if display_name:
        out["name"] = display_name
    return out


def _bodies(parts: list[Message]) -> tuple[Message | None, Message | None]:
    """The text and HTML bodies: the first text/plain and text/html parts not marked as
    attachments (what ``get_body`` finds for ordinary mail: single part, alternative,
    related, mixed)."""
    text = html = None
    for part in parts:
        if part.is_multipart() or (part.get("Content-Disposition") or "").strip().lower().startswith("attachment"):
            continue
        kind = part.get_content_type()
        if kind == "text/plain" and text is None:
            text = part
        elif kind == "text/html" and html is None:
            html = part
    if text is None and html is None and not parts[0].is_multipart() and parts[0].get_content_maintype() == "text":
        text = parts[0]  # a single-part text/* message (text/enriched, ...): its text is the body
    return text, html


def _text(part: Message | None) -> str | None:
    if part is None:
        return None
    data = part.get_payload(decode=True) or b""
    charset = part.get_content_charset() or "us-ascii"
    try:
        return data.decode(charset, errors="replace")
    except LookupError:
        raise Refused(replies.CONTENT_REFUSED.format(reason=f"Unknown charset {charset!r} in a text part")) from None


def _attachment(part: Message, number: int) -> dict[str, Any]:
    if part.get_content_maintype() == "message":
        inner = part.get_payload()
        data = inner[0].as_bytes() if isinstance(inner, list) and inner else bytes(part.get_payload(decode=True) or b"")
    else:
        data = part.get_payload(decode=True) or b""
    content_type = part.get_content_type()
    filename = part.get_filename()
    if filename:
        filename = str(_HEADERS.header_fetch_parse("X-Filename", filename))  # RFC 2047 encoded names
    else:
        filename = f"part{number}{mimetypes.guess_extension(content_type) or '.bin'}"
    content_id = (part.get("Content-ID") or "").strip().strip("<>") or None
    disposition = part.get_content_disposition() or ("inline" if content_id else "attachment")
    item: dict[str, Any] = {"content": base64.b64encode(data).decode(), "filename": filename, "type": content_type,
                            "disposition": "inline" if disposition == "inline" else "attachment"}
    if content_id:
        item["content_id"] = content_id
    return item


def _custom_variables(message: Message) -> dict[str, Any] | None:
    """The first X-MT-Custom-Variables header; one over 1000 bytes or not a JSON object is
    ignored completely and the message still goes (seed-C acceptance 16)."""
    values = _header(message, "X-MT-Custom-Variables")
    if not values:
        return None
    text = values[0]
    if len(text.encode()) > MAX_CUSTOM_VARIABLES_BYTES:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def to_body(raw: bytes, rcpt_tos: list[str], max_header_bytes: int) -> dict[str, Any]:
    """The send body for this message and envelope; Refused with the reply to give.
    ``rcpt_tos`` are the envelope recipients as RCPT accepted them: valid and normalised."""
    header = _header_section(raw)
    if len(header) > max_header_bytes:
        raise Refused(replies.HEADERS_TOO_LARGE.format(limit=max_header_bytes))
    if not header.isascii():
        raise Refused(replies.EIGHT_BIT_HEADERS)
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    parts = _parts(message)
    _check_defects(parts)
    sender = _sender(message)

    envelope = list(rcpt_tos)
    wanted = {e.lower() for e in envelope}
    placed: set[str] = set()

    def keep(header_name: str) -> list[dict[str, str]]:
        out = []
        for address, name in _addresses(message, header_name):
            key = address.lower()
            if key in wanted and key not in placed:
                placed.add(key)
                out.append({"email": address, "name": name} if name else {"email": address})
        return out

    to, cc = keep("To"), keep("Cc")
    bcc = []
    for address in envelope:
        if address.lower() not in placed:
            placed.add(address.lower())
            bcc.append({"email": address})

    text_part, html_part = _bodies(parts)
    chosen = {id(text_part), id(html_part)}
    attachments = [_attachment(part, n) for n, part in enumerate(
        (p for p in parts if not (p.is_multipart() and p.get_content_maintype() == "multipart")
         and id(p) not in chosen), start=1)]
    subject = _header(message, "Subject")
    body: dict[str, Any] = {
        "from": sender, "to": to, "cc": cc, "bcc": bcc,
        "subject": subject[0] if subject else None,
        "text": _text(text_part), "html": _text(html_part), "attachments": attachments or None,
    }
    _check_defects(parts)  # decoding the parts above may have found broken base64
    reply_to = _addresses(message, "Reply-To")
    if reply_to:
        body["reply_to"] = {"email": reply_to[0][0], **({"name": reply_to[0][1]} if reply_to[0][1] else {})}
    headers: dict[str, str] = {}
    for name, value in message.items():
        if name.lower() not in _OWN_HEADERS and name not in headers:
            headers[name] = _text_value(name, value)
    if headers:
        body["headers"] = headers
    category = _header(message, "X-MT-Category")
    if category:
        body["category"] = category[0]
    variables = _custom_variables(message)
    if variables:
        body["custom_variables"] = variables
    return body


def to_request(raw: bytes, rcpt_tos: list[str], max_header_bytes: int) -> SendRequest:
    """Parse and validate exactly as the HTTP API does; Refused carries the SMTP reply."""
    body = to_body(raw, rcpt_tos, max_header_bytes)
    try:
        return parse_send(body)
    except SendError as exc:
        raise Refused(replies.CONTENT_REFUSED.format(reason="; ".join(exc.errors))) from None
