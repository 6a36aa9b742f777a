"""Signed links: one HMAC of ``"<purpose>:<value>"`` with the configured signing secret.

Unsubscribe links (purpose ``unsubscribe``, the message id) and raw-message links (purpose
``raw``, ``"<message id>:<expires>"``) carry it; the purpose keeps a signature made for one
kind of link from being valid for another. Verifiers compare with ``hmac.compare_digest``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from chalicelib.core.config import settings


def sign(purpose: str, value: str) -> str:
    """The first 18 bytes of HMAC-SHA256(secret, ``"<purpose>:<value>"``), URL-safe base64 without padding."""
    mac = hmac.new(settings().signing_secret.encode(), f"{purpose}:{value}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()[:18]).decode().rstrip("=")
