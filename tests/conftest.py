"""Test harness for tests/unit (no emulator), tests/integration (moto in-process) and
tests/e2e (real HTTP and SMTP servers, the local stack's processes). The emulated AWS is moto
in-process (one per test process), resources created from infra/template.yaml exactly as the
local stack does, and the Chalice app under chalice.test.

Tests are isolated by account: each test makes its own account(s), and every query in the
product is scoped by account, so tests do not see each other's data.
"""

from __future__ import annotations

import json
import os

os.environ.update({
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "POSTLINE_STAGE": "dev",
    "TZ": "UTC",
    "POSTLINE_AUTOMATION_TIME_SCALE": "0",  # delay steps wait 0 s (tests scale time up where they need it)
    # Sending limits are their own tests' subject (tests/integration/test_limits.py sets plans explicitly);
    # other tests send freely.
    "POSTLINE_DEFAULT_PLAN": "unlimited",
    "POSTLINE_SES_MAX_SEND_RATE": "0",  # 0: no rate (the SES window is shared by every test)
    "POSTLINE_DOMAIN_SEND_RATE": "0",
    # Failed authentications are throttled per client IP, and the suite fails on purpose from
    # 127.0.0.1 all along: counted, never reached (tests/integration/test_auth_throttle.py sets its own).
    "POSTLINE_AUTH_FAILURE_LIMIT": "1000000",
})
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.pop("POSTLINE_RESOURCE_PREFIX", None)

import pytest  # noqa: E402

from chalicelib.core import clock  # noqa: E402


def _atomic_dynamodb_writes() -> None:
    """DynamoDB applies a conditional write to an item atomically; in-process moto reads,
    checks and writes without a lock, so two threads can both pass one condition. Tests
    that race threads on purpose (one name, one place left) need DynamoDB's guarantee."""
    import functools
    import threading

    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()
    for name in ("put_item", "update_item", "delete_item", "transact_write_items"):
        original = getattr(DynamoDBBackend, name)

        def locked(*args, _original=original, **kwargs):
            with lock:
                return _original(*args, **kwargs)

        setattr(DynamoDBBackend, name, functools.wraps(original)(locked))


@pytest.fixture(scope="session")
def emulated_aws():
    """moto in-process for the whole session: tests/integration and tests/e2e use it (their
    conftest.py); tests/unit runs without it."""
    _atomic_dynamodb_writes()
    from local.testing import in_process_aws

    with in_process_aws():
        yield


@pytest.fixture(autouse=True)
def _reset_clock():
    yield
    clock.reset()


@pytest.fixture(scope="session")
def app():
    import app as app_module

    return app_module.app


@pytest.fixture()
def client(app):
    from chalice.test import Client

    with Client(app) as c:
        yield c


class Api:
    """Calls the app the way an HTTP client would: JSON in, status and JSON out."""

    def __init__(self, client, token: str | None = None, host: str = "postline.test"):
        self.client, self.token, self.host = client, token, host

    def call(self, method: str, path: str, body=None, token: str | None = "", host: str | None = None,
             headers: dict | None = None, raw: bytes | str | None = None):
        h = {"Host": host or self.host, "Content-Type": "application/json"}
        token = self.token if token == "" else token
        if token:
            h["Authorization"] = f"Bearer {token}"
        h.update(headers or {})
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        response = getattr(self.client.http, method.lower())(path, headers=h, body=data)
        return Response(response)

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.call("POST", path, body, **kw)

    def patch(self, path, body=None, **kw):
        return self.call("PATCH", path, body, **kw)

    def put(self, path, body=None, **kw):
        return self.call("PUT", path, body, **kw)

    def delete(self, path, **kw):
        return self.call("DELETE", path, **kw)


class Response:
    def __init__(self, raw):
        self.status = raw.status_code
        self.headers = {k.lower(): v for k, v in raw.headers.items()}
        self.body = raw.body
        try:
            self.json = json.loads(raw.body) if raw.body else None
        except ValueError:
            self.json = None

    def __repr__(self):
        return f"<Response {self.status} {self.body[:300]!r}>"


@pytest.fixture()
def settings_env(monkeypatch):
    """Set POSTLINE_* variables for one test: ``settings_env(POSTLINE_X=1)``; restored after."""
    from chalicelib.core import config

    def apply(**env):
        for name, value in env.items():
            monkeypatch.setenv(name, str(value))
        config.reload()
    yield apply
    monkeypatch.undo()
    config.reload()


@pytest.fixture()
def account():
    """A fresh account and its owner token value."""
    from chalicelib.accounts import service

    acct, token = service.create_account("Test Co", "owner@test.example")
    return acct, token


@pytest.fixture()
def api(client, account):
    return Api(client, account[1])


@pytest.fixture()
def sdk(client, account):
    """The official mailtrap SDK as the account's owner, run against the app in-process
    (tests/sdk.py): yields (MailtrapClient, account)."""
    import mailtrap as mt

    from tests.sdk import sdk_session

    acct, token = account
    with sdk_session(client):
        yield mt.MailtrapClient(token=token, account_id=str(acct.account_id)), acct
