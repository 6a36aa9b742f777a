"""Sending-domain routes, served as ``/api/accounts/{account_id}/sending_domains/...`` (the
SDKs) and ``/api/domains/...`` (the current spec; the account is the token's)."""

from __future__ import annotations

from chalice import Blueprint

from chalicelib.core.http import api_route, no_content, principal, request_body, request_body_later
from chalicelib.core.permissions import ADMIN
from chalicelib.domains import company, instructions, service, verification
from chalicelib.domains.request_models import (
    CompanyInfoCreate,
    CompanyInfoUpdate,
    DomainCreate,
    DomainUpdate,
    SetupInstructions,
)

bp = Blueprint(__name__)
ONE = "/sending_domains/{domain_id}"
ONE_SHORT = "/domains/{domain_id}"


@api_route(bp, "/sending_domains", ["GET"], unprefixed="/domains")
def list_domains(account_id=None):
    who = principal(bp, account_id)
    return {"data": [service.to_wire(d, who) for d in service.list_domains(who)]}


@api_route(bp, "/sending_domains", ["POST"], unprefixed="/domains", body=DomainCreate)
def create_domain(account_id=None):
    who = principal(bp, account_id)
    params: DomainCreate = request_body(bp)
    domain, token = service.create_domain(who, params.domain_name)
    return {**service.to_wire(domain, who), "api_token": token}


@api_route(bp, ONE, ["GET"], unprefixed=ONE_SHORT)
def get_domain(domain_id, account_id=None):
    who = principal(bp, account_id)
    return service.to_wire(service.get_domain(who, domain_id), who)


@api_route(bp, ONE, ["PATCH"], unprefixed=ONE_SHORT, body=DomainUpdate)
def update_domain(domain_id, account_id=None):
    who = principal(bp, account_id)
    return service.to_wire(service.update_domain(who, domain_id, request_body(bp)), who)


@api_route(bp, ONE, ["DELETE"], unprefixed=ONE_SHORT)
def delete_domain(domain_id, account_id=None):
    service.delete_domain(principal(bp, account_id), domain_id)
    return no_content()


@api_route(bp, ONE + "/verify", ["POST"], unprefixed=ONE_SHORT + "/verify")
def verify_domain(domain_id, account_id=None):
    who = principal(bp, account_id)
    return service.to_wire(verification.verify_now(who, domain_id), who)


@api_route(bp, ONE + "/send_setup_instructions", ["POST"], unprefixed=ONE_SHORT + "/send_setup_instructions",
           body=SetupInstructions)
def send_setup_instructions(domain_id, account_id=None):
    who = principal(bp, account_id)
    body = request_body_later(bp, allow_empty=True)  # unreadable JSON: 400; another account's id: 404; then 422s
    domain = service.domain_for(who, domain_id, ADMIN)
    params: SetupInstructions = body()
    instructions.request(domain, params.email)
    return no_content()


@api_route(bp, ONE + "/company_info", ["GET"], unprefixed=ONE_SHORT + "/company_info")
def get_company_info(domain_id, account_id=None):
    return company.get_company_info(principal(bp, account_id), domain_id)


@api_route(bp, ONE + "/company_info", ["POST"], unprefixed=ONE_SHORT + "/company_info", body=CompanyInfoCreate)
def create_company_info(domain_id, account_id=None):
    who = principal(bp, account_id)
    body = request_body_later(bp)  # unreadable JSON: 400; another account's id: 404; then the body's 422s
    return company.create_company_info(who, service.domain_for(who, domain_id, ADMIN), body())


@api_route(bp, ONE + "/company_info", ["PATCH"], unprefixed=ONE_SHORT + "/company_info", body=CompanyInfoUpdate)
def update_company_info(domain_id, account_id=None):
    who = principal(bp, account_id)
    body = request_body_later(bp)  # unreadable JSON: 400; another account's id: 404; then the body's 422s
    return company.update_company_info(who, service.domain_for(who, domain_id, ADMIN), body())
