"""The activity (audit) log: token and domain changes recorded, listed, and sent to audit_log webhooks."""

from __future__ import annotations

from tests.webhook_support import pump_webhooks


def test_token_and_domain_changes_reach_the_log_and_audit_webhooks(api, client, account, loopback, receiver):
    acct, _ = account
    hook = api.post("/api/webhooks", {"webhook": {"url": receiver.url, "webhook_type": "audit_log"}}).json["data"]
    made = api.post(f"/api/accounts/{acct.account_id}/api_tokens", {"name": "CI token", "resources": [
        {"resource_type": "account", "resource_id": acct.account_id, "access_level": 10}]})
    assert made.status in (200, 201), made
    token_id = made.json["id"]
    assert api.delete(f"/api/accounts/{acct.account_id}/api_tokens/{token_id}").status in (200, 204)
    domain = api.post("/api/domains", {"domain": {"domain_name": "audit-example.com"}})
    assert domain.status in (200, 201), domain

    logged = api.get("/api/activity_log").json["data"]
    assert [e["event"] for e in logged][:3] == ["activity_log.sending_domain.created",
                                                "activity_log.api_token.deleted", "activity_log.api_token.created"]
    created = logged[2]
    assert created["resource"] == {"id": str(token_id), "type": "api_token", "name": "CI token"}
    assert created["actor"]["type"] == "api_token" and isinstance(created["actor"]["id"], int)
    assert created["description"] == "created an API token" and isinstance(created["timestamp"], int)

    assert pump_webhooks(client) == 3
    sent = [e for r in receiver.received for e in r.events()]
    assert all(r.verifies(hook["signing_secret"]) for r in receiver.received)
    assert sorted(e["event"] for e in sent) == sorted(e["event"] for e in logged[:3])
    assert {e["resource"]["name"] for e in sent} == {"CI token", "audit-example.com"}


def test_an_email_sending_webhook_gets_no_activity(api, client, account, loopback, receiver):
    api.post("/api/webhooks", {"webhook": {"url": receiver.url, "webhook_type": "email_sending",
                                           "sending_stream": "bulk", "event_types": ["delivery"]}})
    api.post("/api/domains", {"domain": {"domain_name": "quiet-example.com"}})
    pump_webhooks(client)
    assert receiver.received == []
