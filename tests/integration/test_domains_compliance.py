"""Compliance lifecycle (auto and manual review, the operator CLI) and who may send."""

from __future__ import annotations

import pytest

from chalicelib.core import config
from chalicelib.core.errors import Forbidden
from chalicelib.domains import service
from local import domains as cli
from tests.domain_helpers import publish, unique_domain, zone  # noqa: F401

COMPANY = {"name": "Acme", "address": "1 Main St", "city": "Springfield", "country": "US", "zip_code": "12345",
           "website_url": "https://acme.example"}


@pytest.fixture()
def manual_review(monkeypatch):
    monkeypatch.setenv("POSTLINE_COMPLIANCE_REVIEW", "manual")
    config.reload()
    yield
    monkeypatch.undo()
    config.reload()


def verified_domain(api, zone, name: str | None = None) -> dict:  # noqa: F811
    domain = api.post("/api/domains", {"domain": {"domain_name": name or unique_domain()}}).json
    publish(zone, domain)
    return api.post(f"/api/domains/{domain['id']}/verify").json


def test_manual_review_waits_for_company_info_then_the_operator(api, account, zone, manual_review, capsys):  # noqa: F811
    acct, _ = account
    domain = verified_domain(api, zone)
    assert domain["dns_verified"] is True and domain["compliance_status"] == "awaiting_questionnaire"
    assert domain["sending_allowed"] is False
    with pytest.raises(Forbidden, match="compliance check"):
        service.sender_check(acct.account_id, f"a@{domain['domain_name']}", ["x@example.org"])

    api.post(f"/api/domains/{domain['id']}/company_info", {"company_info": COMPANY})
    assert api.get(f"/api/domains/{domain['id']}").json["compliance_status"] == "under_review"
    assert cli.main(["--aws", "pending"]) == 0
    assert domain["domain_name"] in capsys.readouterr().out

    assert cli.main(["--aws", "approve", "--domain-id", str(domain["id"])]) == 0
    approved = api.get(f"/api/domains/{domain['id']}").json
    assert approved["compliance_status"] == "compliant" and approved["sending_allowed"] is True
    assert service.sender_check(acct.account_id, f"a@{domain['domain_name']}", ["x@example.org"]).domain_id == \
        domain["id"]


def test_manual_review_with_company_info_goes_straight_to_review_and_can_be_rejected(
        api, account, zone, manual_review, capsys):  # noqa: F811
    acct, _ = account
    first = api.post("/api/domains", {"domain": {"domain_name": unique_domain()}}).json
    api.post(f"/api/domains/{first['id']}/company_info", {"company_info": COMPANY})
    domain = verified_domain(api, zone)
    assert domain["compliance_status"] == "under_review"

    assert cli.main(["--aws", "reject", "--domain-id", str(domain["id"]), "--reason", "Bought mailing lists"]) == 0
    rejected = api.get(f"/api/domains/{domain['id']}").json
    assert rejected["compliance_status"] == "non_compliant"
    assert rejected["compliance_note"] == "Bought mailing lists" and rejected["sending_allowed"] is False
    with pytest.raises(Forbidden, match="non_compliant"):
        service.sender_check(acct.account_id, f"a@{domain['domain_name']}", ["x@example.org"])
    assert cli.main(["--aws", "reject", "--domain-id", str(domain["id"]), "--reason", " "]) == 1
    assert cli.main(["--aws", "approve", "--domain-id", "999999999"]) == 1
    assert "No live domain" in capsys.readouterr().err


def test_unverified_dns_keeps_the_domain_initial_in_both_modes(api, zone, manual_review):  # noqa: F811
    domain = api.post("/api/domains", {"domain": {"domain_name": unique_domain()}}).json
    assert api.post(f"/api/domains/{domain['id']}/verify").json["compliance_status"] == "unverified_dns"


def test_cli_zone_prints_the_records_for_a_stub_dns(api, zone, capsys):  # noqa: F811
    domain = api.post("/api/domains", {"domain": {"domain_name": unique_domain()}}).json
    assert cli.main(["--aws", "zone", "--domain-id", str(domain["id"])]) == 0
    text = capsys.readouterr().out
    zone.load(text)  # the printed zone file is what the stub serves
    assert cli.main(["--aws", "check", "--domain-id", str(domain["id"])]) == 0
    assert "dns_verified=True" in capsys.readouterr().out


def test_cli_zone_output_replaces_the_file_only_on_success(api, zone, tmp_path, capsys):  # noqa: F811
    domain = api.post("/api/domains", {"domain": {"domain_name": unique_domain()}}).json
    target = tmp_path / "my.zone"
    target.write_text("; what the stub serves now\n")
    assert cli.main(["--aws", "zone", "--domain-id", "999999999", "--output", str(target)]) == 1
    out = capsys.readouterr()
    assert target.read_text() == "; what the stub serves now\n" and out.out == "" and "No live domain" in out.err
    assert cli.main(["--aws", "zone", "--domain-id", str(domain["id"]), "--output", str(target)]) == 0
    assert domain["domain_name"] in target.read_text() and capsys.readouterr().out == ""


def test_sender_check_rules(api, account, zone):  # noqa: F811
    acct, _ = account
    owner = acct.owner_email
    domain = verified_domain(api, zone)
    name = domain["domain_name"]
    assert service.sender_check(acct.account_id, f"news@{name.upper()}", ["x@example.org"]).domain_id == domain["id"]
    with pytest.raises(Forbidden, match="not a sending domain"):
        service.sender_check(acct.account_id, f"a@mail.{name}", ["x@example.org"])  # subdomains are separate
    with pytest.raises(Forbidden, match="not a sending domain"):
        service.sender_check(acct.account_id, "a@unknown.example.org", ["x@example.org"])
    with pytest.raises(Forbidden, match="no valid domain"):
        service.sender_check(acct.account_id, "nobody", ["x@example.org"])
    unverified = api.post("/api/domains", {"domain": {"domain_name": unique_domain()}}).json
    with pytest.raises(Forbidden, match="not verified"):
        service.sender_check(acct.account_id, f"a@{unverified['domain_name']}", ["x@example.org"])
    api.delete(f"/api/domains/{domain['id']}")
    with pytest.raises(Forbidden, match="not a sending domain"):
        service.sender_check(acct.account_id, f"a@{name}", ["x@example.org"])

    demo = config.settings().demo_domain
    assert service.sender_check(acct.account_id, f"hi@{demo}", [owner.upper()]).demo is True
    with pytest.raises(Forbidden, match="only send to the account owner"):
        service.sender_check(acct.account_id, f"hi@{demo}", [owner, "friend@example.org"])


def test_sender_check_on_a_deleted_demo_domain(api, account):
    acct, _ = account
    demo = config.settings().demo_domain
    first = service.sender_check(acct.account_id, f"hi@{demo}", [acct.owner_email])
    assert first.demo is True and first.live
    assert api.delete(f"/api/domains/{first.domain_id}").status == 204
    with pytest.raises(Forbidden, match="not a sending domain"):
        service.sender_check(acct.account_id, f"hi@{demo}", [acct.owner_email])


@pytest.mark.parametrize("deleted", [False, True])
@pytest.mark.parametrize("demo", [False, True])
@pytest.mark.parametrize("verified", [False, True])
@pytest.mark.parametrize("failing_hours", [None, 1, 10_000])
@pytest.mark.parametrize("status", ["compliant", "pending", "rejected"])
def test_blocked_reason_is_the_sending_allowed_rule(deleted, demo, verified, failing_hours, status):
    from datetime import timedelta

    from chalicelib.core import clock
    from chalicelib.domains.models import Domain

    now = clock.now()
    domain = Domain(1, 1, domain_name="example.org", demo=demo, dns_verified=verified, compliance_status=status,
                    deleted_at=now if deleted else None,
                    dns_failing_since=None if failing_hours is None else now - timedelta(hours=failing_hours))
    expired = failing_hours is not None and now >= service.grace_end(domain)
    allowed = not deleted and (demo or (not expired and verified and status == "compliant"))
    reason = service.blocked_reason(domain)
    assert service.sending_allowed(domain) is allowed and (reason is None) is allowed
    if not deleted and not demo and (expired or not verified):
        assert reason == ("its DNS records are not verified" if failing_hours is None
                          else f"its DNS records stopped verifying on {clock.iso(domain.dns_failing_since)}")
    elif not deleted and not demo and status != "compliant":
        assert reason == f"it has not passed the compliance check (status: {status})"
