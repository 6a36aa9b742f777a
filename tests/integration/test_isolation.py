"""Tenant isolation as a matrix over every route the app serves.

For each route: no token -> 401; a token of account B on account A's path -> 403; a token
of account B naming a resource of account A -> 404. A's data is unchanged afterwards.
A route whose path parameter has no factory below fails the test: a new capability adds
a factory that creates such a resource in an account.
"""

from __future__ import annotations

import re

import pytest

from chalicelib.accounts import service as accounts
from chalicelib.core import hosts
from tests.conftest import Api

PUBLIC_ROUTES = {"/api/health", "/api/openapi.json", "/api/docs",
                 # signed links (the signature is the credential): unsubscribe, raw message
                 "/api/unsubscribe/{token}", "/api/raw_messages/{token}",
                 "/o/{token}", "/c/{token}",  # open pixel and tracked links (mt-link host)
                 "/api/email_template_images/{account_id}/{image_name}"}


def _token_factory(api: Api, account_id: int) -> dict[str, int]:
    token = api.post("/api/api_tokens", {"name": "victim", "resources": [
        {"resource_type": "account", "resource_id": account_id, "access_level": 100}]}).json
    listed = accounts.list_tokens(accounts.authenticate(api.token))
    access_id = next(t.access_id for t in listed if t.token_id == token["id"])
    return {"token_id": token["id"], "access_id": access_id}


def _automation_factory(api: Api, account_id: int) -> dict[str, int]:
    created = api.post("/api/automations", {"name": "victim", "trigger_type": "contact_created",
                                            "steps": [{"type": "send_email", "template_id": 1}]})
    return {"automation_id": created.json["id"]}


def _message_factory(api: Api, account_id: int) -> dict[str, str]:
    from tests.sending_support import verified_domain

    domain = verified_domain(account_id)
    sent = api.post("/api/send", {"from": {"email": f"app@{domain.domain_name}"}, "to": [{"email": "v@victim.example"}],
                                  "subject": "s", "text": "t"}, host="send.postline.test")
    return {"message_id": sent.json["message_ids"][0]}


def _email_template_factory(api: Api, account_id: int) -> dict[str, int]:
    template = api.post("/api/email_templates", {"email_template": {
        "name": "victim", "subject": "Hi {{name}}", "category": "c", "body_text": "x"}}).json
    return {"email_template_id": template["id"]}


def _domain_factory(api: Api, account_id: int) -> dict[str, int]:
    from tests.domain_helpers import unique_domain

    domain = api.post("/api/domains", {"domain_name": unique_domain("victim")}).json
    return {"domain_id": domain["id"]}


def _contacts_factory(api: Api, account_id: int) -> dict[str, int | str]:
    """A contact, field, list, segment, import and export of account A."""
    field = api.post("/api/contacts/fields", {"name": "Plan", "data_type": "text", "merge_tag": "plan"}).json
    listed = api.post("/api/contacts/lists", {"name": "Victims"}).json
    contact = api.post("/api/contacts", {"contact": {"email": "victim@a.example", "fields": {"plan": "pro"},
                                                     "list_ids": [listed["id"]]}}).json["data"]
    segment = api.post("/api/contacts/segments", {"name": "Pro", "conditions": [
        {"field": "plan", "operator": "is", "value": "pro"}]}).json
    imported = api.post("/api/contacts/imports", {"contacts": [{"email": "other@a.example"}]}).json
    exported = api.post("/api/contacts/exports", {"filters": []}).json
    return {"contact_identifier": contact["id"], "field_id": field["id"], "list_id": listed["id"],
            "segment_id": segment["id"], "import_id": imported["id"], "export_id": exported["id"]}


def _suppression_factory(api: Api, account_id: int) -> dict[str, str]:
    from tests.sending_support import verified_domain

    domain = verified_domain(account_id)
    created = api.post("/api/suppressions", {"email": "victim@rcpt.example", "domain_id": domain.domain_id,
                                             "sending_stream": "any"}).json
    return {"suppression_id": created["data"]["id"]}


def _tracking_opt_out_factory(api: Api, account_id: int) -> dict[str, str]:
    from tests.sending_support import verified_domain

    domain = verified_domain(account_id)
    created = api.post("/api/tracking_opt_outs", {"email": "victim@rcpt.example", "domain_id": domain.domain_id})
    return {"opt_out_id": created.json["data"]["id"]}


def _webhook_factory(api: Api, account_id: int) -> dict[str, int]:
    body = {"webhook": {"url": "https://hooks.example.com/x", "webhook_type": "audit_log"}}
    created = api.post("/api/webhooks", body)
    return {"webhook_id": created.json["data"]["id"]}


# path parameter -> function(api of account A, account id) returning {param: id, ...}
PARAM_FACTORIES = {
    "token_id": _token_factory,
    "access_id": _token_factory,
    "automation_id": _automation_factory,
    "message_id": _message_factory,
    "email_template_id": _email_template_factory,
    "domain_id": _domain_factory,
    "suppression_id": _suppression_factory,
    "opt_out_id": _tracking_opt_out_factory,
    "webhook_id": _webhook_factory,
    **dict.fromkeys(["contact_identifier", "field_id", "list_id", "segment_id", "import_id", "export_id"],
                    _contacts_factory),
}


def _routes(app):
    for path, methods in sorted(app.routes.items()):
        if path in PUBLIC_ROUTES:
            continue
        for method in sorted(methods):
            yield path, method


def _host_for(path: str) -> str:
    return "send.postline.test" if path in hosts.SENDING_ROUTES else "postline.test"


@pytest.fixture()
def two_accounts(client):
    a, token_a = accounts.create_account("Victim", "a@victim.example")
    b, token_b = accounts.create_account("Attacker", "b@attacker.example")
    return (a, Api(client, token_a)), (b, Api(client, token_b))


def test_every_route_is_isolated_between_accounts(app, two_accounts):
    (a, api_a), (b, api_b) = two_accounts
    params: dict[str, int] = {"account_id": a.account_id}
    needed = {p for path, _ in _routes(app) for p in re.findall(r"{(\w+)}", path)} - {"account_id"}
    for name in sorted(needed):
        assert name in PARAM_FACTORIES, f"no isolation factory for path parameter {{{name}}}"
        if name not in params:
            params.update(PARAM_FACTORIES[name](api_a, a.account_id))
    before = sorted(t.token_id for t in accounts.list_tokens(accounts.authenticate(api_a.token)))

    failures = []
    for path, method in _routes(app):
        url = path.format(**params)
        host = _host_for(path)
        anon = api_b.call(method, url, body={}, token=None, host=host)
        if anon.status != 401:
            failures.append(f"{method} {path} without token -> {anon.status}")
        other = api_b.call(method, url, body={}, host=host)
        expected = {403} if "{account_id}" in path else ({404} if re.search(r"{\w+}", path) else None)
        # (an unprefixed collection route acts on B's own account; A's data is checked below)
        if expected and other.status not in expected:
            failures.append(f"{method} {path} with B's token -> {other.status} {other.body[:120]!r}")
    assert failures == []
    after = sorted(t.token_id for t in accounts.list_tokens(accounts.authenticate(api_a.token)))
    assert after == before
    if "contact_identifier" in params:  # A's contact is untouched, and also unseen by email
        contact = api_a.get(f"/api/contacts/{params['contact_identifier']}").json["data"]
        assert contact["email"] == "victim@a.example" and contact["fields"] == {"plan": "pro"}
        assert api_b.get("/api/contacts/victim%40a.example").status == 404
