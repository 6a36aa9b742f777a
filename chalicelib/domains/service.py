"""Sending domains: add, list, read, change and delete them, and decide who may send from one.

Rules (seeds 001 "Sending Domain Setup", seed-B §3.2, seed-D "Domain Not Allowed"):
- a domain is registered as an SES identity and gets its DNS records on creation, plus an
  API token "<domain> token <id>" with admin access to that domain only;
- names are unique among an account's live domains; a subdomain is a domain of its own;
- delete is soft: the domain leaves lists and stops sending, stats keep "<name> (deleted)";
- each account has one demo domain, verified from the start, that sends only to the
  account owner's address; once deleted it is not created again.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pynamodb.exceptions import DoesNotExist, PutError, UpdateError

from chalicelib.accounts import service as accounts
from chalicelib.core import clock, db, ids, resources
from chalicelib.core.config import settings
from chalicelib.core.errors import Forbidden, NotFound, Unprocessable
from chalicelib.core.permissions import ADMIN, VIEWER, Principal
from chalicelib.domains import compliance, names, records, ses
from chalicelib.domains.models import AutoBccHeader, Domain, DomainAccountSettings
from chalicelib.domains.request_models import DomainUpdate

COMPLIANT, DEMO = "compliant", "demo"
BOOLEAN_SETTINGS = ("open_tracking_enabled", "click_tracking_enabled", "custom_domain_tracking_enabled",
                    "auto_unsubscribe_link_enabled", "tracking_opt_out_enabled", "health_alerts_enabled",
                    "critical_alerts_enabled")


# ---------------------------------------------------------------- lookups (always by account)


def account_domains(account_id: int, include_deleted: bool = False) -> list[Domain]:
    found = Domain.query(int(account_id))
    return [d for d in found if include_deleted or d.live]


def get_live(account_id: int, domain_id: Any) -> Domain:
    """A live domain of this account; any other account's id, or a deleted one, is a 404."""
    try:
        domain = Domain.get(int(account_id), ids.path_id(domain_id), consistent_read=True)
    except DoesNotExist:
        raise NotFound() from None
    if not domain.live:
        raise NotFound()
    return domain


def domain_for(principal: Principal, domain_id: Any, level: int) -> Domain:
    domain = get_live(principal.account_id, domain_id)
    accounts.require(principal, level, "domain", domain.domain_id)
    return domain


def domain_label(account_id: int, domain_id: int) -> str | None:
    """The name stats and logs show for a domain, deleted ones with a " (deleted)" suffix."""
    try:
        domain = Domain.get(int(account_id), int(domain_id))
    except DoesNotExist:
        return None
    return domain.domain_name + ("" if domain.live else " (deleted)")


# ---------------------------------------------------------------- wire shape


def to_wire(domain: Domain, principal: Principal | None = None) -> dict[str, Any]:
    """The SDK's SendingDomain (mailtrap/models/sending_domains.py) plus a few Postline extras."""
    level = principal.level_for("domain", domain.domain_id) if principal else ADMIN
    return {
        "id": domain.domain_id,
        "domain_name": domain.domain_name,
        "demo": domain.demo,
        "compliance_status": compliance.wire_status(domain.compliance_status),
        "dns_verified": domain.dns_verified,
        "dns_verified_at": clock.iso(domain.dns_verified_at),
        "dns_records": [{
            "key": r.key, "domain": r.domain, "type": r.type, "value": r.value, "status": r.status,
            "name": r.name, "required": r.required, "explanation": r.explanation,
        } for r in domain.records],
        **{flag: getattr(domain, flag) for flag in BOOLEAN_SETTINGS},
        "alert_recipient_email": domain.alert_recipient_email,
        "inbound_enabled": False,
        "inbound_verified": False,
        "permissions": {"can_read": level >= VIEWER, "can_update": level >= ADMIN, "can_destroy": level >= ADMIN},
        # Postline extras (clients that do not know them ignore them)
        "sending_allowed": sending_allowed(domain),
        "dns_checked_at": clock.iso(domain.dns_checked_at),
        "dns_failing_since": clock.iso(domain.dns_failing_since),
        "dns_grace_ends_at": clock.iso(grace_end(domain)),
        "compliance_note": domain.compliance_note,
        "tracking_caa": {"status": domain.caa_status, "explanation": domain.caa_explanation},
        "auto_bcc": {"emails": list(domain.auto_bcc_emails),
                     "headers": [{"name": h.name, "value": h.value} for h in domain.auto_bcc_headers]},
    }


# ---------------------------------------------------------------- sending rules


def grace_end(domain: Domain) -> datetime | None:
    if domain.dns_failing_since is None:
        return None
    return domain.dns_failing_since + timedelta(hours=settings().dns_grace_hours)


def blocked_reason(domain: Domain) -> str | None:
    """Why mail from this domain is refused now (completing "<name> can't send because ..."),
    or None when it may send: live, and demo or DNS-verified (within any grace period) and
    compliant. The one rule behind ``sending_allowed`` and ``sender_check``."""
    if not domain.live:
        return "it has been deleted"
    if domain.demo:
        return None
    ends = grace_end(domain)
    if not domain.dns_verified or (ends is not None and clock.now() >= ends):
        if ends is not None:
            return f"its DNS records stopped verifying on {clock.iso(domain.dns_failing_since)}"
        return "its DNS records are not verified"
    if domain.compliance_status != COMPLIANT:
        return f"it has not passed the compliance check (status: {compliance.wire_status(domain.compliance_status)})"
    return None


def sending_allowed(domain: Domain) -> bool:
    return blocked_reason(domain) is None


def sender_check(account_id: int, from_email: str, recipients: list[str]) -> Domain:
    """The domain a message from ``from_email`` is sent through, or Forbidden saying why not.

    The From domain must be one of the account's own live domains, matched exactly (a
    subdomain is a separate domain), DNS-verified (within any grace period) and compliant.
    The demo domain sends only to the account owner's address.
    """
    name = names.from_address(from_email)
    if not name:
        raise Forbidden(f"Sending from domain is not allowed: '{from_email}' has no valid domain")
    demo = ensure_demo_domain(account_id) if name == settings().demo_domain else None
    if demo is not None and demo.live and demo.domain_name == name:
        match = [demo]  # just read consistently; no need to query the account's domains again
    else:
        match = [d for d in account_domains(account_id) if d.domain_name == name]
    if not match:
        raise Forbidden(f"Sending from domain is not allowed: {name} is not a sending domain of this "
                        "account; add and verify it first (a subdomain must be added on its own)")
    domain = match[0]
    if domain.demo:
        owner = accounts.get_account(account_id).owner_email.lower()
        others = sorted({r for r in recipients if (r or "").strip().lower() != owner})
        if others:
            raise Forbidden(f"The demo domain {name} can only send to the account owner's address ({owner}), "
                            f"not to {', '.join(others)}; add and verify your own domain to send to anyone")
        return domain
    reason = blocked_reason(domain)
    if reason is not None:
        raise Forbidden(f"Sending from domain is not allowed: {name} can't send because {reason}")
    return domain


# ---------------------------------------------------------------- demo domain


def ensure_demo_domain(account_id: int) -> Domain | None:
    """Create the account's demo domain the first time it is needed; never a second one."""
    account_id = int(account_id)
    try:
        claimed = DomainAccountSettings.get(account_id, consistent_read=True).demo_domain_id
    except DoesNotExist:
        claimed = None
    if claimed is None:
        candidate = ids.next_id("domain")
        item = DomainAccountSettings(account_id)
        try:
            item.update(actions=[
                DomainAccountSettings.demo_domain_id.set(candidate),
                DomainAccountSettings.created_at.set(DomainAccountSettings.created_at | clock.now()),
                DomainAccountSettings.updated_at.set(clock.now()),
            ], condition=DomainAccountSettings.demo_domain_id.does_not_exist())
            claimed = candidate
        except UpdateError:  # a concurrent request claimed it first
            claimed = DomainAccountSettings.get(account_id, consistent_read=True).demo_domain_id
    try:
        return Domain.get(account_id, int(claimed), consistent_read=True)
    except DoesNotExist:
        pass
    demo_name = settings().demo_domain
    now = clock.now()
    domain = Domain(account_id, int(claimed), domain_name=demo_name, demo=True, dns_verified=True,
                    dns_verified_at=now, dns_checked_at=now, compliance_status=DEMO, records=[])
    try:
        domain.save(condition=Domain.domain_id.does_not_exist())
        ses.ensure_identity(demo_name)
    except PutError:  # created concurrently
        domain = Domain.get(account_id, int(claimed), consistent_read=True)
    return domain


# ---------------------------------------------------------------- CRUD


def list_domains(principal: Principal) -> list[Domain]:
    ensure_demo_domain(principal.account_id)
    visible = principal.resource_ids("domain", VIEWER)
    return sorted((d for d in account_domains(principal.account_id)
                   if visible is None or d.domain_id in visible), key=lambda d: d.domain_id)


def get_domain(principal: Principal, domain_id: Any) -> Domain:
    return domain_for(principal, domain_id, VIEWER)


def create_domain(principal: Principal, name: str) -> tuple[Domain, dict[str, Any]]:
    """Register the domain with SES, build its records and issue its API token (``name``:
    normalised, as ``DomainCreate`` gives it)."""
    accounts.require_manager(principal)  # it makes a token: not with a reset one
    ensure_demo_domain(principal.account_id)  # so the demo domain comes first in the list
    if name == settings().demo_domain:
        raise Unprocessable.field(names.FIELD, "is reserved for the demo domain")
    if any(d.domain_name == name for d in account_domains(principal.account_id)):
        raise Unprocessable.field(names.FIELD, "has already been taken")
    _claim_name(principal.account_id, name)  # two concurrent creates of one name: one wins
    try:
        dkim_tokens, token_source = ses.register_identity(name)
        ses.set_mail_from(name)
        verification_token = records.new_verification_token()
        domain = Domain(
            principal.account_id, ids.next_id("domain"), domain_name=name,
            verification_token=verification_token, dkim_tokens=dkim_tokens, dkim_token_source=token_source,
            records=records.build(name, verification_token, dkim_tokens),
        )
        domain.save(condition=Domain.domain_id.does_not_exist())
    except Exception:
        _release_name(principal.account_id, name)
        raise
    token, value = accounts.issue_domain_token(principal.account_id, domain.domain_id, name,
                                               created_by=principal.token_name)
    domain.update(actions=[Domain.token_id.set(token.token_id)])
    _activity(principal, "created", "added a sending domain", domain)
    return domain, {"id": token.token_id, "name": token.name, "token": value}


def _activity(principal: Principal, what: str, description: str, domain: Domain) -> None:
    from chalicelib.activity import service as activity  # the audit log (and its webhooks)

    activity.record(principal.account_id, principal, f"sending_domain.{what}", description,
                    {"id": domain.domain_id, "type": "sending_domain", "name": domain.domain_name})


def _claim_name(account_id: int, name: str) -> None:
    """Reserve a name among the account's live domains (a conditional ADD to one set), so a
    check-then-create race can't make the same domain twice."""
    try:
        DomainAccountSettings(int(account_id)).update(
            actions=[DomainAccountSettings.domain_names.add({name}),
                     DomainAccountSettings.created_at.set(DomainAccountSettings.created_at | clock.now()),
                     DomainAccountSettings.updated_at.set(clock.now())],
            condition=~DomainAccountSettings.domain_names.contains(name))
    except UpdateError as exc:
        if db.condition_failed(exc):
            raise Unprocessable.field(names.FIELD, "has already been taken") from None
        raise


def _release_name(account_id: int, name: str) -> None:
    DomainAccountSettings(int(account_id)).update(actions=[
        DomainAccountSettings.domain_names.delete({name}),
        DomainAccountSettings.created_at.set(DomainAccountSettings.created_at | clock.now()),
        DomainAccountSettings.updated_at.set(clock.now())])


def _auto_bcc(domain: Domain, params: DomainUpdate) -> list[Any]:
    """The auto-BCC parts sent replace the domain's; a part left out stays."""
    if domain.demo:
        raise Unprocessable.field("auto_bcc", "is not available on the demo domain")
    sent = params.auto_bcc.model_fields_set
    emails = params.auto_bcc.emails if "emails" in sent else list(domain.auto_bcc_emails)
    headers = ([AutoBccHeader(name=h.name, value=h.value) for h in params.auto_bcc.headers] if "headers" in sent
               else list(domain.auto_bcc_headers))
    return [Domain.auto_bcc_emails.set(emails), Domain.auto_bcc_headers.set(headers)]


def update_domain(principal: Principal, domain_id: Any, params: DomainUpdate) -> Domain:
    """Tracking, unsubscribe, alert and auto-BCC settings: the ones sent change."""
    domain = domain_for(principal, domain_id, ADMIN)
    sent = params.model_fields_set
    values = {f: getattr(params, f) for f in BOOLEAN_SETTINGS if f in sent}
    if values.get("click_tracking_enabled"):
        if domain.caa_status == "blocked":
            raise Unprocessable.field("click_tracking_enabled",
                                      domain.caa_explanation or "the tracking hostname is blocked")
        values.setdefault("custom_domain_tracking_enabled", True)  # the seeds: it switches on with clicks
    actions = [getattr(Domain, f).set(v) for f, v in values.items()]
    if "alert_recipient_email" in sent:
        actions.append(Domain.alert_recipient_email.set(params.alert_recipient_email))
    if "auto_bcc" in sent:
        actions += _auto_bcc(domain, params)
    if actions:
        domain.update(actions=[*actions, Domain.updated_at.set(clock.now())])
    return domain


def delete_domain(principal: Principal, domain_id: Any) -> None:
    """Soft delete; the shared SES identity goes when no live domain of any account uses it."""
    domain = domain_for(principal, domain_id, ADMIN)
    if not domain.demo:
        # the name may be added again; released first, so a delete that fails after it leaves
        # a live domain (whose name create_domain still refuses), never a name claimed for ever
        _release_name(domain.account_id, domain.domain_name)
    domain.update(actions=[Domain.deleted_at.set(clock.now())])
    _activity(principal, "deleted", "deleted a sending domain", domain)
    if domain.demo:
        return
    if not any(d.live for d in Domain.by_name.query(domain.domain_name)):
        ses.delete_identity(domain.domain_name)


# ---------------------------------------------------------------- token permissions


def _exists(account_id: int, domain_id: int) -> bool:
    try:
        return Domain.get(int(account_id), int(domain_id)).live
    except DoesNotExist:
        return False


def _nodes(account_id: int) -> list[resources.ResourceNode]:
    return [resources.ResourceNode(d.domain_id, d.domain_name, "domain")
            for d in sorted(account_domains(account_id), key=lambda d: d.domain_id)]


resources.register(resources.ResourceType("domain", _exists, _nodes))
