"""The send body: parse, check every rule, and normalise it into a ``SendRequest``.

Errors use the wording of Mailtrap's sending API (``'from' is required``, ``'to', 'cc' or
'bcc' address is required``, ...) and are all collected, so one response lists every
problem. The same checks serve ``/api/send``, each merged request of ``/api/batch`` (their
request models, ``sending.request_models``, run them) and SMTP ingress (``smtp.parse``).
"""

from __future__ import annotations

import base64
import binascii
import json
import mimetypes
import re
from dataclasses import dataclass, field
from typing import Any

from chalicelib.core import header_safety, ids
from chalicelib.core.config import settings
from chalicelib.core.emails import valid_email

MAX_RECIPIENTS_PER_FIELD = 1000
MAX_BATCH_REQUESTS = 500
MAX_CATEGORY_LENGTH = 255
MAX_CUSTOM_VARIABLES_BYTES = 1000
MAX_SUBJECT_LENGTH = 998  # RFC 5322 line limit

FROM_MISMATCH = "From: Header does not match the sender's domain"

_MIME_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*$")
_CONTENT_ID = re.compile(r"^[!-;=?-~]+$")  # printable, no '<', '>' or spaces

# Headers Postline writes itself; the request sets them through their own fields.
_STRUCTURAL_HEADERS = {
    "to": "to", "cc": "cc", "bcc": "bcc", "subject": "subject", "date": None, "message-id": None,
    "mime-version": None, "content-type": None, "content-transfer-encoding": None,
    "x-mt-custom-variables": "custom_variables", "x-mt-category": "category",
}
_SENDER_HEADERS = ("from", "sender")


class SendError(Exception):
    """A request the sending API refuses: HTTP status and Mailtrap-style error strings."""

    def __init__(self, status: int, errors: list[str], detail: str | None = None) -> None:
        super().__init__("; ".join(errors))
        self.status = status
        self.errors = errors
        self.detail = detail

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"success": False, "errors": self.errors}
        if self.detail:
            body["detail"] = self.detail
        return body


@dataclass(frozen=True)
class Address:
    email: str
    name: str | None = None

    def to_doc(self) -> dict[str, Any]:
        return {"email": self.email, "name": self.name} if self.name else {"email": self.email}

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Address:
        return cls(doc["email"], doc.get("name"))

    @property
    def domain(self) -> str:
        return self.email.rsplit("@", 1)[1].lower()


@dataclass(frozen=True)
class Attachment:
    content: str  # base64, as received (decoded once more when the MIME is built)
    filename: str
    type: str
    disposition: str  # "attachment" or "inline"
    content_id: str | None
    size: int  # decoded bytes

    def to_doc(self) -> dict[str, Any]:
        return {"content": self.content, "filename": self.filename, "type": self.type,
                "disposition": self.disposition, "content_id": self.content_id, "size": self.size}

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Attachment:
        return cls(doc["content"], doc["filename"], doc["type"], doc["disposition"], doc.get("content_id"),
                   int(doc.get("size") or 0))


@dataclass
class SendRequest:
    """One message as the sender described it (before per-recipient copies are made)."""

    sender: Address
    to: list[Address] = field(default_factory=list)
    cc: list[Address] = field(default_factory=list)
    bcc: list[Address] = field(default_factory=list)
    reply_to: Address | None = None
    subject: str | None = None
    text: str | None = None
    html: str | None = None
    attachments: list[Attachment] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    custom_variables: dict[str, Any] = field(default_factory=dict)
    category: str | None = None
    template_uuid: str | None = None
    template_variables: dict[str, Any] = field(default_factory=dict)

    def recipients(self) -> list[tuple[str, Address]]:
        """(kind, address) per recipient; one message record is made for each. ``parse_send``
        made the three lists distinct, so each address is here once."""
        return [(kind, address) for kind, group in (("to", self.to), ("cc", self.cc), ("bcc", self.bcc))
                for address in group]

    def size(self) -> int:
        """Bytes of content the message carries: texts, headers and decoded attachments."""
        texts = (self.subject, self.text, self.html, *self.headers.keys(), *self.headers.values())
        return sum(len(t.encode()) for t in texts if t) + sum(a.size for a in self.attachments)


# ---------------------------------------------------------------- addresses


def _address(value: Any) -> Address | None:
    if isinstance(value, str):
        email, name = valid_email(value), None
    elif isinstance(value, dict):
        email, name = valid_email(value.get("email")), value.get("name")
        if name is not None and not isinstance(name, str):
            return None
    else:
        return None
    if email is None:
        return None
    return Address(email, (name or "").strip() or None)


def _address_list(name: str, value: Any, errors: list[str]) -> list[Address]:
    if value is None:
        return []
    if not isinstance(value, list):
        errors.append(f"'{name}' must be an array of addresses")
        return []
    if len(value) > MAX_RECIPIENTS_PER_FIELD:
        errors.append(f"'{name}' must not contain more than {MAX_RECIPIENTS_PER_FIELD} addresses")
        return []
    out = []
    for item in value:
        address = _address(item)
        if address is None:
            errors.append(f"'{name}' address is invalid")
            return []
        out.append(address)
    return out


def _distinct(*groups: list[Address]) -> list[list[Address]]:
    """Each address once per message (case-insensitively), where it first appears: a message
    goes to a recipient once and is billed once, and its To/Cc headers list them once."""
    seen: set[str] = set()
    out = []
    for group in groups:
        kept = []
        for address in group:
            key = address.email.lower()
            if key not in seen:
                seen.add(key)
                kept.append(address)
        out.append(kept)
    return out


# ---------------------------------------------------------------- other fields


def _text(name: str, value: Any, errors: list[str]) -> str | None:
    """A string field; empty counts as absent (the spec says minLength 1)."""
    if value is None:
        return None
    if not isinstance(value, str):
        errors.append(f"'{name}' must be a string")
        return None
    return value or None


def _attachments(value: Any, errors: list[str]) -> list[Attachment]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(a, dict) for a in value):
        errors.append("'attachments' must be an array of objects")
        return []
    out = []
    for item in value:
        content, filename = item.get("content"), item.get("filename")
        if not isinstance(filename, str) or not filename.strip():
            errors.append("'attachments' filename is required")
            continue
        if not isinstance(content, str) or not content:
            errors.append(f"'attachments' content is required ({filename})")
            continue
        try:
            size = len(base64.b64decode("".join(content.split()), validate=True))
        except (binascii.Error, ValueError):
            errors.append(f"'attachments' content must be base64-encoded ({filename})")
            continue
        mime_type = item.get("type")
        if mime_type is None or mime_type == "":
            mime_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        elif not isinstance(mime_type, str) or not _MIME_TYPE.match(mime_type):
            errors.append(f"'attachments' type is invalid ({filename})")
            continue
        disposition = item.get("disposition") or "attachment"
        if disposition not in ("attachment", "inline"):
            errors.append(f"'attachments' disposition must be 'attachment' or 'inline' ({filename})")
            continue
        content_id = item.get("content_id")
        if content_id is not None and (not isinstance(content_id, str) or not _CONTENT_ID.match(content_id)):
            errors.append(f"'attachments' content_id is invalid ({filename})")
            continue
        out.append(Attachment(content, filename.strip(), mime_type.lower(), disposition, content_id or None, size))
    return out


def _headers(value: Any, sender: Address | None, errors: list[str]) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        errors.append("'headers' must be an object of string values")
        return {}
    out: dict[str, str] = {}
    for name, header_value in value.items():
        lower = name.lower()
        if not header_safety.valid_name(name):
            errors.append(f"'headers' has an invalid header name: {name!r}")
        elif lower in _SENDER_HEADERS:
            # From Header Mismatch: header From/Sender and the envelope sender share one domain.
            header_address = _header_address(header_value)
            if sender is not None and (header_address is None or header_address.domain != sender.domain):
                errors.append(FROM_MISMATCH)
        elif lower in _STRUCTURAL_HEADERS:
            use = _STRUCTURAL_HEADERS[lower]
            errors.append(f"'headers' must not set {name}" + (f"; use the '{use}' field" if use else ""))
        else:
            out[name] = header_value
    return out


def _header_address(value: str) -> Address | None:
    from email.utils import parseaddr

    name, email = parseaddr(value)
    email = valid_email(email)
    return Address(email, name or None) if email else None


def _custom_variables(value: Any, errors: list[str]) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        errors.append("'custom_variables' must be an object")
        return {}
    out: dict[str, Any] = {}
    for key, item in value.items():
        if isinstance(item, list):  # arrays are not supported: the first value is kept
            item = item[0] if item else ""
        if isinstance(item, bool) or isinstance(item, (str, int, float)):
            out[key] = item
        else:
            errors.append("'custom_variables' values must be strings, numbers or booleans")
            return {}
    if len(json.dumps(out, separators=(",", ":"), ensure_ascii=False).encode()) > MAX_CUSTOM_VARIABLES_BYTES:
        errors.append(f"'custom_variables' must not exceed {MAX_CUSTOM_VARIABLES_BYTES} bytes")
        return {}
    return out


# ---------------------------------------------------------------- header safety


def _header_texts(body: dict[str, Any]) -> list[tuple[str, Any]]:
    """(how the error names it, value) of every text of the body that goes into a header."""
    out: list[tuple[str, Any]] = [("'subject'", body.get("subject")), ("'category'", body.get("category"))]
    for name in ("from", "reply_to", "to", "cc", "bcc"):
        value = body.get(name)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, dict):
                out += [(f"'{name}' name", item.get("name")), (f"'{name}' address", item.get("email"))]
    headers = body.get("headers")
    if isinstance(headers, dict):
        out += [(f"'headers' value of {name}", value) for name, value in headers.items()]
    attachments = body.get("attachments")
    for item in attachments if isinstance(attachments, list) else []:
        if isinstance(item, dict):
            out.append(("'attachments' filename", item.get("filename")))
    return out


def unsafe_header_texts(body: dict[str, Any]) -> list[str]:
    """An error for each text that would break the header it goes into (header_safety)."""
    errors = []
    for field_name, value in _header_texts(body):
        reason = header_safety.problem(value) if isinstance(value, str) else None
        if reason and f"{field_name} {reason}" not in errors:
            errors.append(f"{field_name} {reason}")
    return errors


# ---------------------------------------------------------------- the request


def parse_send(body: Any) -> SendRequest:
    """Validate one send body; raise SendError listing every problem: 422 for text that can't
    go into a header (checked first), else 400 for every other rule."""
    if not isinstance(body, dict):
        raise SendError(400, ["Request body must be a JSON object"])
    unsafe = unsafe_header_texts(body)
    if unsafe:
        raise SendError(422, unsafe)
    errors: list[str] = []

    sender = None
    if body.get("from") in (None, "", {}):
        errors.append("'from' is required")
    else:
        sender = _address(body["from"])
        if sender is None:
            errors.append("'from' address is invalid")

    to, cc, bcc = _distinct(*(_address_list(name, body.get(name), errors) for name in ("to", "cc", "bcc")))
    if not (to or cc or bcc) and not any(e.startswith(("'to'", "'cc'", "'bcc'")) for e in errors):
        errors.append("'to', 'cc' or 'bcc' address is required")

    reply_to = None
    if body.get("reply_to") not in (None, {}):
        reply_to = _address(body["reply_to"])
        if reply_to is None:
            errors.append("'reply_to' address is invalid")

    template_uuid = body.get("template_uuid")
    subject = _text("subject", body.get("subject"), errors)
    text = _text("text", body.get("text"), errors)
    html = _text("html", body.get("html"), errors)
    category = _text("category", body.get("category"), errors)
    template_variables: dict[str, Any] = {}
    if template_uuid is not None:
        if not isinstance(template_uuid, str) or not ids.is_uuid(template_uuid):
            errors.append("'template_uuid' must be a valid UUID")
        # The template brings its own subject, bodies and category (EmailFromTemplate).
        for name, value in (("subject", subject), ("text", text), ("html", html), ("category", category)):
            if value is not None:
                errors.append(f"'{name}' is not allowed with 'template_uuid'")
        raw_vars = body.get("template_variables")
        if raw_vars is not None and not isinstance(raw_vars, dict):
            errors.append("'template_variables' must be an object")
        else:
            template_variables = raw_vars or {}
    else:
        if subject is None and not any(e.startswith("'subject'") for e in errors):
            errors.append("'subject' is required")
        if text is None and html is None and not any(e.startswith(("'text'", "'html'")) for e in errors):
            errors.append("must specify either text or html body")
    if subject is not None and len(subject) > MAX_SUBJECT_LENGTH:
        errors.append(f"'subject' must be at most {MAX_SUBJECT_LENGTH} characters")
    if category is not None and len(category) > MAX_CATEGORY_LENGTH:
        errors.append(f"'category' must be at most {MAX_CATEGORY_LENGTH} characters")

    request = SendRequest(
        sender=sender or Address("invalid@invalid.invalid"),
        to=to, cc=cc, bcc=bcc, reply_to=reply_to, subject=subject, text=text, html=html,
        attachments=_attachments(body.get("attachments"), errors),
        headers=_headers(body.get("headers"), sender, errors),
        custom_variables=_custom_variables(body.get("custom_variables"), errors),
        category=category,
        template_uuid=template_uuid.lower() if isinstance(template_uuid, str) else None,
        template_variables=template_variables,
    )
    if errors:
        raise SendError(400, errors)
    limit = settings().max_message_bytes
    if request.size() > limit:
        raise SendError(400, [f"message size exceeds the limit of {_megabytes(limit)} (including attachments)"])
    return request


def merge_batch_item(base: dict[str, Any], item: Any) -> Any:
    """A batch request with the base's properties filled in; a field the request sets wins."""
    if not isinstance(item, dict):
        return item
    merged = dict(base)
    merged.update({k: v for k, v in item.items() if v is not None})
    # A request that brings its own content (or template) drops the base's other kind.
    if item.get("template_uuid") is not None:
        for name in ("subject", "text", "html", "category"):
            if item.get(name) is None:
                merged.pop(name, None)
    elif any(item.get(name) is not None for name in ("subject", "text", "html")):
        merged.pop("template_uuid", None)
        merged.pop("template_variables", None)
    return merged


def parse_batch(body: Any) -> tuple[dict[str, Any], list[Any]]:
    """The base and the raw requests of a batch body; SendError(400) if the shape is wrong."""
    if not isinstance(body, dict):
        raise SendError(400, ["Request body must be a JSON object"])
    base = body.get("base")
    requests = body.get("requests")
    errors = []
    if base is not None and not isinstance(base, dict):
        errors.append("'base' must be an object")
    if not isinstance(requests, list) or not requests:
        errors.append("'requests' is required")
    elif len(requests) > MAX_BATCH_REQUESTS:
        errors.append(f"'requests' must not contain more than {MAX_BATCH_REQUESTS} items")
    if errors:
        raise SendError(400, errors)
    return base or {}, requests


def _megabytes(limit: int) -> str:
    mb = limit / (1024 * 1024)
    return f"{mb:g} MB"
