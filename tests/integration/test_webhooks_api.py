"""Webhooks API: CRUD on both path styles, the signing secret, run-a-test, pause and resume."""

from __future__ import annotations

import re

import pytest

from tests.sending_support import verified_domain

HOOK = {"url": "https://hooks.example.com/x", "webhook_type": "email_sending", "sending_stream": "transactional",
        "event_types": ["delivery", "bounce"]}


def create(api, prefix, **fields):
    r = api.post(f"{prefix}/webhooks", {"webhook": {**HOOK, **fields}})
    assert r.status == 200, r
    return r.json["data"]


def test_crud_on_both_path_styles(api, account):
    acct, _ = account
    for prefix in (f"/api/accounts/{acct.account_id}", "/api"):
        made = create(api, prefix, payload_format="jsonl")
        assert re.fullmatch(r"[0-9a-f]{32}", made["signing_secret"])
        assert (made["active"], made["payload_format"]) == (True, "jsonlines")
        assert made["event_types"] == ["delivery", "bounce"]
        one = f"{prefix}/webhooks/{made['id']}"
        listed = api.get(f"{prefix}/webhooks").json["data"]
        assert made["id"] in [w["id"] for w in listed] and all("signing_secret" not in w for w in listed)
        assert api.get(one).json["data"]["signing_secret"] == made["signing_secret"]  # the owner sees it
        changed = api.patch(one, {"webhook": {"event_types": ["open", "soft bounce"], "active": False}}).json["data"]
        assert changed["event_types"] == ["open", "soft_bounce"] and changed["active"] is False
        assert "signing_secret" not in changed
        assert api.delete(one).json["data"]["id"] == made["id"]
        assert api.get(one).status == 404


@pytest.mark.parametrize("fields, field, message", [
    ({"url": "https://hooks.example.com:8443/x"}, "url", "port must be 80 or 443"),
    ({"url": "ftp://hooks.example.com/x"}, "url", "must be an http or https URL"),
    ({"url": "http://127.0.0.1/x"}, "url", "127.0.0.1 is a loopback address"),
    ({"url": "http://169.254.169.254/latest/meta-data"}, "url", "169.254.169.254 is a link-local address"),
    ({"url": "http://[::1]/x"}, "url", "::1 is a loopback address"),
    ({"url": "http://10.1.2.3/x"}, "url", "10.1.2.3 is a private address"),
    ({"sending_stream": None}, "sending_stream", "can't be blank"),
    ({"event_types": ["sending"]}, "event_types", "is invalid. Allowed values: delivery, soft_bounce, bounce, "
                                                  "suspension, unsubscribe, open, spam_complaint, click, reject."),
    ({"webhook_type": "inbound"}, "webhook_type", "is not included in the list"),
    ({"domain_id": 999999}, "domain_id", "is not a sending domain of this account"),
    ({"webhook_type": "audit_log"}, "sending_stream", "must be blank for audit_log webhooks"),
])
def test_invalid_webhooks_are_refused_with_the_field_named(api, fields, field, message):
    r = api.post("/api/webhooks", {"webhook": {**HOOK, **fields}})
    assert r.status == 422, r
    assert message in r.json["errors"][field]


def test_https_on_443_is_accepted_and_a_domain_scopes_it(api, account):
    domain = verified_domain(account[0].account_id)
    made = create(api, "/api", url="https://hooks.example.com:443/x", domain_id=domain.domain_id)
    assert made["domain_id"] == domain.domain_id
    audit = create(api, "/api", webhook_type="audit_log", sending_stream=None, event_types=None)
    assert audit["webhook_type"] == "audit_log" and audit["event_types"] == []


def test_reset_secret_changes_it_and_only_the_new_one_signs(api, loopback, receiver):
    made = create(api, "/api", url=receiver.url)
    reset = api.post(f"/api/webhooks/{made['id']}/reset_secret").json["data"]
    assert re.fullmatch(r"[0-9a-f]{32}", reset["signing_secret"]) and reset["signing_secret"] != made["signing_secret"]
    assert api.post(f"/api/webhooks/{made['id']}/test").json["data"]["success"] is True
    request = receiver.received[-1]
    assert request.verifies(reset["signing_secret"]) and not request.verifies(made["signing_secret"])


def test_run_a_test_reports_the_receivers_answer_and_is_in_the_history(api, loopback, receiver):
    made = create(api, "/api", url=receiver.url)
    ok = api.post(f"/api/webhooks/{made['id']}/test").json["data"]
    assert ok["success"] is True and ok["status_code"] == 200 and ok["error"] is None
    request = receiver.received[-1]
    assert request.path == "/hooks?token=t1" and request.headers["content-type"] == "application/json"
    assert request.verifies(made["signing_secret"])
    [sample] = request.events()
    assert sample["event"] == "delivery" and sample["email"] == "receiver@example.com"
    receiver.statuses = [204]  # only 200 counts (seed-C §9.12)
    failed = api.post(f"/api/webhooks/{made['id']}/test").json["data"]
    assert failed == {"success": False, "status_code": 204, "latency_ms": failed["latency_ms"], "error": "HTTP 204"}
    history = api.get(f"/api/webhooks/{made['id']}/deliveries").json["data"]
    assert [(h["status_code"], h["success"]) for h in history] == [(204, False), (200, True)]


def test_pause_and_resume(api):
    made = create(api, "/api")
    paused = api.post(f"/api/webhooks/{made['id']}/pause").json["data"]
    assert paused["active"] is False
    resumed = api.post(f"/api/webhooks/{made['id']}/resume").json["data"]
    assert resumed["active"] is True and resumed["paused_reason"] is None


def test_another_accounts_webhook_is_not_found(api, client, account):
    from chalicelib.accounts import service
    from tests.conftest import Api

    made = create(api, "/api")
    _, other_token = service.create_account("Other Co", "other@test.example")
    other = Api(client, other_token)
    assert other.get(f"/api/webhooks/{made['id']}").status == 404
    assert other.post(f"/api/webhooks/{made['id']}/reset_secret").status == 404
    assert other.get("/api/webhooks").json["data"] == []
