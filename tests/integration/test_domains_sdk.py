"""The official mailtrap SDK's sending_domains_api and company_info_api against Postline."""

from __future__ import annotations

import pytest
from mailtrap.exceptions import APIError
from mailtrap.models.company_info import CreateCompanyInfoParams, UpdateCompanyInfoParams
from mailtrap.models.sending_domains import (
    CreateSendingDomainParams,
    SendingDomain,
    SendSetupInstructionsParams,
    UpdateSendingDomainParams,
)

from chalicelib.domains import verification
from chalicelib.domains.models import Domain, SetupInstructionRequest
from tests.domain_helpers import drain, publish, unique_domain, zone  # noqa: F401


def test_sdk_creates_lists_gets_and_deletes_domains(sdk):
    mc, acct = sdk
    domains = mc.sending_domains_api.sending_domains
    name = unique_domain("sdk")
    created = domains.create(CreateSendingDomainParams(domain_name=name))
    assert isinstance(created, SendingDomain)
    assert created.domain_name == name and created.dns_verified is False
    assert created.compliance_status == "unverified_dns"
    assert {r.key for r in created.dns_records} >= {"verification", "dkim1", "spf", "dmarc"}
    assert all(r.status == "unchecked" for r in created.dns_records)
    assert created.permissions.can_destroy is True

    listed = domains.get_list()
    assert created.id in [d.id for d in listed]
    assert [d for d in listed if d.demo][0].compliance_status == "demo"
    got = domains.get_by_id(created.id)
    assert got.domain_name == name and len(got.dns_records) == len(created.dns_records)

    updated = domains.update(created.id, UpdateSendingDomainParams(open_tracking_enabled=False,
                                                                   click_tracking_enabled=True))
    assert updated.open_tracking_enabled is False and updated.click_tracking_enabled is True
    assert updated.custom_domain_tracking_enabled is True

    assert domains.delete(created.id).id == created.id
    assert created.id not in [d.id for d in domains.get_list()]
    with pytest.raises(APIError) as err:
        domains.get_by_id(created.id)
    assert err.value.status == 404


def test_sdk_send_setup_instructions(sdk):
    mc, acct = sdk
    domains = mc.sending_domains_api.sending_domains
    created = domains.create(CreateSendingDomainParams(domain_name=unique_domain("sdk")))
    result = domains.send_setup_instructions(created.id, SendSetupInstructionsParams(email="devops@example.org"))
    assert result.message
    queued = drain("setup-instructions")
    item = SetupInstructionRequest.get(queued[-1]["request_id"])
    assert (item.domain_id, item.email) == (created.id, "devops@example.org")
    with pytest.raises(APIError) as err:
        domains.send_setup_instructions(created.id, SendSetupInstructionsParams(email="not an email"))
    assert err.value.status == 422


def test_sdk_sees_verification_through_real_dns(sdk, zone):  # noqa: F811
    mc, acct = sdk
    domains = mc.sending_domains_api.sending_domains
    created = domains.create(CreateSendingDomainParams(domain_name=unique_domain("sdk")))
    publish(zone, {"dns_records": [r.__dict__ for r in created.dns_records]})
    # the hourly check (its schedule and queue are tested in test_domains_dns.py)
    verification.check(Domain.get(acct.account_id, created.id))
    got = domains.get_by_id(created.id)
    assert got.dns_verified is True and got.compliance_status == "compliant"
    assert {r.status for r in got.dns_records} == {"pass"}


def test_sdk_company_info(sdk):
    mc, acct = sdk
    created = mc.sending_domains_api.sending_domains.create(CreateSendingDomainParams(domain_name=unique_domain()))
    info = mc.company_info_api.company_info
    assert info.get(created.id).name is None
    made = info.create(created.id, CreateCompanyInfoParams(
        name="Acme", address="1 Main St", city="Springfield", country="US", zip_code="12345",
        website_url="https://acme.example", info_level="business"))
    assert made.name == "Acme" and made.info_level == "business"
    changed = info.update(created.id, UpdateCompanyInfoParams(city="Shelbyville"))
    assert changed.city == "Shelbyville" and changed.name == "Acme"
    assert info.get(created.id).city == "Shelbyville"


def test_sdk_bad_domain_name_is_a_422_with_the_reason(sdk):
    mc, _ = sdk
    with pytest.raises(APIError) as err:
        mc.sending_domains_api.sending_domains.create(CreateSendingDomainParams(domain_name="*.example.org"))
    assert err.value.status == 422 and "wildcards" in str(err.value)
