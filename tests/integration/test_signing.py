"""core.signing: the one HMAC behind unsubscribe and raw-message links, unchanged on the wire."""

import base64
import hashlib
import hmac

from chalicelib.core.config import settings
from chalicelib.core.signing import sign
from chalicelib.sending import email_logs, unsubscribe


def _reference(purpose: str, value: str) -> str:
    mac = hmac.new(settings().signing_secret.encode(), f"{purpose}:{value}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()[:18]).decode().rstrip("=")


def test_sign_is_the_truncated_hmac_links_always_carried():
    assert sign("unsubscribe", "msg-1") == _reference("unsubscribe", "msg-1")
    assert sign("raw", "msg-1:1700000000") == _reference("raw", "msg-1:1700000000")
    assert len(sign("raw", "x")) == 24 and "=" not in sign("raw", "x")


def test_links_keep_their_signatures_and_purposes_do_not_mix():
    assert unsubscribe.token_for("msg-1") == f"msg-1.{_reference('unsubscribe', 'msg-1')}"
    assert unsubscribe.verify(unsubscribe.token_for("msg-1")) == "msg-1"
    assert email_logs._raw_signature("msg-1", 1700000000) == _reference("raw", "msg-1:1700000000")
    assert unsubscribe.verify(f"msg-1.{sign('raw', 'msg-1')}") is None
