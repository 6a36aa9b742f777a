"""The compliance lifecycle of a sending domain, with the operator as the reviewer.

``initial`` -> (DNS passes) ``under_review`` -> ``compliant``, or ``non_compliant`` (the
"Rejected" badge). With POSTLINE_COMPLIANCE_REVIEW=auto (the default) the review approves
a domain as soon as its DNS passes. With ``manual`` the domain waits for an operator
(``python -m local.domains approve|reject --domain-id N``); if the account has no
company info yet it first waits in ``awaiting_questionnaire`` until it is submitted.
The demo domain has the status ``demo`` and never enters the lifecycle.
"""

from __future__ import annotations

from pynamodb.exceptions import DoesNotExist

from chalicelib.core import clock
from chalicelib.core.config import settings
from chalicelib.core.errors import NotFound, Unprocessable
from chalicelib.domains.models import Domain, DomainAccountSettings

INITIAL, UNDER_REVIEW, AWAITING_QUESTIONNAIRE = "initial", "under_review", "awaiting_questionnaire"
COMPLIANT, REJECTED = "compliant", "non_compliant"
PENDING = (UNDER_REVIEW, AWAITING_QUESTIONNAIRE)
# The spec's enum has no "initial": a domain whose review has not started is one whose DNS
# is not verified yet (the review starts the moment it is).
_WIRE = {INITIAL: "unverified_dns"}


def wire_status(status: str) -> str:
    """``compliance_status`` as the API shows it (mailtrap-openapi Domain.compliance_status)."""
    return _WIRE.get(status, status)


def _has_company_info(account_id: int) -> bool:
    try:
        return DomainAccountSettings.get(int(account_id)).company_info is not None
    except DoesNotExist:
        return False


def review_actions(domain: Domain) -> list:
    """Update actions that move a domain on after a DNS check (none if it stays put)."""
    if domain.demo or domain.compliance_status != INITIAL or not domain.dns_verified:
        return []
    if settings().compliance_review == "auto":
        return [Domain.compliance_status.set(COMPLIANT),
                Domain.compliance_note.set("Approved automatically once its DNS records passed.")]
    if not _has_company_info(domain.account_id):
        return [Domain.compliance_status.set(AWAITING_QUESTIONNAIRE),
                Domain.compliance_note.set("Waiting for the company information (POST .../company_info).")]
    return [Domain.compliance_status.set(UNDER_REVIEW),
            Domain.compliance_note.set("Waiting for an operator's review.")]


def questionnaire_submitted(account_id: int) -> None:
    """Company info arrived: domains that waited for it go to review."""
    for domain in Domain.query(int(account_id), filter_condition=Domain.compliance_status == AWAITING_QUESTIONNAIRE):
        if domain.live:
            domain.update(actions=[Domain.compliance_status.set(UNDER_REVIEW),
                                   Domain.compliance_note.set("Waiting for an operator's review."),
                                   Domain.updated_at.set(clock.now())])


# ---------------------------------------------------------------- operator (CLI)


def find(domain_id: int) -> Domain:
    """A domain by id across accounts: the operator's CLI has no account context (small scan)."""
    for domain in Domain.scan(Domain.domain_id == int(domain_id)):
        if domain.live:
            return domain
    raise NotFound(f"No live domain with id {domain_id}")


def pending() -> list[Domain]:
    return sorted((d for d in Domain.scan(Domain.compliance_status.is_in(*PENDING)) if d.live),
                  key=lambda d: d.domain_id)


def approve(domain_id: int, note: str | None = None) -> Domain:
    domain = find(domain_id)
    if domain.demo:
        raise Unprocessable("The demo domain needs no review")
    domain.update(actions=[Domain.compliance_status.set(COMPLIANT),
                           Domain.compliance_note.set(note or "Approved by the operator."),
                           Domain.updated_at.set(clock.now())])
    return domain


def reject(domain_id: int, reason: str) -> Domain:
    if not reason or not reason.strip():
        raise Unprocessable.field("reason", "can't be blank: the account sees it")
    domain = find(domain_id)
    if domain.demo:
        raise Unprocessable("The demo domain needs no review")
    domain.update(actions=[Domain.compliance_status.set(REJECTED),
                           Domain.compliance_note.set(reason.strip()),
                           Domain.updated_at.set(clock.now())])
    return domain
