"""Checking a domain's DNS records: on demand, and hourly for every domain through a queue.

A check writes each record's status and explanation, ``dns_verified`` (every required
record passes), the CAA verdict for the tracking hostname, and moves compliance on. A
verified domain whose records stop passing is flagged (``dns_failing_since``) and keeps
sending for POSTLINE_DNS_GRACE_HOURS; a check after that un-verifies it. Lookups that get
no answer at all (``network_error``) change nothing: a resolver outage is not the
customer's DNS going away.
"""

from __future__ import annotations

import logging
from typing import Any

from pynamodb.exceptions import DoesNotExist

from chalicelib.core import clock, deadletters, queues
from chalicelib.core.permissions import ADMIN, Principal
from chalicelib.domains import compliance, dnscheck, records, service
from chalicelib.domains.models import DnsRecordAttribute, Domain

log = logging.getLogger("postline.domains.verification")
CHECK_QUEUE = queues.register("domain-checks")


def check(domain: Domain) -> Domain:
    """Look every record up now and store what was found."""
    if domain.demo or not domain.live:
        return domain
    items = [(r.key, r.type, r.domain, r.value) for r in domain.records]
    outcomes, caa = dnscheck.check_all(items, domain.domain_name, records.tracking_hostname(domain.domain_name))
    checked = [DnsRecordAttribute(key=r.key, type=r.type, name=r.name, domain=r.domain, value=r.value,
                                  required=r.required, status=o.status, explanation=o.explanation)
               for r, o in zip(domain.records, outcomes, strict=True)]
    required = [r for r in checked if r.required]
    now = clock.now()
    actions: list[Any] = [Domain.records.set(checked), Domain.dns_checked_at.set(now)]
    if all(r.status == dnscheck.PASS for r in required):
        if not domain.dns_verified:
            actions += [Domain.dns_verified.set(True), Domain.dns_verified_at.set(now)]
        if domain.dns_failing_since is not None:
            actions.append(Domain.dns_failing_since.remove())
    elif any(r.status in (dnscheck.FAIL, dnscheck.MISSING) for r in required) and domain.dns_verified:
        if domain.dns_failing_since is None:
            domain.dns_failing_since = now
            actions.append(Domain.dns_failing_since.set(now))
            log.warning("domain %s of account %s: verified records stopped passing",
                        domain.domain_id, domain.account_id)
        if now >= service.grace_end(domain):
            actions += [Domain.dns_verified.set(False), Domain.dns_verified_at.remove()]
    if caa is not None and caa.status != dnscheck.NETWORK_ERROR:
        blocked = caa.status == dnscheck.FAIL
        actions += [Domain.caa_status.set("blocked" if blocked else "allowed"),
                    Domain.caa_explanation.set(caa.explanation)]
        if blocked:  # the seeds: click tracking is switched off until the CAA records allow us
            actions += [Domain.click_tracking_enabled.set(False), Domain.custom_domain_tracking_enabled.set(False)]
    domain.update(actions=actions)
    moves = compliance.review_actions(domain)
    if moves:
        domain.update(actions=moves)
    return domain


def verify_now(principal: Principal, domain_id: Any) -> Domain:
    """The "Re-check DNS Records" button."""
    return check(service.domain_for(principal, domain_id, ADMIN))


def enqueue_rechecks() -> int:
    """The hourly schedule: one queue message per live, non-demo domain of every account."""
    bodies = [{"account_id": d.account_id, "domain_id": d.domain_id}
              for d in Domain.scan(Domain.deleted_at.does_not_exist() & (Domain.demo == False))]  # noqa: E712
    queues.send_many(CHECK_QUEUE, bodies)
    return len(bodies)


def handle_check(body: dict[str, Any]) -> None:
    """Queue consumer: re-check one domain (at-least-once is fine: a check is idempotent)."""
    try:
        domain = Domain.get(int(body["account_id"]), int(body["domain_id"]), consistent_read=True)
    except DoesNotExist:
        return
    check(domain)


@deadletters.register(CHECK_QUEUE)
def settle_dead_check(letter: deadletters.DeadLetter) -> str:
    """A re-check that kept failing changes nothing: the domain keeps what its last check
    found, and the next hourly re-check tries again."""
    return (f"the DNS re-check of domain {int(letter.body['domain_id'])} of account "
            f"{int(letter.body['account_id'])} was dropped; the next hourly re-check tries again")
