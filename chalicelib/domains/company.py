"""Company (or personal) information for compliance: one per account, reached through a domain.

The SDK and the spec address it as ``/domains/{id}/company_info``; the seeds say that
information given once is not asked again, so it is stored per account and every domain of
the account shows the same. ``info_level`` (business or individual) can be switched once.
"""

from __future__ import annotations

from typing import Any

from pynamodb.exceptions import DoesNotExist, UpdateError

from chalicelib.core import clock, db
from chalicelib.core.errors import Unprocessable
from chalicelib.core.permissions import VIEWER, Principal
from chalicelib.domains import compliance, service
from chalicelib.domains.models import CompanyInfoAttribute, Domain, DomainAccountSettings
from chalicelib.domains.request_models import CompanyInfoCreate, CompanyInfoUpdate

FIELDS = ("name", "address", "city", "country", "phone", "zip_code", "privacy_policy_url",
          "terms_of_service_url", "website_url", "info_level")


def to_wire(info: CompanyInfoAttribute | None) -> dict[str, Any]:
    return {"data": {f: (getattr(info, f) if info is not None else None) for f in FIELDS}}


def _settings(account_id: int) -> DomainAccountSettings | None:
    try:
        return DomainAccountSettings.get(int(account_id), consistent_read=True)
    except DoesNotExist:
        return None


def get_company_info(principal: Principal, domain_id: Any) -> dict[str, Any]:
    service.domain_for(principal, domain_id, VIEWER)
    found = _settings(principal.account_id)
    return to_wire(found.company_info if found else None)


def create_company_info(principal: Principal, domain: Domain, params: CompanyInfoCreate) -> dict[str, Any]:
    """``domain``: one the caller administers (``service.domain_for(..., ADMIN)``)."""
    values = params.model_dump(exclude_unset=True)
    values.setdefault("info_level", "business")
    # the conditional write refuses a second create (no read first)
    _write(principal.account_id, CompanyInfoAttribute(**values), changes=0,
           condition=DomainAccountSettings.company_info.does_not_exist())
    compliance.questionnaire_submitted(principal.account_id)
    return to_wire(CompanyInfoAttribute(**values))


def update_company_info(principal: Principal, domain: Domain, params: CompanyInfoUpdate) -> dict[str, Any]:
    """Changes the fields sent (``null`` clears an optional one); those left out stay.
    ``domain``: one the caller administers (``service.domain_for(..., ADMIN)``)."""
    values = params.model_dump(exclude_unset=True)
    found = _settings(principal.account_id)
    if found is None or found.company_info is None:
        raise Unprocessable("No company info yet; create it with POST first")
    current = {f: getattr(found.company_info, f) for f in FIELDS}
    changes = int(found.info_level_changes or 0)
    if values.get("info_level") and values["info_level"] != current["info_level"]:
        if changes >= 1:
            raise Unprocessable.field("info_level", "can be switched between business and individual only once")
        changes += 1
    merged = {**current, **values}
    _write(principal.account_id, CompanyInfoAttribute(**merged), changes=changes)
    compliance.questionnaire_submitted(principal.account_id)
    return to_wire(CompanyInfoAttribute(**merged))


def _write(account_id: int, info: CompanyInfoAttribute, changes: int, condition: Any = None) -> None:
    now = clock.now()
    try:
        DomainAccountSettings(int(account_id)).update(actions=[
            DomainAccountSettings.company_info.set(info),
            DomainAccountSettings.info_level_changes.set(changes),
            DomainAccountSettings.created_at.set(DomainAccountSettings.created_at | now),
            DomainAccountSettings.updated_at.set(now),
        ], condition=condition)
    except UpdateError as exc:
        if condition is None or not db.condition_failed(exc):
            raise
        # company info exists already (or a concurrent create won): the caller is told to PATCH
        raise Unprocessable("Company info already exists for this account; change it with PATCH") from None
