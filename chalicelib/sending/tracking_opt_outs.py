"""Tracking opt-outs (the SDK's ``tracking_opt_outs``): addresses whose mail from a domain is
sent without the open pixel and tracked links. Per sending domain, as suppressions are.

The delivery worker asks ``opted_out`` once per dispatch of a domain that tracks.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from pynamodb.exceptions import PutError

from chalicelib.accounts import service as accounts
from chalicelib.core import clock, db
from chalicelib.core.errors import BadRequest, NotFound
from chalicelib.core.permissions import ADMIN, VIEWER, Principal
from chalicelib.sending.models import TrackingOptOut
from chalicelib.sending.request_models import TrackingOptOutCreate, TrackingOptOutList

PAGE_SIZE = 1000  # the SDK: up to 1000 records per request


def _scope(account_id: int, domain_id: int) -> str:
    return f"{int(account_id)}#{int(domain_id)}"


def to_wire(item: TrackingOptOut) -> dict[str, Any]:
    return {"id": item.opt_out_id, "email": item.email, "created_at": clock.iso(item.created_at),
            "domain_name": item.domain_name}


SMALL_LIST = 50  # a domain's list this short is read whole (one Query) rather than looked up by key


def opted_out(account_id: int, domain_id: int, emails: Iterable[str]) -> set[str]:
    """Which of these addresses (lower case) opted out of tracking on the domain. Most
    domains have no opt-outs or a few: one Query of up to SMALL_LIST + 1 items answers for
    them; a longer list is asked by key (BatchGetItem, 100 keys per call)."""
    wanted = {e.lower() for e in emails}
    if not wanted:
        return set()
    scope = _scope(account_id, domain_id)
    listed = [item.email for item in TrackingOptOut.query(scope, limit=SMALL_LIST + 1, attributes_to_get=["email"])]
    if len(listed) <= SMALL_LIST:
        return wanted & set(listed)
    return {item.email for item in TrackingOptOut.batch_get([(scope, e) for e in wanted], attributes_to_get=["email"])}


def _by_id(account_id: int, opt_out_id: str) -> TrackingOptOut:
    for item in TrackingOptOut.by_id.query(str(opt_out_id)):
        if item.account_id == int(account_id):
            return item
    raise NotFound()


def list_opt_outs(principal: Principal, params: TrackingOptOutList) -> dict[str, Any]:
    """Oldest first, up to 1,000; ``last_id`` is the cursor of the next page (None at the end)."""
    visible = principal.resource_ids("domain", VIEWER)  # None: every domain of the account
    if visible is not None and not visible:
        accounts.require(principal, VIEWER)
    lower = clock.iso(params.start_time) if params.start_time else "0"
    upper = f"{clock.iso(params.end_time)}#\uffff" if params.end_time else "9"
    if params.last_id:
        try:
            lower = max(lower, _by_id(principal.account_id, params.last_id).list_key + "\x00")
        except NotFound:
            raise BadRequest("last_id does not name a tracking opt-out of this account") from None
    email = (params.email or "").strip().lower()
    page: list[TrackingOptOut] = []
    more = False
    if lower < upper:
        window = TrackingOptOut.list_key.between(lower, upper)
        for item in TrackingOptOut.by_account.query(principal.account_id, window):
            if (visible is not None and item.domain_id not in visible) or (email and item.email != email):
                continue
            if len(page) == PAGE_SIZE:
                more = True
                break
            page.append(item)
    return {"data": [to_wire(i) for i in page], "last_id": page[-1].opt_out_id if more else None}


def create(principal: Principal, params: TrackingOptOutCreate) -> tuple[dict[str, Any], bool]:
    """One opt-out; returns it and whether it is new (an existing one is returned as it is)."""
    from chalicelib.domains import service as domains  # the domains capability owns domains

    domain = domains.get_live(principal.account_id, params.domain_id)  # the model found it live
    accounts.require(principal, ADMIN, "domain", domain.domain_id)
    email = params.email
    now, opt_out_id = clock.now(), str(uuid.uuid4())
    item = TrackingOptOut(_scope(principal.account_id, domain.domain_id), email, opt_out_id=opt_out_id,
                          account_id=principal.account_id, domain_id=domain.domain_id,
                          domain_name=domain.domain_name, created_at=now, list_key=f"{clock.iso(now)}#{opt_out_id}")
    try:
        item.save(condition=TrackingOptOut.scope.does_not_exist())
        return to_wire(item), True
    except PutError as exc:
        if not db.condition_failed(exc):
            raise
    return to_wire(TrackingOptOut.get(item.scope, item.email, consistent_read=True)), False


def delete(principal: Principal, opt_out_id: str) -> dict[str, Any]:
    """Tracking applies to the address's mail from the domain again."""
    item = _by_id(principal.account_id, opt_out_id)
    accounts.require_domain_admin(principal, item.domain_id)
    item.delete()
    return to_wire(item)
