"""Deliverability alerts (seed-C §2.5): a weekly health report and critical alerts, mailed to
the account's owner (or the recipients its settings name) and kept for the console.

Both read the stats counters (stats.counters: one Query per account), never messages.
- Weekly, on Mondays: last week (Monday to Sunday) against the week before, for Opened,
  Clicks, Bounces, Unsubscribes and Spam; bounce and spam rates get their §1.1 level.
- Critical, every three hours: the counters of yesterday and today (the days the past 24
  hours touch) per sending domain; an alert when a domain's bounce or spam rate is critical.
Either needs 500 emails sent in the week (the seed's minimum). An alert is claimed (a
conditional put of its period's item) before it is mailed, so a rerun or a concurrent run
sends it once; if mailing fails the claim is given back and the next run tries again.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any

from pynamodb.attributes import BooleanAttribute, JSONAttribute, ListAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist, PutError

from chalicelib.core import clock, db
from chalicelib.core.db import BaseModel, table_name
from chalicelib.core.errors import BadRequest, Unprocessable
from chalicelib.core.permissions import ADMIN, VIEWER, Principal
from chalicelib.sending import deliverability, stats
from chalicelib.sending.validation import valid_email

log = logging.getLogger("postline.sending.alerts")

WEEKLY, CRITICAL = "weekly", "critical"
MIN_WEEKLY_SENT = 500  # seed: "A minimum of 500 emails per week is required to receive alerts"
MAX_RECIPIENTS = 10
LIST_LIMIT = 50
# The report's metrics: (name, count, denominator of its rate)
METRICS = (("opened", "opened", "delivered"), ("clicks", "clicked", "delivered"), ("bounces", "bounced", "sent"),
           ("unsubscribes", "unsubscribed", "delivered"), ("spam", "spam", "delivered"))
LEVELS = {"bounces": deliverability.bounce_level, "spam": deliverability.spam_level}
_RANK = {deliverability.GOOD: 0, deliverability.WARNING: 1, deliverability.CRITICAL: 2}


class AlertSettings(BaseModel):
    class Meta:
        table_name = table_name("deliverability_alert_settings")

    account_id = NumberAttribute(hash_key=True)
    weekly_enabled = BooleanAttribute(default=True)
    critical_enabled = BooleanAttribute(default=True)
    recipients = ListAttribute(of=UnicodeAttribute, default=list)  # empty: the account's owner


class DeliverabilityAlert(BaseModel):
    class Meta:
        table_name = table_name("deliverability_alerts")

    account_id = NumberAttribute(hash_key=True)
    alert_key = UnicodeAttribute(range_key=True)  # "<period start>#<kind>": one alert per period
    kind = UnicodeAttribute()
    period_start = UnicodeAttribute()
    period_end = UnicodeAttribute()
    status = UnicodeAttribute()  # the worst level in it: warning or critical (good for an all-good week)
    report = JSONAttribute(default=dict)
    recipients = ListAttribute(of=UnicodeAttribute, default=list)
    created_at = UnicodeAttribute()


# ---------------------------------------------------------------- settings


def _settings(account_id: int) -> AlertSettings:
    try:
        return AlertSettings.get(int(account_id))
    except DoesNotExist:
        return AlertSettings(int(account_id))


def _settings_body(found: AlertSettings) -> dict[str, Any]:
    return {"weekly_enabled": bool(found.weekly_enabled), "critical_enabled": bool(found.critical_enabled),
            "recipients": list(found.recipients or [])}


def get_settings(principal: Principal) -> dict[str, Any]:
    _require(principal, VIEWER)
    return _settings_body(_settings(principal.account_id))


def update_settings(principal: Principal, body: dict[str, Any]) -> dict[str, Any]:
    _require(principal, ADMIN)
    unknown = set(body) - {"weekly_enabled", "critical_enabled", "recipients"}
    if unknown:
        raise BadRequest(f"unknown field: {sorted(unknown)[0]}")
    found = _settings(principal.account_id)
    for name in ("weekly_enabled", "critical_enabled"):
        if name in body:
            if not isinstance(body[name], bool):
                raise Unprocessable.field(name, "must be true or false")
            setattr(found, name, body[name])
    if "recipients" in body:
        found.recipients = _recipients(body["recipients"])
    found.save()
    return _settings_body(found)


def _recipients(value: Any) -> list[str]:
    if not isinstance(value, list):
        raise Unprocessable.field("recipients", "must be a list of email addresses")
    if len(value) > MAX_RECIPIENTS:
        raise Unprocessable.field("recipients", f"at most {MAX_RECIPIENTS} addresses")
    out: list[str] = []
    for item in value:
        address = valid_email(item)
        if address is None:
            raise Unprocessable.field("recipients", f"is not a valid email address: {str(item)[:254]}")
        if address.lower() not in {a.lower() for a in out}:
            out.append(address)
    return out


def _require(principal: Principal, level: int) -> None:
    from chalicelib.accounts import service as accounts

    accounts.require(principal, level)


# ---------------------------------------------------------------- the console's list


def recent(principal: Principal) -> list[dict[str, Any]]:
    _require(principal, VIEWER)
    found = DeliverabilityAlert.query(principal.account_id, scan_index_forward=False, limit=LIST_LIMIT)
    return [{"kind": a.kind, "period_start": a.period_start, "period_end": a.period_end, "status": a.status,
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
    for account in _accounts():
        settings = _settings(account.account_id)
        if not settings.weekly_enabled:
            continue
        rows = list(stats.counters(account.account_id, before, end))
        this_week, last_week = _totals(rows, start, end)[None], _totals(rows, before, start - timedelta(days=1))[None]
        if this_week.get("sent", 0) < MIN_WEEKLY_SENT:
            continue
        report = weekly_report(this_week, last_week)
        status = _worst(m["level"] for m in report["metrics"])
        sent += _claim_and_send(account, settings, WEEKLY, start, end, status, report)
    return sent


def run_critical(now: datetime | None = None) -> int:
    """Critical alerts over the past 24 hours; returns how many were sent."""
    today = (now or clock.now()).date()
    window_start, week_start = today - timedelta(days=1), today - timedelta(days=6)
    sent = 0
    for account in _accounts():
        settings = _settings(account.account_id)
        if not settings.critical_enabled:
            continue
        rows = list(stats.counters(account.account_id, week_start, today))
        if _totals(rows, week_start, today)[None].get("sent", 0) < MIN_WEEKLY_SENT:
            continue
        findings = []
        for domain_id, counts in sorted(_totals(rows, window_start, today, by_domain=True).items()):
            for name, count, whole in METRICS:
                rate = _percent(counts, count, whole)
                if name in LEVELS and LEVELS[name](rate) == deliverability.CRITICAL:
                    findings.append({"sending_domain_id": domain_id, "metric": name, "rate_percent": rate,
                                     "count": counts.get(count, 0), "of": counts.get(whole, 0)})
        if findings:
            sent += _claim_and_send(account, settings, CRITICAL, window_start, today, deliverability.CRITICAL,
                                    {"findings": findings})
    return sent


def _accounts():
    from chalicelib.accounts.models import Account

    return Account.scan(attributes_to_get=["account_id", "owner_email"])


def _claim_and_send(account: Any, settings: AlertSettings, kind: str, start: date, end: date, status: str,
                    report: dict[str, Any]) -> int:
    recipients = list(settings.recipients or []) or [account.owner_email]
    alert = DeliverabilityAlert(account.account_id, f"{start.isoformat()}#{kind}", kind=kind,
                                period_start=start.isoformat(), period_end=end.isoformat(), status=status,
                                report=report, recipients=recipients, created_at=clock.iso(clock.now()))
    try:
        alert.save(condition=DeliverabilityAlert.alert_key.does_not_exist())
    except PutError as exc:
        if db.condition_failed(exc):
            return 0  # already sent for this period
        raise
    try:
        _mail(alert, recipients)
    except Exception:
        log.exception("%s deliverability alert for account %s not sent; the next run retries", kind,
                      account.account_id)
        alert.delete()
        return 0
    return 1


def _mail(alert: DeliverabilityAlert, recipients: list[str]) -> None:
    from chalicelib.domains.service import account_domains
    from chalicelib.sending import system_mail

    names = {int(d.domain_id): d.domain_name for d in account_domains(alert.account_id, include_deleted=True)}
    subject, text = render(alert, names)
    for to in recipients:
        system_mail.send(to, subject, text)


def render(alert: DeliverabilityAlert, names: dict[int, str]) -> tuple[str, str]:
    period = f"{alert.period_start} to {alert.period_end} (UTC)"
    if alert.kind == CRITICAL:
        lines = [f"- {names.get(f['sending_domain_id'], f['sending_domain_id'])}: {f['metric']} rate "
                 f"{f['rate_percent']}% ({f['count']} of {f['of']}), above the critical threshold"
                 for f in alert.report["findings"]]
        insight = ("A high bounce rate usually means old or bought addresses; a high spam rate, mail the "
                   "recipients did not expect. Pause the affected sending and clean the list.")
        return ("Critical deliverability alert",
                f"Hello,\n\nOver {period} these stats crossed a critical threshold:\n\n" + "\n".join(lines)
                + f"\n\n{insight}\n")
    lines = []
    for m in alert.report["metrics"]:
        level = f" [{deliverability.LABELS[m['level']]}]" if m["level"] else ""
        lines.append(f"- {m['metric'].capitalize()}: {m['rate_percent']}% ({m['count']}), previous week "
                     f"{m['previous_rate_percent']}% ({m['change_percent']:+} points){level}")
    return (f"Weekly deliverability health: {deliverability.LABELS[alert.status]}",
            f"Hello,\n\nYour sending from {period}: {alert.report['sent']:,} emails sent.\n\n" + "\n".join(lines)
            + "\n\nBounce rate is good below 2% and critical above 5%; spam rate is good below 0.08% and "
              "critical above 0.1%.\n")
