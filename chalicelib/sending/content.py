"""What an accepted request says, kept once per API call for the worker to read.

A send or batch call becomes one content document: its requests as validated, with each
distinct attachment stored once (a batch's base attachments are shared by all its requests).
Small documents travel inline in the SQS message; larger ones go to S3
(``content/<account>/<date>/<request id>.json`` in the data bucket), and the worker keeps
the last few it read, because the dispatches of one batch follow each other.
"""

from __future__ import annotations

import json
from typing import Any

from chalicelib.core import aws, cache, clock
from chalicelib.sending.validation import Address, Attachment, SendRequest

INLINE_LIMIT = 48 * 1024  # bytes of JSON carried in the SQS body instead of S3 (SQS allows 256 KB)
CACHE_DOCUMENTS = 8
CACHE_BYTES = 96 * 1024 * 1024


def _address(doc: dict[str, Any] | None) -> Address | None:
    return Address.from_doc(doc) if doc else None


class ContentDocument:
    """The requests of one API call, addressed by their index (``Message.entry``)."""

    def __init__(self, entries: list[SendRequest]) -> None:
        self.entries = entries

    def to_json(self) -> str:
        attachments: list[dict[str, Any]] = []
        seen: dict[Attachment, int] = {}  # by value: a batch's base attachments are stored once
        entries = []
        for request in self.entries:
            refs = []
            for item in request.attachments:
                if item not in seen:
                    seen[item] = len(attachments)
                    attachments.append(item.to_doc())
                refs.append(seen[item])
            entries.append({
                "from": request.sender.to_doc(),
                "to": [a.to_doc() for a in request.to], "cc": [a.to_doc() for a in request.cc],
                "bcc": [a.to_doc() for a in request.bcc],
                "reply_to": request.reply_to.to_doc() if request.reply_to else None,
                "subject": request.subject, "text": request.text, "html": request.html,
                "attachments": refs, "headers": request.headers, "custom_variables": request.custom_variables,
                "category": request.category, "template_uuid": request.template_uuid,
                "template_variables": request.template_variables,
            })
        return json.dumps({"v": 1, "attachments": attachments, "entries": entries},
                          separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: str | bytes) -> ContentDocument:
        doc = json.loads(raw)
        attachments = [Attachment.from_doc(a) for a in doc["attachments"]]
        entries = [SendRequest(
            sender=Address.from_doc(e["from"]),
            to=[Address.from_doc(a) for a in e["to"]], cc=[Address.from_doc(a) for a in e["cc"]],
            bcc=[Address.from_doc(a) for a in e["bcc"]], reply_to=_address(e.get("reply_to")),
            subject=e.get("subject"), text=e.get("text"), html=e.get("html"),
            attachments=[attachments[i] for i in e["attachments"]], headers=e.get("headers") or {},
            custom_variables=e.get("custom_variables") or {}, category=e.get("category"),
            template_uuid=e.get("template_uuid"), template_variables=e.get("template_variables") or {},
        ) for e in doc["entries"]]
        return cls(entries)


def save(account_id: int, request_id: str, document: ContentDocument) -> dict[str, Any]:
    """Store the document; return the reference the dispatches carry."""
    raw = document.to_json()
    if len(raw) <= INLINE_LIMIT:
        return {"inline": raw}
    key = f"content/{account_id}/{clock.now():%Y/%m/%d}/{request_id}.json"
    aws.client("s3").put_object(Bucket=aws.bucket("data"), Key=key, Body=raw.encode(),
                                ContentType="application/json")
    return {"key": key}


_cache = cache.BoundedCache(CACHE_BYTES, CACHE_DOCUMENTS)


def load(ref: dict[str, Any]) -> ContentDocument:
    if "inline" in ref:
        return ContentDocument.from_json(ref["inline"])
    key = ref["key"]
    document = _cache.get(key)
    if document is None:
        raw = aws.client("s3").get_object(Bucket=aws.bucket("data"), Key=key)["Body"].read()
        document = ContentDocument.from_json(raw)
        _cache.put(key, len(raw), document)
    return document
