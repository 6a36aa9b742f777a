"""Images for templates (the editor's "Upload image"): JPG, PNG or GIF up to 2 MB, kept in
S3 and served at a stable public URL to put in ``<img src>``.

The URL answers with a redirect to a short-lived presigned S3 URL: the bucket stays
private, and no image bytes pass through Lambda.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.core import aws, ids
from chalicelib.core.config import settings
from chalicelib.core.errors import NotFound, Unprocessable
from chalicelib.core.permissions import ADMIN, Principal
from chalicelib.templates.request_models import ImageUpload
from chalicelib.templates.service import require_access

REDIRECT_SECONDS = 3600
CONTENT_TYPES = {"png": "image/png", "jpg": "image/jpeg", "gif": "image/gif"}
_NAME = re.compile(r"[0-9a-f]{32}\.(png|jpg|gif)")


def _format(data: bytes) -> str | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    return None


def _key(account_id: int, name: str) -> str:
    return f"email-template-images/{int(account_id)}/{name}"


def upload_image(principal: Principal, image: ImageUpload) -> dict[str, Any]:
    require_access(principal, ADMIN)  # the same rule as for templates
    data = image.content
    kind = _format(data)
    if kind is None:
        raise Unprocessable.field("content", "is not a JPG, PNG or GIF image")
    name = f"{uuid.uuid4().hex}.{kind}"
    aws.client("s3").put_object(Bucket=aws.bucket("data"), Key=_key(principal.account_id, name), Body=data,
                                ContentType=CONTENT_TYPES[kind])
    return {
        "url": f"{settings().public_api_url}/api/email_template_images/{principal.account_id}/{name}",
        "filename": image.filename,
        "content_type": CONTENT_TYPES[kind],
        "size": len(data),
    }


def image_location(account_id: Any, name: str) -> str:
    """A presigned URL of a stored image; NotFound for anything else."""
    account = ids.path_id(account_id)
    if not _NAME.fullmatch(name or ""):
        raise NotFound()
    s3 = aws.client("s3")
    key = _key(account, name)
    try:
        s3.head_object(Bucket=aws.bucket("data"), Key=key)
    except ClientError:
        raise NotFound() from None
    return s3.generate_presigned_url("get_object", Params={"Bucket": aws.bucket("data"), "Key": key},
                                     ExpiresIn=REDIRECT_SECONDS)
