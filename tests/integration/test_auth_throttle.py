"""Failed authentication is throttled per client IP and per token prefix, on the HTTP API
(429 with Retry-After, on the management and the sending hosts) and on the SMTP ingress
(454 4.7.0), through one count in DynamoDB; once the failures leave the window the right
token works again. Time is moved with chalicelib.core.clock, never slept."""

from __future__ import annotations

import base64
import secrets
import smtplib
from datetime import timedelta

import pytest
from chalice.local import LambdaEventConverter

from chalicelib.core import clock
from tests import smtp_support
from tests.e2e import test_smtp

smtp = test_smtp.smtp  # fixture: the listeners, shared with the SMTP tests

LIMIT, WINDOW = 5, 60
THROTTLED = {"errors": "Too many failed authentication attempts, try again later"}


@pytest.fixture(autouse=True)
def _throttle(settings_env):
    settings_env(POSTLINE_AUTH_FAILURE_LIMIT=LIMIT, POSTLINE_AUTH_FAILURE_WINDOW_SECONDS=WINDOW)
    clock.advance(timedelta(days=30))  # past whatever other tests failed from these addresses


@pytest.fixture()
def from_ip(monkeypatch):
    """Make the in-process API Gateway report requests as coming from ``ip``."""
    def use(ip: str) -> None:
        monkeypatch.setattr(LambdaEventConverter, "LOCAL_SOURCE_IP", ip)
    return use


def wrong() -> str:
    return secrets.token_hex(16)


def test_an_ip_with_too_many_failures_gets_429_until_the_window_passes(api, from_ip):
    from_ip("198.51.100.7")
    assert [api.get("/api/accounts", token=wrong()).status for _ in range(LIMIT)] == [401] * LIMIT
    r = api.get("/api/accounts", token=wrong())
    assert r.status == 429 and r.json == THROTTLED
    retry_after = int(r.headers["retry-after"])
    assert WINDOW - 2 <= retry_after <= WINDOW + 1
    assert api.get("/api/accounts").status == 429  # the right token too: a guess tells nothing now
    assert api.get("/api/accounts", token=None).status == 429
    sent = api.post("/api/send", {}, host="send.postline.test")
    assert sent.status == 429 and sent.json == {"success": False, "errors": [THROTTLED["errors"]]}
    assert "retry-after" in sent.headers
    from_ip("198.51.100.8")
    assert api.get("/api/accounts").status == 200  # other addresses are not affected
    from_ip("198.51.100.7")
    clock.advance(timedelta(seconds=retry_after))
    assert api.get("/api/accounts").status == 200


def test_one_token_tried_from_many_addresses_is_throttled_by_its_prefix(api, from_ip):
    guessed = wrong()
    for n in range(LIMIT):
        from_ip(f"203.0.113.{n + 1}")
        assert api.get("/api/accounts", token=guessed).status == 401
    from_ip("203.0.113.100")
    assert api.get("/api/accounts", token=guessed[:8] + wrong()[8:]).status == 429
    assert api.get("/api/accounts").status == 200  # the address itself is fine


def test_successes_are_not_counted(api, from_ip):
    from_ip("198.51.100.9")
    for _ in range(LIMIT * 3):
        assert api.get("/api/accounts").status == 200
    assert api.get("/api/accounts", token=wrong()).status == 401


def _auth(client: smtplib.SMTP, token: str, user: str = "api") -> tuple[int, bytes]:
    return client.docmd("AUTH", "PLAIN " + base64.b64encode(f"\0{user}\0{token}".encode()).decode())


def test_smtp_auth_failures_from_one_ip_get_454_until_the_window_passes(smtp, account):
    token = account[1]
    client = smtp_support.connect(smtp, source="127.0.5.1")
    try:
        client.ehlo()
        failures = [_auth(client, wrong()) for _ in range(LIMIT - 1)] + [_auth(client, token, user="admin")]
        assert [code for code, _ in failures] == [535] * LIMIT
        code, reply = _auth(client, wrong())
        assert code == 454 and reply.startswith(b"4.7.0 Too many failed authentication attempts, try again in")
        assert _auth(client, token)[0] == 454
        other = smtp_support.connect(smtp, source="127.0.5.2")
        other.ehlo()
        assert _auth(other, token)[0] == 235  # another address logs in
        other.close()
        clock.advance(timedelta(seconds=WINDOW + 1))
        assert _auth(client, token)[0] == 235
    finally:
        client.close()


def test_http_and_smtp_failures_share_one_count(api, smtp, account, from_ip):
    from_ip("127.0.5.3")
    for _ in range(LIMIT):
        assert api.get("/api/accounts", token=wrong()).status == 401
    client = smtp_support.connect(smtp, source="127.0.5.3")
    try:
        client.ehlo()
        assert _auth(client, account[1])[0] == 454
    finally:
        client.close()
