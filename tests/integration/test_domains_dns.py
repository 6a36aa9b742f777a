"""DNS verification against a real DNS server (dnslib on 127.0.0.1), through the API."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib.core import clock, config
from chalicelib.core.errors import Forbidden
from chalicelib.domains import service
from tests.domain_helpers import drain, publish, record, sqs_event, unique_domain, zone  # noqa: F401


@pytest.fixture()
def new_domain(api, zone):  # noqa: F811
    def make(name: str | None = None) -> dict:
        r = api.post("/api/domains", {"domain": {"domain_name": name or unique_domain()}})
        assert r.status == 200, r
        return r.json
    return make


def verify(api, domain: dict) -> dict:
    r = api.post(f"/api/domains/{domain['id']}/verify")
    assert r.status == 200, r
    return r.json


def statuses(domain: dict) -> dict[str, str]:
    return {r["key"]: r["status"] for r in domain["dns_records"]}


def test_all_records_published_verifies_the_domain_and_allows_sending(api, account, zone, new_domain):  # noqa: F811
    domain = new_domain()
    assert set(statuses(domain).values()) == {"unchecked"}
    publish(zone, domain)
    checked = verify(api, domain)
    assert set(statuses(checked).values()) == {"pass"}
    assert checked["dns_verified"] is True and checked["dns_verified_at"]
    assert checked["compliance_status"] == "compliant"  # POSTLINE_COMPLIANCE_REVIEW=auto
    assert checked["sending_allowed"] is True
    assert "Found CNAME" in record(checked, "dkim1")["explanation"]
    sender = service.sender_check(account[0].account_id, f"hello@{domain['domain_name']}", ["x@y.example"])
    assert sender.domain_id == domain["id"]


def test_nothing_published_reports_every_record_missing(api, zone, new_domain):  # noqa: F811
    domain = new_domain()
    checked = verify(api, domain)
    assert set(statuses(checked).values()) == {"missing"}
    assert checked["dns_verified"] is False and checked["compliance_status"] == "unverified_dns"
    assert "does not exist" in record(checked, "dmarc")["explanation"]


def test_wrong_dkim_cname_fails_that_record_and_reports_what_was_found(api, zone, new_domain):  # noqa: F811
    domain = new_domain()
    publish(zone, domain)
    dkim = record(domain, "dkim2")
    zone.set(dkim["domain"], "CNAME", "someone-else.dkim.example.net.")
    checked = verify(api, domain)
    assert statuses(checked)["dkim2"] == "fail"
    assert "someone-else.dkim.example.net" in record(checked, "dkim2")["explanation"]
    assert dkim["value"] in record(checked, "dkim2")["explanation"]
    assert {k: s for k, s in statuses(checked).items() if k != "dkim2"} == {
        k: "pass" for k in statuses(checked) if k != "dkim2"}
    assert checked["dns_verified"] is False and checked["sending_allowed"] is False


def test_cname_match_ignores_case_and_trailing_dot(api, zone, new_domain):  # noqa: F811
    domain = new_domain()
    publish(zone, domain)
    dkim = record(domain, "dkim1")
    zone.set(dkim["domain"], "CNAME", dkim["value"].upper() + ".")
    assert statuses(verify(api, domain))["dkim1"] == "pass"


def test_spf_merged_with_other_includes_passes(api, zone, new_domain):  # noqa: F811
    domain = new_domain()
    publish(zone, domain)
    spf = record(domain, "spf")
    zone.set(spf["domain"], "TXT", '"v=spf1 ip4:192.0.2.0/24 include:_spf.google.com include:amazonses.com -all"',
             '"google-site-verification=abc"')
    checked = verify(api, domain)
    assert statuses(checked)["spf"] == "pass"
    assert "_spf.google.com" in record(checked, "spf")["explanation"]
    assert checked["dns_verified"] is True


def test_spf_without_our_include_or_duplicated_fails_with_advice(api, zone, new_domain):  # noqa: F811
    domain = new_domain()
    publish(zone, domain)
    spf = record(domain, "spf")
    zone.set(spf["domain"], "TXT", '"v=spf1 include:_spf.google.com ~all"')
    checked = verify(api, domain)
    assert statuses(checked)["spf"] == "fail"
    assert "does not include amazonses.com" in record(checked, "spf")["explanation"]
    zone.set(spf["domain"], "TXT", '"v=spf1 include:amazonses.com ~all"', '"v=spf1 include:_spf.google.com ~all"')
    checked = verify(api, domain)
    assert statuses(checked)["spf"] == "fail" and "merge them" in record(checked, "spf")["explanation"]


@pytest.mark.parametrize("policy", ["none", "quarantine", "reject"])
def test_dmarc_passes_with_any_policy(api, zone, new_domain, policy):  # noqa: F811
    domain = new_domain()
    publish(zone, domain)
    zone.set(record(domain, "dmarc")["domain"], "TXT", f'"v=DMARC1; p={policy}; rua=mailto:d@example.org"')
    checked = verify(api, domain)
    assert statuses(checked)["dmarc"] == "pass" and f"p={policy}" in record(checked, "dmarc")["explanation"]


def test_dmarc_without_policy_fails(api, zone, new_domain):  # noqa: F811
    domain = new_domain()
    publish(zone, domain)
    zone.set(record(domain, "dmarc")["domain"], "TXT", '"v=DMARC1; rua=mailto:d@example.org"')
    assert statuses(verify(api, domain))["dmarc"] == "fail"


def test_subdomain_inherits_the_parent_dmarc_policy(api, zone, new_domain):  # noqa: F811
    parent = unique_domain()
    zone.set(f"_dmarc.{parent}", "TXT", '"v=DMARC1; p=quarantine"')
    domain = new_domain(f"mail.{parent}")
    publish(zone, domain, skip=("dmarc",))
    checked = verify(api, domain)
    assert statuses(checked)["dmarc"] == "pass"
    assert parent in record(checked, "dmarc")["explanation"]


def test_record_entered_with_the_domain_twice_is_explained(api, zone, new_domain):  # noqa: F811
    domain = new_domain()
    publish(zone, domain, skip=("verification",))
    rec = record(domain, "verification")
    zone.set(f"{rec['domain']}.{domain['domain_name']}", "CNAME", rec["value"] + ".")
    checked = verify(api, domain)
    assert statuses(checked)["verification"] == "missing"
    assert "adds" in record(checked, "verification")["explanation"]
    assert f"{rec['domain']}.{domain['domain_name']}" in record(checked, "verification")["explanation"]


def test_wrong_mx_fails(api, zone, new_domain):  # noqa: F811
    domain = new_domain()
    publish(zone, domain)
    zone.set(record(domain, "mail_from_mx")["domain"], "MX", "10 mx.other.example.")
    checked = verify(api, domain)
    assert statuses(checked)["mail_from_mx"] == "fail"
    assert "mx.other.example" in record(checked, "mail_from_mx")["explanation"]


def test_tracking_cname_is_optional_for_verification(api, zone, new_domain):  # noqa: F811
    domain = new_domain()
    publish(zone, domain, skip=("link_verification",))
    checked = verify(api, domain)
    assert statuses(checked)["link_verification"] == "missing"
    assert checked["dns_verified"] is True


def test_caa_that_excludes_our_cas_blocks_click_tracking(api, zone, new_domain):  # noqa: F811
    domain = new_domain()
    publish(zone, domain)
    zone.set(domain["domain_name"], "CAA", '0 issue "globalsign.com"', '0 issuewild "globalsign.com"')
    checked = verify(api, domain)
    assert checked["tracking_caa"]["status"] == "blocked"
    assert "Click tracking disabled - custom hostname blocked" in checked["tracking_caa"]["explanation"]
    r = api.patch(f"/api/domains/{domain['id']}", {"domain": {"click_tracking_enabled": True}})
    assert r.status == 422 and "globalsign.com" in r.json["errors"]["click_tracking_enabled"][0]

    zone.set(domain["domain_name"], "CAA", '0 issue "globalsign.com"', '0 issue "letsencrypt.org"')
    assert verify(api, domain)["tracking_caa"]["status"] == "allowed"
    r = api.patch(f"/api/domains/{domain['id']}", {"domain": {"click_tracking_enabled": True}})
    assert r.status == 200 and r.json["click_tracking_enabled"] and r.json["custom_domain_tracking_enabled"]


def test_unreachable_resolver_is_a_network_error_and_changes_nothing(api, zone, new_domain, monkeypatch):  # noqa: F811
    domain = new_domain()
    publish(zone, domain)
    assert verify(api, domain)["dns_verified"] is True
    monkeypatch.setenv("POSTLINE_DNS_RESOLVER", "127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("POSTLINE_DNS_TIMEOUT_SECONDS", "0.2")
    config.reload()
    try:
        checked = verify(api, domain)
    finally:
        monkeypatch.undo()
        config.reload()
    assert set(statuses(checked).values()) == {"network_error"}
    assert checked["dns_verified"] is True and checked["dns_failing_since"] is None


def _run_schedule(client, domain: dict) -> None:
    """What AWS does every hour: the schedule enqueues every domain, the consumer checks them
    (only this test's domain here: the others belong to other tests of this process)."""
    event = client.events.generate_cw_event("aws.events", "Scheduled Event", {}, [])
    enqueued = client.lambda_.invoke("recheck_domains", event).payload["enqueued"]
    bodies = drain("domain-checks")
    assert len(bodies) == enqueued
    ours = [b for b in bodies if b["domain_id"] == domain["id"]]
    assert len(ours) == 1
    _run_consumer(client, ours)


def _run_consumer(client, bodies: list[dict]) -> None:
    result = client.lambda_.invoke("check_domains", sqs_event(bodies, "domain-checks")).payload
    assert result == {"batchItemFailures": []}


def test_scheduled_recheck_flags_a_domain_whose_records_disappear(api, account, client, zone, new_domain):  # noqa: F811
    domain = new_domain()
    publish(zone, domain)
    assert verify(api, domain)["dns_verified"] is True

    zone.remove(record(domain, "dkim1")["domain"])
    _run_schedule(client, domain)
    flagged = api.get(f"/api/domains/{domain['id']}").json
    assert statuses(flagged)["dkim1"] == "missing"
    assert flagged["dns_failing_since"] and flagged["dns_grace_ends_at"]
    assert flagged["dns_verified"] is True and flagged["sending_allowed"] is True  # within the grace period
    sender = f"a@{domain['domain_name']}"
    service.sender_check(account[0].account_id, sender, ["x@y.example"])

    clock.advance(timedelta(hours=config.settings().dns_grace_hours, minutes=1))
    assert api.get(f"/api/domains/{domain['id']}").json["sending_allowed"] is False  # even before the next run
    with pytest.raises(Forbidden, match="stopped verifying"):
        service.sender_check(account[0].account_id, sender, ["x@y.example"])
    _run_consumer(client, [{"account_id": account[0].account_id, "domain_id": domain["id"]}])
    expired = api.get(f"/api/domains/{domain['id']}").json
    assert expired["dns_verified"] is False and expired["dns_verified_at"] is None

    publish(zone, domain)  # fixed: verified again, flag cleared
    healed = verify(api, domain)
    assert healed["dns_verified"] is True and healed["dns_failing_since"] is None and healed["sending_allowed"]


def test_a_failing_check_goes_back_to_the_queue_alone(client, account, monkeypatch):
    from chalicelib.domains import verification

    def flaky(body):
        if body["domain_id"] == -1:
            raise RuntimeError("boom")
    monkeypatch.setattr(verification, "handle_check", flaky)
    result = client.lambda_.invoke("check_domains", sqs_event([{"domain_id": 1}, {"domain_id": -1}],
                                                              "domain-checks")).payload
    assert result == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}


def test_records_restored_within_the_grace_period_clear_the_flag(api, client, zone, new_domain):  # noqa: F811
    domain = new_domain()
    publish(zone, domain)
    verify(api, domain)
    zone.remove(record(domain, "dmarc")["domain"])
    assert verify(api, domain)["dns_failing_since"]
    publish(zone, domain)
    assert verify(api, domain)["dns_failing_since"] is None
