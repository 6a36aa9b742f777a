"""Mailbox providers from the recipient domain's MX, against a real DNS server (dnslib on
127.0.0.1): Google Workspace and Office 365 customers keep their own domains."""

from __future__ import annotations

import socket

from chalicelib.domains import dnscheck
from chalicelib.sending import mailbox_providers
from tests.automation_support import set_settings
from tests.domain_helpers import unique_domain, zone  # noqa: F401
from tests.events_support import delivery, record_events
from tests.integration.test_stats import send_many
from tests.sending_support import verified_domain


def test_custom_domains_are_classified_by_their_mx(zone):  # noqa: F811
    workspace, office, proton, own = (unique_domain() for _ in range(4))
    zone.set(workspace, "MX", "1 aspmx.l.google.com.", "5 alt1.aspmx.l.google.com.")
    zone.set(office, "MX", f"0 {office.replace('.', '-')}.mail.protection.outlook.com.")
    zone.set(proton, "MX", "10 mail.protonmail.ch.", "20 mailsec.protonmail.ch.")
    zone.set(own, "MX", f"10 mx.{own}.")
    assert mailbox_providers.provider_of(f"ann@{workspace}") == "Google Workspace"
    assert mailbox_providers.provider_of(f"bob@{office.upper()}") == "Office 365"
    assert mailbox_providers.provider_of(f"cy@{proton}") == "Proton"
    assert mailbox_providers.provider_of(f"di@{own}") == "Other"
    assert mailbox_providers.provider_of(f"ed@{unique_domain()}") == "Other"  # no such domain
    assert mailbox_providers.provider_of("fay@gmail.com") == "Google"  # free Gmail, known by name


def test_a_domain_is_looked_up_once(zone):  # noqa: F811
    domain = unique_domain()
    zone.set(domain, "MX", "1 aspmx.l.google.com.")
    assert mailbox_providers.provider_of(f"a@{domain}") == "Google Workspace"
    zone.set(domain, "MX", f"0 {domain.replace('.', '-')}.mail.protection.outlook.com.")
    assert mailbox_providers.provider_of(f"b@{domain}") == "Google Workspace"  # the cached answer


def test_a_failed_lookup_falls_back_to_the_name_rule_and_is_retried_later(zone, monkeypatch):  # noqa: F811
    soon, later = unique_domain(), unique_domain()
    for domain in (soon, later):
        zone.set(domain, "MX", "1 aspmx.l.google.com.")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:  # bound, never answers
        silent.bind(("127.0.0.1", 0))
        set_settings(monkeypatch, dnscheck, dns_resolver=silent.getsockname(), dns_timeout_seconds=0.2)
        assert mailbox_providers.provider_of(f"a@{later}") == "Other"
        assert mailbox_providers.provider_of("b@hotmail.com") == "Outlook"  # the name rule needs no DNS
        monkeypatch.setattr(mailbox_providers, "FAILURE_SECONDS", 0)
        assert mailbox_providers.provider_of(f"c@{soon}") == "Other"
    monkeypatch.undo()  # DNS answers again
    assert mailbox_providers.provider_of(f"d@{later}") == "Other"  # not asked again at every event
    assert mailbox_providers.provider_of(f"e@{soon}") == "Google Workspace"  # asked again once the wait is over


def test_stats_by_mailbox_provider_see_google_workspace_customers(api, client, account, zone):  # noqa: F811
    company = unique_domain("corp")
    zone.set(company, "MX", "1 aspmx.l.google.com.")
    domain = verified_domain(account[0].account_id)
    messages = send_many(api, domain, [f"ann@{company}", f"bob@{company}", "cy@gmail.com"])
    record_events(client, [delivery(m) for m in messages])
    rows = {r["email_service_provider"]: r["stats"]["delivery_count"]
            for r in api.get("/api/stats/email_service_providers").json}
    assert rows == {"Google Workspace": 2, "Google": 1}


def test_email_logs_filter_by_status_and_google_workspace(api, client, account, zone):  # noqa: F811
    # seed-C 14 as written: Status in {Delivered, Opted Out} AND provider in {Google Workspace, Yahoo}
    from tests.events_support import bounce, complaint

    company = unique_domain("corp")
    zone.set(company, "MX", "1 aspmx.l.google.com.")
    domain = verified_domain(account[0].account_id)
    workspace, bounced, yahoo, gmail = send_many(api, domain, [f"ann@{company}", f"bob@{company}", "cy@yahoo.com",
                                                               "di@gmail.com"])
    record_events(client, [delivery(workspace), bounce(bounced), delivery(yahoo), complaint(yahoo), delivery(gmail)])
    query = ("/api/email_logs?filters[status][operator]=equal&filters[status][value][]=delivered"
             "&filters[status][value][]=opted_out&filters[email_service_provider][operator]=equal"
             "&filters[email_service_provider][value][]=Google%20Workspace"
             "&filters[email_service_provider][value][]=Yahoo")
    found = {m["message_id"]: m["status"] for m in api.get(query).json["messages"]}
    assert found == {workspace.message_id: "delivered", yahoo.message_id: "opted_out"}
