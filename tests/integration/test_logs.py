"""What the stack says it is doing: one line per API request, queue batch and schedule run,
a warning when a limit holds or refuses mail, and never a token or a message body."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from chalicelib.core import logs
from chalicelib.limits import service as limits
from tests.conftest import Api
from tests.sending_support import pump, verified_domain

SEND_HOST = "send.postline.test"


@contextmanager
def captured(as_json: bool) -> Iterator[io.StringIO]:
    """Everything logged meanwhile, formatted and filtered as configure_logging sets it up."""
    out = io.StringIO()
    handler = logs.prepare(logging.StreamHandler(out), as_json)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield out
    finally:
        root.removeHandler(handler)


def _send(api: Api, domain, subject: str, text: str):
    return api.post("/api/send", {"from": {"email": f"app@{domain.domain_name}"},
                                  "to": [{"email": "ann@rcpt.test"}], "subject": subject, "text": text},
                    host=SEND_HOST)


def test_json_lines_name_each_request_and_queue_batch_with_request_and_account_ids(client, account):
    owner, token = account
    api = Api(client, token)
    domain = verified_domain(owner.account_id)
    with captured(as_json=True) as out:
        assert _send(api, domain, "Invoice 4471", "secret body words 9f2c").status == 200
        assert pump(client) >= 1
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    http = [x for x in lines if x.get("kind") == "http"]
    assert [(x["method"], x["path"], x["status"], x["account_id"]) for x in http] == [
        ("POST", "/api/send", 200, owner.account_id)]
    assert isinstance(http[0]["duration_ms"], int) and http[0]["request_id"]
    queue = [x for x in lines if x.get("kind") == "queue"]
    assert queue and queue[0]["function"].endswith("deliver_transactional") and queue[0]["records"] >= 1
    assert queue[0]["message"].startswith("queue deliver_transactional: ")
    for line in lines:  # every line says which invocation and account it belongs to
        assert {"request_id", "account_id", "timestamp", "level", "message"} <= set(line), line
        assert line["request_id"]
    text = out.getvalue()
    assert token not in text and "secret body words" not in text and "Invoice 4471" not in text


def test_a_refused_request_is_logged_with_its_status_and_without_the_token(client):
    bad_token = "not-a-real-token-7c1e0b"
    with captured(as_json=False) as out:
        response = Api(client, bad_token).get("/api/accounts")
    assert response.status == 401
    assert "INFO postline.invocations GET /api/accounts 401 " in out.getvalue()
    assert bad_token not in out.getvalue()


def test_a_schedule_run_is_one_line_with_its_summary(client):
    with captured(as_json=False) as out:
        client.lambda_.invoke("purge_expired_tokens", client.events.generate_cw_event(
            source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]))
    assert "schedule purge_expired_tokens: done {\"purged\": " in out.getvalue()


def test_a_held_dispatch_logs_a_warning_naming_the_limit_and_until_when(account, settings_env):
    owner, _ = account
    limits.set_limits(owner.account_id, hourly=1)
    with captured(as_json=False) as out:
        assert limits.sending_delay(owner.account_id, 1, 1) == 0
        assert limits.sending_delay(owner.account_id, 1, 1) > 0
    warning = [line for line in out.getvalue().splitlines() if "WARNING" in line]
    assert len(warning) == 1
    assert f"account {owner.account_id}: 1 messages held by the hourly sending limit (1) until " in warning[0]


def test_refused_mail_logs_a_warning(account):
    owner, _ = account
    limits.set_limits(owner.account_id, monthly=2, daily=None)
    with captured(as_json=False) as out:
        assert limits.admit(owner.account_id, 3) == (2, limits.MONTHLY_LIMIT_REASON)
    assert f"account {owner.account_id}: 1 of 3 messages refused: Monthly messages limit reached" in out.getvalue()


@pytest.mark.parametrize("as_json", [True, False])
def test_a_token_in_a_log_message_is_redacted(as_json):
    with captured(as_json) as out:
        logging.getLogger("postline.test").warning("header was Authorization: Bearer abc123def")
    assert "abc123def" not in out.getvalue() and "[redacted]" in out.getvalue()
