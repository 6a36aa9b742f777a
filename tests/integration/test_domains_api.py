"""Sending-domain API: create, list, get, update, delete, setup instructions, company info."""

from __future__ import annotations

import json
import uuid

import pytest

from chalicelib.core import aws, config
from chalicelib.domains import instructions, service
from chalicelib.domains.models import SetupInstructionRequest
from tests.conftest import Api
from tests.domain_helpers import drain, record, sqs_event, unique_domain, zone  # noqa: F401


def create(api, name: str | None = None, path: str = "/api/domains", wrapper: str = "domain") -> dict:
    r = api.post(path, {wrapper: {"domain_name": name or unique_domain()}})
    assert r.status == 200, r
    return r.json


def test_create_returns_every_record_to_publish(api):
    name = unique_domain()
    domain = create(api, name)
    assert domain["domain_name"] == name and domain["demo"] is False
    assert domain["compliance_status"] == "unverified_dns" and domain["dns_verified"] is False
    by_key = {r["key"]: r for r in domain["dns_records"]}
    assert set(by_key) == {"verification", "dkim1", "dkim2", "dkim3", "mail_from_mx", "spf", "dmarc",
                           "link_verification"}
    assert all(r["status"] == "unchecked" for r in domain["dns_records"])
    for r in domain["dns_records"]:
        assert r["domain"] == (f"{r['name']}.{name}" if r["name"] else name)
    cfg = config.settings()
    assert by_key["verification"]["type"] == "CNAME" and by_key["verification"]["value"] == cfg.verification_host
    assert by_key["dkim1"]["name"].endswith("._domainkey") and by_key["dkim1"]["value"].endswith(".dkim.amazonses.com")
    assert by_key["dkim1"]["value"].split(".")[0] == by_key["dkim1"]["name"].split(".")[0]
    assert by_key["mail_from_mx"] == {**by_key["mail_from_mx"], "type": "MX", "name": "bounces",
                                      "value": f"10 {cfg.mail_from_mx}"}
    assert by_key["spf"]["value"] == "v=spf1 include:amazonses.com ~all" and by_key["spf"]["name"] == "bounces"
    assert by_key["dmarc"]["value"] == "v=DMARC1; p=none;" and by_key["dmarc"]["name"] == "_dmarc"
    assert by_key["link_verification"]["name"] == "mt-link" and by_key["link_verification"]["required"] is False
    assert domain["open_tracking_enabled"] is True and domain["click_tracking_enabled"] is False
    assert domain["permissions"] == {"can_read": True, "can_update": True, "can_destroy": True}


def test_create_registers_the_ses_identity(api):
    name = unique_domain()
    create(api, name)
    identity = aws.client("sesv2").get_email_identity(EmailIdentity=name)
    assert identity["IdentityType"] == "DOMAIN"


def test_a_local_restart_brings_back_the_ses_identity_of_every_live_domain(api):
    """State saved before the local stack kept SES's writes: domains in the tables, none in SES."""
    from chalicelib.core import redrive

    kept, deleted = create(api), create(api)
    assert api.delete(f"/api/domains/{deleted['id']}").status == 204
    sesv2 = aws.client("sesv2")
    sesv2.delete_email_identity(EmailIdentity=kept["domain_name"])
    assert redrive.hooks()["domains"]() >= 1
    assert sesv2.get_email_identity(EmailIdentity=kept["domain_name"])["IdentityType"] == "DOMAIN"
    with pytest.raises(sesv2.exceptions.NotFoundException):
        sesv2.get_email_identity(EmailIdentity=deleted["domain_name"])


def test_create_issues_a_domain_admin_token(api, client):
    domain = create(api)
    token = domain["api_token"]
    assert token["name"] == f"{domain['domain_name']} token {token['id']}"
    listed = {t["id"]: t for t in api.get("/api/api_tokens").json}
    assert listed[token["id"]]["resources"] == [
        {"resource_type": "domain", "resource_id": domain["id"], "access_level": 100}]
    assert listed[token["id"]]["expires_at"] is None
    assert "api_token" not in api.get(f"/api/domains/{domain['id']}").json  # the value is shown once

    as_domain = Api(client, token["token"])
    assert as_domain.get(f"/api/domains/{domain['id']}").status == 200
    assert [d["id"] for d in as_domain.get("/api/domains").json["data"]] == [domain["id"]]
    other = create(api)
    assert as_domain.get(f"/api/domains/{other['id']}").status == 403
    assert as_domain.post("/api/domains", {"domain": {"domain_name": unique_domain()}}).status == 403
    r = api.delete(f"/api/api_tokens/{token['id']}")
    assert r.status == 422 and "last token of a domain" in r.body.decode()
    api.delete(f"/api/domains/{domain['id']}")  # once the domain is gone its token can go too
    assert api.delete(f"/api/api_tokens/{token['id']}").status == 204
    assert as_domain.get("/api/domains").status == 401


def test_both_path_styles_and_body_wrappers(api, account):
    acct, _ = account
    prefixed = create(api, path=f"/api/accounts/{acct.account_id}/sending_domains", wrapper="sending_domain")
    bare = api.post("/api/domains", {"domain_name": unique_domain()})
    assert bare.status == 200
    ids = {d["id"] for d in api.get(f"/api/accounts/{acct.account_id}/sending_domains").json["data"]}
    assert {prefixed["id"], bare.json["id"]} <= ids
    assert api.get(f"/api/domains/{prefixed['id']}").json["domain_name"] == prefixed["domain_name"]


def test_list_includes_one_demo_domain_first(api, account):
    create(api)
    listed = api.get("/api/domains").json["data"]
    demos = [d for d in listed if d["demo"]]
    assert len(demos) == 1 and listed[0]["demo"] is True
    demo = demos[0]
    assert demo["domain_name"] == config.settings().demo_domain
    assert demo["dns_verified"] is True and demo["compliance_status"] == "demo" and demo["sending_allowed"]
    assert api.get("/api/domains").json["data"][0]["id"] == demo["id"]  # not created twice


@pytest.mark.parametrize("raw, message", [
    ("", "can't be blank"),
    (None, "can't be blank"),
    (42, "must be a string"),
    ("*.example.com", "wildcards"),
    ("192.0.2.10", "IP address"),
    ("[2001:db8::1]", "IP address"),
    ("https://example.com/path", "without http"),
    ("someone@example.com", "email address"),
    ("exa mple.com", "spaces"),
    ("localhost", "top-level domain"),
    ("example.123", "not a number"),
    ("-bad.example.com", "invalid label"),
    ("under_score.example.com", "invalid label"),
    ("bücher.-x.com", "not a valid domain name"),
    ("a" * 64 + ".example.com", "longer than 63"),
    (".".join(["abcdefghij"] * 23) + ".com", "too long"),
    ("www.example.com", "without www."),
    ("gmail.com", "public mailbox"),
])
def test_bad_names_are_422_with_a_clear_message(api, raw, message):
    r = api.post("/api/domains", {"domain": {"domain_name": raw}})
    assert r.status == 422, r
    assert message in r.json["errors"]["domain_name"][0]


def test_idn_is_stored_as_punycode_and_names_are_normalised(api):
    suffix = unique_domain()
    assert create(api, f"Bücher.{suffix}")["domain_name"] == f"xn--bcher-kva.{suffix}"
    assert create(api, f"  MAIL.{suffix.upper()}. ")["domain_name"] == f"mail.{suffix}"


def test_duplicates_are_refused_but_subdomains_are_separate_domains(api):
    name = unique_domain()
    create(api, name)
    r = api.post("/api/domains", {"domain": {"domain_name": name.upper()}})
    assert r.status == 422 and r.json["errors"] == {"domain_name": ["has already been taken"]}
    sub = create(api, f"news.{name}")
    assert sub["domain_name"] == f"news.{name}" and sub["dns_verified"] is False


def test_concurrent_creates_of_one_name_make_one_domain(api, account, monkeypatch):
    import threading

    from chalicelib.core.errors import Unprocessable
    from chalicelib.domains import service as domains

    owner = domains.accounts.authenticate(account[1])
    name = unique_domain()
    listed = threading.Barrier(2)
    real_list = domains.account_domains

    def list_then_wait(account_id):  # both requests have checked the list before either creates
        found = real_list(account_id)
        listed.wait(timeout=10)
        return found

    monkeypatch.setattr(domains, "account_domains", list_then_wait)
    outcomes = []

    def create_it():
        try:
            domains.create_domain(owner, name)
            outcomes.append("created")
        except Unprocessable as exc:
            outcomes.append(str(exc.errors))

    threads = [threading.Thread(target=create_it) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    monkeypatch.setattr(domains, "account_domains", real_list)
    assert sorted(outcomes) == ["created", str({"domain_name": ["has already been taken"]})]
    assert [d["domain_name"] for d in api.get("/api/domains").json["data"]].count(name) == 1


def test_a_deleted_domains_name_can_be_added_again(api):
    name = unique_domain()
    first = create(api, name)
    assert api.delete(f"/api/domains/{first['id']}").status == 204
    again = create(api, name)
    assert again["id"] != first["id"] and again["domain_name"] == name


def test_demo_domain_name_is_reserved(api):
    r = api.post("/api/domains", {"domain": {"domain_name": config.settings().demo_domain}})
    assert r.status == 422 and "reserved" in r.json["errors"]["domain_name"][0]


def test_malformed_bodies_are_4xx(api):
    assert api.post("/api/domains", raw="{nope").status == 400
    assert api.post("/api/domains", {"domain": "example.com"}).status == 422
    assert api.get("/api/domains/not-a-number").status == 404
    assert api.get("/api/domains/999999999").status == 404


def test_update_tracking_alerts_and_auto_bcc(api):
    domain = create(api)
    url = f"/api/domains/{domain['id']}"
    r = api.patch(url, {"sending_domain": {"open_tracking_enabled": False, "auto_unsubscribe_link_enabled": True,
                                           "alert_recipient_email": "ops@example.org", "unknown": 1}})
    assert r.status == 200
    assert r.json["open_tracking_enabled"] is False and r.json["auto_unsubscribe_link_enabled"] is True
    assert r.json["alert_recipient_email"] == "ops@example.org"
    r = api.patch(url, {"domain": {"click_tracking_enabled": True}})
    assert r.json["click_tracking_enabled"] is True and r.json["custom_domain_tracking_enabled"] is True
    r = api.patch(url, {"domain": {"auto_bcc": {"emails": ["Archive@Example.org", "archive@example.org"],
                                                "headers": [{"name": "X-Copy", "value": "archive"}]}}})
    assert r.json["auto_bcc"] == {"emails": ["archive@example.org"],
                                  "headers": [{"name": "X-Copy", "value": "archive"}]}
    got = api.get(url).json
    assert got["open_tracking_enabled"] is False and got["auto_bcc"]["emails"] == ["archive@example.org"]


@pytest.mark.parametrize("body, field", [
    ({"open_tracking_enabled": "yes"}, "open_tracking_enabled"),
    ({"alert_recipient_email": "not-an-email"}, "alert_recipient_email"),
    ({"auto_bcc": {"emails": ["nope"]}}, "auto_bcc"),
    # accepted by the old domains-only pattern, rejected by the one sending rule for an address
    ({"auto_bcc": {"emails": ["ops@exa_mple.org"]}}, "auto_bcc"),
    ({"alert_recipient_email": "a..b@example.org"}, "alert_recipient_email"),
    ({"alert_recipient_email": "ops@example.123"}, "alert_recipient_email"),
    ({"auto_bcc": {"emails": [f"a{i}@example.org" for i in range(11)]}}, "auto_bcc"),
    ({"auto_bcc": {"headers": [{"name": "Subject", "value": "x"}]}}, "auto_bcc"),
    ({"auto_bcc": {"headers": [{"name": "X-Inject", "value": "a\r\nBcc: victim@example.org"}]}}, "auto_bcc"),
    ({"inbound_enabled": True}, "inbound_enabled"),
])
def test_bad_updates_are_422(api, body, field):
    domain = create(api)
    r = api.patch(f"/api/domains/{domain['id']}", {"domain": body})
    assert r.status == 422 and field in r.json["errors"], r


def test_auto_bcc_is_not_available_on_the_demo_domain(api):
    demo = next(d for d in api.get("/api/domains").json["data"] if d["demo"])
    r = api.patch(f"/api/domains/{demo['id']}", {"domain": {"auto_bcc": {"emails": ["a@example.org"]}}})
    assert r.status == 422 and "demo domain" in r.json["errors"]["auto_bcc"][0]


def test_delete_is_soft_and_frees_the_name(api, account):
    acct, _ = account
    name = unique_domain()
    domain = create(api, name)
    assert api.delete(f"/api/domains/{domain['id']}").status == 204
    assert api.get(f"/api/domains/{domain['id']}").status == 404
    assert domain["id"] not in [d["id"] for d in api.get("/api/domains").json["data"]]
    assert api.delete(f"/api/domains/{domain['id']}").status == 404
    assert service.domain_label(acct.account_id, domain["id"]) == f"{name} (deleted)"
    with pytest.raises(Exception, match="NotFound"):
        aws.client("sesv2").get_email_identity(EmailIdentity=name)
    again = create(api, name)
    assert again["id"] != domain["id"]


def test_deleting_the_demo_domain_does_not_bring_it_back(api):
    demo = next(d for d in api.get("/api/domains").json["data"] if d["demo"])
    assert api.delete(f"/api/domains/{demo['id']}").status == 204
    assert not [d for d in api.get("/api/domains").json["data"] if d["demo"]]


def test_send_setup_instructions_emails_every_record(api, account, client):
    from tests.sending_support import system_mail_to

    acct, _ = account
    domain = create(api)
    to = f"dns-admin-{uuid.uuid4().hex[:8]}@example.org"
    r = api.post(f"/api/domains/{domain['id']}/send_setup_instructions", {"email": to})
    assert r.status == 204
    bodies = drain("setup-instructions")
    item = SetupInstructionRequest.get(bodies[-1]["request_id"])
    assert (item.account_id, item.domain_id, item.email, item.status) == (acct.account_id, domain["id"], to, "queued")

    result = client.lambda_.invoke("render_setup_instructions", sqs_event(bodies, "setup-instructions")).payload
    assert result == {"batchItemFailures": []}
    item.refresh()
    assert item.status == "sent" and item.ses_message_id
    [mail] = system_mail_to(to)
    assert mail["From"] == config.settings().system_sender and domain["domain_name"] in mail["Subject"]
    for rec in domain["dns_records"]:
        assert rec["domain"] in mail["body"] and rec["value"] in mail["body"]
    stored = json.loads(aws.client("s3").get_object(Bucket=aws.bucket("data"), Key=item.s3_key)["Body"].read())
    assert stored["to"] == to and all(rec["domain"] in stored["html"] for rec in domain["dns_records"])
    # a redelivered message sends nothing again
    client.lambda_.invoke("render_setup_instructions", sqs_event(bodies, "setup-instructions"))
    assert len(system_mail_to(to)) == 1


def test_concurrent_deliveries_of_setup_instructions_send_once_and_a_failed_send_is_retried(api, client,
                                                                                              monkeypatch):
    from chalicelib.domains import instructions, system_mail
    from tests.sending_support import system_mail_to

    domain = create(api)
    to = f"dns-{uuid.uuid4().hex[:8]}@example.org"
    api.post(f"/api/domains/{domain['id']}/send_setup_instructions", {"email": to})
    [body] = drain("setup-instructions")
    send = system_mail.send

    def refused(*args):
        raise RuntimeError("SES refused")

    monkeypatch.setattr(system_mail, "send", refused)
    with pytest.raises(RuntimeError):
        instructions.handle(body)
    assert SetupInstructionRequest.get(body["request_id"]).status == "queued"  # back for the queue's retry

    def second_delivery_meanwhile(*args):  # the same queue message delivered again mid-send
        monkeypatch.setattr(system_mail, "send", send)
        instructions.handle(body)
        return send(*args)

    monkeypatch.setattr(system_mail, "send", second_delivery_meanwhile)
    instructions.handle(body)
    assert len(system_mail_to(to)) == 1 and SetupInstructionRequest.get(body["request_id"]).status == "sent"


@pytest.mark.parametrize("body", [{}, {"email": "nope"}, {"email": 5}])
def test_send_setup_instructions_needs_a_valid_email(api, body):
    domain = create(api)
    r = api.post(f"/api/domains/{domain['id']}/send_setup_instructions", body)
    assert r.status == 422 and "email" in r.json["errors"]


def test_send_setup_instructions_is_rate_limited_per_domain(api):
    domain = create(api)
    url = f"/api/domains/{domain['id']}/send_setup_instructions"
    codes = [api.post(url, {"email": "a@example.org"}).status for _ in range(instructions.PER_DOMAIN_PER_HOUR + 1)]
    drain("setup-instructions")
    assert codes[:-1] == [204] * instructions.PER_DOMAIN_PER_HOUR and codes[-1] == 429


COMPANY = {"name": "Acme", "address": "1 Main St", "city": "Springfield", "country": "US", "zip_code": "12345",
           "website_url": "https://acme.example"}


def test_company_info_create_get_update(api):
    domain = create(api)
    url = f"/api/domains/{domain['id']}/company_info"
    assert api.get(url).json == {"data": {k: None for k in (
        "name", "address", "city", "country", "phone", "zip_code", "privacy_policy_url", "terms_of_service_url",
        "website_url", "info_level")}}
    r = api.post(url, {"company_info": COMPANY})
    assert r.status == 200 and r.json["data"]["name"] == "Acme" and r.json["data"]["info_level"] == "business"
    assert api.post(url, {"company_info": COMPANY}).status == 422  # once per account: PATCH after
    other = create(api)
    assert api.get(f"/api/domains/{other['id']}/company_info").json["data"]["city"] == "Springfield"
    r = api.patch(url, {"company_info": {"city": "Shelbyville", "info_level": "individual"}})
    assert r.json["data"]["city"] == "Shelbyville" and r.json["data"]["name"] == "Acme"
    r = api.patch(url, {"company_info": {"info_level": "business"}})
    assert r.status == 422 and "only once" in r.json["errors"]["info_level"][0]


def test_a_second_company_info_create_is_refused_and_changes_nothing(api):
    first, second = create(api), create(api)
    assert api.post(f"/api/domains/{first['id']}/company_info", {"company_info": COMPANY}).status == 200
    r = api.post(f"/api/domains/{second['id']}/company_info", {"company_info": {**COMPANY, "name": "Other"}})
    assert r.status == 422 and "Company info already exists for this account; change it with PATCH" in str(r.json)
    assert api.get(f"/api/domains/{second['id']}/company_info").json["data"]["name"] == "Acme"


@pytest.mark.parametrize("body, fields", [
    ({}, {"name", "address", "city", "country", "zip_code", "website_url"}),
    ({**COMPANY, "website_url": "acme.example"}, {"website_url"}),
    ({**COMPANY, "info_level": "corporation"}, {"info_level"}),
    ({**COMPANY, "name": "   "}, {"name"}),
])
def test_company_info_validation(api, body, fields):
    domain = create(api)
    r = api.post(f"/api/domains/{domain['id']}/company_info", {"company_info": body})
    assert r.status == 422 and set(r.json["errors"]) == fields


def test_permission_resources_list_domains_and_grants_validate(api, account, client):
    acct, _ = account
    domain = create(api)
    tree = api.get("/api/permissions/resources").json[0]
    assert {"id": domain["id"], "name": domain["domain_name"], "type": "domain", "access_level": 100,
            "resources": []} in tree["resources"]
    r = api.post("/api/api_tokens", {"name": "viewer", "resources": [
        {"resource_type": "domain", "resource_id": domain["id"], "access_level": 10}]})
    assert r.status == 200
    viewer = Api(client, r.json["token"])
    got = viewer.get(f"/api/domains/{domain['id']}").json
    assert got["permissions"] == {"can_read": True, "can_update": False, "can_destroy": False}
    assert viewer.patch(f"/api/domains/{domain['id']}", {"domain": {"open_tracking_enabled": False}}).status == 403
    assert viewer.delete(f"/api/domains/{domain['id']}").status == 403
    api.delete(f"/api/domains/{domain['id']}")
    r = api.post("/api/api_tokens", {"name": "gone", "resources": [
        {"resource_type": "domain", "resource_id": domain["id"], "access_level": 10}]})
    assert r.status == 422 and "does not exist" in r.json["errors"]["resource_id"][0]
