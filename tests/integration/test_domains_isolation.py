"""Tenant isolation on every sending-domain route, in both path styles."""

from __future__ import annotations

import pytest

from chalicelib.accounts import service as accounts
from chalicelib.domains import service
from tests.conftest import Api
from tests.domain_helpers import drain, unique_domain

DOMAIN_ROUTES = sorted(
    (path, method)
    for path, methods in __import__("app").app.routes.items()
    if ("/domains" in path or "/sending_domains" in path) and "/stats/" not in path  # stats grouped by domain
    for method in methods
)
BODIES = {
    "POST": {"domain": {"domain_name": "attacker-claims.example.org"}, "email": "evil@example.org",
             "company_info": {"name": "Evil", "address": "x", "city": "x", "country": "x", "zip_code": "1",
                              "website_url": "https://evil.example"}},
    "PATCH": {"domain": {"open_tracking_enabled": False, "auto_bcc": {"emails": ["spy@example.org"]}},
              "company_info": {"name": "Evil"}},
}


@pytest.fixture()
def victim_and_attacker(client):
    a, token_a = accounts.create_account("Victim", "a@victim.example")
    b, token_b = accounts.create_account("Attacker", "b@attacker.example")
    api_a, api_b = Api(client, token_a), Api(client, token_b)
    domain = api_a.post("/api/domains", {"domain": {"domain_name": unique_domain("victim")}}).json
    api_b.post("/api/domains", {"domain": {"domain_name": unique_domain("attacker")}})
    assert api_a.post(f"/api/domains/{domain['id']}/company_info", {"company_info": {
        "name": "Victim Co", "address": "1 St", "city": "C", "country": "US", "zip_code": "1",
        "website_url": "https://victim.example"}}).status == 200
    return (a, api_a, domain), (b, api_b)


def test_every_domain_route_is_covered():
    assert len(DOMAIN_ROUTES) == 2 * 10  # ten operations, each in both path styles


def test_other_accounts_can_not_reach_a_domain_on_any_route(victim_and_attacker):
    (a, api_a, domain), (b, api_b) = victim_and_attacker
    before = api_a.get(f"/api/domains/{domain['id']}").json
    failures = []
    for path, method in DOMAIN_ROUTES:
        url = path.format(account_id=a.account_id, domain_id=domain["id"])
        anon = api_b.call(method, url, body=BODIES.get(method), token=None)
        if anon.status != 401:
            failures.append(f"{method} {path} without token -> {anon.status}")
        other = api_b.call(method, url, body=BODIES.get(method))
        if "{account_id}" in path:
            expected = 403  # another account in the path
        elif "{domain_id}" in path:
            expected = 404  # A's domain id with B's token: B's account has no such domain
        else:
            expected = None  # a collection route acts on B's own account
        if expected and other.status != expected:
            failures.append(f"{method} {path} with B's token -> {other.status} {other.body[:100]!r}")
        if other.json and isinstance(other.json, dict):
            text = str(other.json)
            if domain["domain_name"] in text or "Victim Co" in text:
                failures.append(f"{method} {path} leaked A's data to B")
    assert failures == []
    drain("setup-instructions")
    after = api_a.get(f"/api/domains/{domain['id']}").json
    assert after == before
    assert api_a.get(f"/api/domains/{domain['id']}/company_info").json["data"]["name"] == "Victim Co"
    assert domain["domain_name"] not in str(api_b.get("/api/domains").json)


def test_b_can_add_the_same_name_but_not_verify_or_send_as_a(victim_and_attacker):
    (a, api_a, domain), (b, api_b) = victim_and_attacker
    copy = api_b.post("/api/domains", {"domain": {"domain_name": domain["domain_name"]}}).json
    assert copy["id"] != domain["id"]
    # ownership is proven per account: B's verification record differs from A's
    token = {r["key"]: r["domain"] for r in copy["dns_records"]}["verification"]
    assert token != {r["key"]: r["domain"] for r in domain["dns_records"]}["verification"]
    with pytest.raises(Exception, match="not verified"):
        service.sender_check(b.account_id, f"ceo@{domain['domain_name']}", ["x@example.org"])
    # deleting B's copy leaves A's SES identity in place
    api_b.delete(f"/api/domains/{copy['id']}")
    from chalicelib.core import aws
    assert aws.client("sesv2").get_email_identity(EmailIdentity=domain["domain_name"])


def test_own_account_in_the_path_with_a_foreign_domain_id_is_404(victim_and_attacker):
    (a, api_a, domain), (b, api_b) = victim_and_attacker
    before = api_a.get(f"/api/domains/{domain['id']}").json
    for path, method in DOMAIN_ROUTES:
        if "{account_id}" in path and "{domain_id}" in path:
            url = path.format(account_id=b.account_id, domain_id=domain["id"])
            assert api_b.call(method, url, body=BODIES.get(method)).status == 404, (method, path)
    assert api_a.get(f"/api/domains/{domain['id']}").json == before
