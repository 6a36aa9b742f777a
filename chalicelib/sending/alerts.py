"""Deliverability alerts (seed-C §2.5): a weekly health report and critical alerts per
sending domain, mailed to the domain's ``alert_recipient_email`` (else the account's owner)
and kept for the console.

The settings are the sending domain's own (Mailtrap's domain fields): ``health_alerts_enabled``
(the weekly report, on by default) and ``critical_alerts_enabled`` (off by default: the seed's
critical alerts are "currently switched off"). Both checks read the stats counters
(stats.counters: one Query per account), never messages:
- Weekly, on Mondays: last week (Monday to Sunday) against the week before, for Opened,
  Clicks, Bounces, Unsubscribes and Spam; bounce and spam rates get their §1.1 level.
- Critical, every three hours: the counters of yesterday and today (the days the past 24
  hours touch); an alert when the domain's bounce or spam rate is critical.
Either needs 500 emails sent from the domain in the week (the seed's minimum). An alert is
claimed (a conditional put of its period's item) before it is mailed, so a rerun or a
concurrent run sends it once; if mailing fails the claim is given back and the next run
tries again.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any

from pynamodb.attributes import JSONAttribute, ListAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import PutError

from chalicelib.core import clock, db
from chalicelib.core.db import BaseModel, table_name
from chalicelib.core.permissions import VIEWER, Principal
from chalicelib.sending import deliverability, stats

log = logging.getLogger("postline.sending.alerts")

WEEKLY, CRITICAL = "weekly", "critical"
MIN_WEEKLY_SENT = 500  # seed: "A minimum of 500 emails per week is required to receive alerts"
LIST_LIMIT = 50
# The report's metrics: (name, count, denominator of its rate)
METRICS = (("opened", "opened", "delivered"), ("clicks", "clicked", "delivered"), ("bounces", "bounced", "sent"),
           ("unsubscribes", "unsubscribed", "delivered"), ("spam", "spam", "delivered"))
LEVELS = {"bounces": deliverability.bounce_level, "spam": deliverability.spam_level}
_RANK = {deliverability.GOOD: 0, deliverability.WARNING: 1, deliverability.CRITICAL: 2}


class DeliverabilityAlert(BaseModel):
    class Meta:
        table_name = table_name("deliverability_alerts")

    account_id = NumberAttribute(hash_key=True)
    alert_key = UnicodeAttribute(range_key=True)  # "<period start>#<kind>#<domain id>": one per period
    kind = UnicodeAttribute()
    sending_domain_id = NumberAttribute()
    sending_domain_name = UnicodeAttribute()
    period_start = UnicodeAttribute()
    period_end = UnicodeAttribute()
    status = UnicodeAttribute()  # the worst level in it: warning or critical (good for an all-good week)
    report = JSONAttribute(default=dict)
    recipients = ListAttribute(of=UnicodeAttribute, default=list)
    created_at = UnicodeAttribute()


def _require(principal: Principal, level: int) -> None:
    from chalicelib.accounts import service as accounts

    accounts.require(principal, level)


# ---------------------------------------------------------------- the console's list


def recent(principal: Principal) -> list[dict[str, Any]]:
    _require(principal, VIEWER)
    found = DeliverabilityAlert.query(principal.account_id, scan_index_forward=False, limit=LIST_LIMIT)
    return [{"kind": a.kind, "sending_domain_id": a.sending_domain_id, "sending_domain_name": a.sending_domain_name,
             "period_start": a.period_start, "period_end": a.period_end, "status": a.status,
             "label": deliverability.LABELS.get(a.status, a.status), "report": a.report,
             "recipients": list(a.recipients or []), "created_at": a.created_at} for a in found]


# ---------------------------------------------------------------- the checks


def _totals(rows, start: date, end: date, by_domain: bool = False) -> dict[Any, dict[str, int]]:
    totals: dict[Any, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for dims, counts in rows:
        if start.isoformat() <= dims["date"] <= end.isoformat():
            key = dims["sending_domain_id"] if by_domain else None
            for name, n in counts.items():
                totals[key][name] += n
    return totals


def _percent(totals: dict[str, int], count: str, whole: str) -> float:
    return round(totals.get(count, 0) * 100 / totals[whole], 2) if totals.get(whole) else 0.0


def weekly_report(this_week: dict[str, int], last_week: dict[str, int]) -> dict[str, Any]:
    metrics = []
    for name, count, whole in METRICS:
        rate, before = _percent(this_week, count, whole), _percent(last_week, count, whole)
        level = LEVELS[name](rate) if name in LEVELS else None
        metrics.append({"metric": name, "count": this_week.get(count, 0), "rate_percent": rate,
                        "previous_rate_percent": before, "change_percent": round(rate - before, 2), "level": level})
    return {"sent": this_week.get("sent", 0), "previous_sent": last_week.get("sent", 0), "metrics": metrics}


def _worst(levels) -> str:
    return max((x for x in levels if x), key=_RANK.__getitem__, default=deliverability.GOOD)


def run_weekly(today: date | None = None) -> int:
    """The Monday report of the week before ``today``'s; returns how many were sent."""
    today = today or clock.now().date()
    start = today - timedelta(days=today.weekday() + 7)  # last week's Monday
    end, before = start + timedelta(days=6), start - timedelta(days=7)
    sent = 0
    for account, domains in _accounts("health_alerts_enabled"):
        rows = list(stats.counters(account.account_id, before, end))
        this_week = _totals(rows, start, end, by_domain=True)
        last_week = _totals(rows, before, start - timedelta(days=1), by_domain=True)
        for domain in domains:
            counts = this_week.get(int(domain.domain_id), {})
            if counts.get("sent", 0) < MIN_WEEKLY_SENT:
                continue
            report = weekly_report(counts, last_week.get(int(domain.domain_id), {}))
            status = _worst(m["level"] for m in report["metrics"])
            sent += _claim_and_send(account, domain, WEEKLY, start, end, status, report)
    return sent


def run_critical(now: datetime | None = None) -> int:
    """Critical alerts over the past 24 hours; returns how many were sent."""
    today = (now or clock.now()).date()
    window_start, week_start = today - timedelta(days=1), today - timedelta(days=6)
    sent = 0
    for account, domains in _accounts("critical_alerts_enabled"):
        rows = list(stats.counters(account.account_id, week_start, today))
        week = _totals(rows, week_start, today, by_domain=True)
        window = _totals(rows, window_start, today, by_domain=True)
        for domain in domains:
            if week.get(int(domain.domain_id), {}).get("sent", 0) < MIN_WEEKLY_SENT:
                continue
            counts = window.get(int(domain.domain_id), {})
            findings = []
            for name, count, whole in METRICS:
                rate = _percent(counts, count, whole)
                if name in LEVELS and LEVELS[name](rate) == deliverability.CRITICAL:
                    findings.append({"metric": name, "rate_percent": rate, "count": counts.get(count, 0),
                                     "of": counts.get(whole, 0)})
            if findings:
                sent += _claim_and_send(account, domain, CRITICAL, window_start, today, deliverability.CRITICAL,
                                        {"findings": findings})
    return sent


def _accounts(setting: str):
    """(account, its live domains with ``setting`` on) for each account that has one."""
    from chalicelib.accounts import service as accounts
    from chalicelib.domains.service import account_domains

    for account in accounts.owners():
        domains = [d for d in account_domains(account.account_id) if getattr(d, setting)]
        if domains:
            yield account, domains


def _claim_and_send(account: Any, domain: Any, kind: str, start: date, end: date, status: str,
                    report: dict[str, Any]) -> int:
    recipient = domain.alert_recipient_email or account.owner_email
    alert = DeliverabilityAlert(account.account_id, f"{start.isoformat()}#{kind}#{int(domain.domain_id)}",
                                kind=kind, sending_domain_id=int(domain.domain_id),
                                sending_domain_name=domain.domain_name, period_start=start.isoformat(),
                                period_end=end.isoformat(), status=status, report=report, recipients=[recipient],
                                created_at=clock.iso(clock.now()))
    try:
        alert.save(condition=DeliverabilityAlert.alert_key.does_not_exist())
    except PutError as exc:
        if db.condition_failed(exc):
            return 0  # already sent for this period
        raise
    try:
        from chalicelib.domains import system_mail

        system_mail.send(recipient, *render(alert))
    except Exception:
        log.exception("%s deliverability alert for account %s not sent; the next run retries", kind,
                      account.account_id)
        alert.delete()
        return 0
    return 1


def render(alert: DeliverabilityAlert) -> tuple[str, str]:
    period = f"{alert.period_start} to {alert.period_end} (UTC)"
    domain = alert.sending_domain_name
    if alert.kind == CRITICAL:
        lines = [f"- {f['metric'].capitalize()} rate "
                 f"{f['rate_percent']}% ({f['count']} of {f['of']}), above the critical threshold"
                 for f in alert.report["findings"]]
        insight = ("A high bounce rate usually means old or bought addresses; a high spam rate, mail the "
                   "recipients did not expect. Pause the affected sending and clean the list.")
        return (f"Critical deliverability alert for {domain}",
                f"Hello,\n\nOver {period} these stats of {domain} crossed a critical threshold:\n\n"
                + "\n".join(lines) + f"\n\n{insight}\n")
    lines = []
    for m in alert.report["metrics"]:
        level = f" [{deliverability.LABELS[m['level']]}]" if m["level"] else ""
        lines.append(f"- {m['metric'].capitalize()}: {m['rate_percent']}% ({m['count']}), previous week "
                     f"{m['previous_rate_percent']}% ({m['change_percent']:+} points){level}")
    return (f"Weekly deliverability health of {domain}: {deliverability.LABELS[alert.status]}",
            f"Hello,\n\nYour sending from {domain}, {period}: {alert.report['sent']:,} emails sent.\n\n"
            + "\n".join(lines) + "\n\nBounce rate is good below 2% and critical above 5%; spam rate is good "
              "below 0.08% and critical above 0.1%.\n")
