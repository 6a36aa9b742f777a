"""Deliverability alerts (seed-C §2.5, check 37): the weekly report and critical alerts per
sending domain, from the stats counters, mailed once per period; the domain's settings turn
them on or off and reroute them."""

from __future__ import annotations

import uuid
from datetime import timedelta
from types import SimpleNamespace

import pytest

from chalicelib.accounts import service as accounts
from chalicelib.core import clock
from chalicelib.sending import stats
from chalicelib.sending.models import Message
from tests.conftest import Api
from tests.events_support import bounce, record_events
from tests.sending_support import pump, system_mail_to, verified_domain


@pytest.fixture()
def owner_api(client):
    owner = f"owner-{uuid.uuid4().hex[:8]}@test.example"
    acct, token = accounts.create_account("Alerts Co", owner)
    return SimpleNamespace(api=Api(client, token), owner=owner, account_id=acct.account_id,
                           domain=verified_domain(acct.account_id))


def count_sent(account_id: int, domain_id: int, day, n: int, **counts: int) -> None:
    """Counters of mail sent on ``day`` (what the sending worker adds as it dispatches)."""
    message = SimpleNamespace(account_id=account_id, domain_id=domain_id, stream="transactional",
                              recipient="x@corp.test", category=None)
    at = clock.now().replace(year=day.year, month=day.month, day=day.day)
    tally = stats.Tally()
    for name, value in {"sent": n, **counts}.items():
        for _ in range(value):
            tally.add(message, name, at)
    tally.flush()


def send_real(env, n: int) -> list[Message]:
    base = {"from": {"email": f"app@{env.domain.domain_name}"}, "subject": "Alerts", "text": "hi"}
    r = env.api.post("/api/batch", {"base": base, "requests": [
        {"to": [{"email": f"u{i}-{uuid.uuid4().hex[:6]}@corp.test"}]} for i in range(n)]}, host="send.postline.test")
    assert r.status == 200, r
    pump(env.api.client)
    return [Message.get(x["message_ids"][0], consistent_read=True) for x in r.json["responses"]]


def hard_bounce(client, message: Message, n: int) -> None:
    event = bounce(message, feedback_id=f"fb-{n}-{uuid.uuid4().hex[:6]}")
    event["bounce"]["timestamp"] = clock.iso(clock.now())  # bounced now: inside the past 24 hours
    record_events(client, [event])


def run(client, function: str) -> int:
    return client.lambda_.invoke(function, client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[], region="us-east-1")).payload


def set_alerts(env, **settings) -> None:
    r = env.api.patch(f"/api/domains/{env.domain.domain_id}", {"domain": settings})
    assert r.status == 200, r


def test_a_critical_bounce_rate_alerts_the_owner_once(client, owner_api):
    env = owner_api
    set_alerts(env, critical_alerts_enabled=True)  # off by default (the seed: "currently switched off")
    messages = send_real(env, 20)  # today: 20 sent
    count_sent(env.account_id, env.domain.domain_id, clock.now().date() - timedelta(days=3), 479)  # the week: 499
    hard_bounce(client, messages[0], 0)
    hard_bounce(client, messages[1], 1)  # 2 of today's 20: 10 %, critical (over 5 %)
    run(client, "critical_deliverability_alerts")
    assert system_mail_to(env.owner) == []  # 499 sent this week: below the seed's minimum of 500

    count_sent(env.account_id, env.domain.domain_id, clock.now().date() - timedelta(days=3), 1)
    run(client, "critical_deliverability_alerts")
    run(client, "critical_deliverability_alerts")  # the next check: already sent for this period
    mails = system_mail_to(env.owner)
    assert [m["Subject"] for m in mails] == [f"Critical deliverability alert for {env.domain.domain_name}"]
    assert "- Bounces rate 10.0% (2 of 20), above the critical threshold" in mails[0]["body"]

    listed = env.api.get("/api/deliverability_alerts").json["data"]
    assert [(a["kind"], a["status"], a["label"]) for a in listed] == [("critical", "critical", "Critical")]
    assert listed[0]["sending_domain_id"] == env.domain.domain_id
    assert listed[0]["report"]["findings"] == [{"metric": "bounces", "rate_percent": 10.0, "count": 2, "of": 20}]
    assert listed[0]["recipients"] == [env.owner]


def test_a_warning_bounce_rate_is_not_critical(client, owner_api):
    env = owner_api
    set_alerts(env, critical_alerts_enabled=True)
    messages = send_real(env, 20)
    count_sent(env.account_id, env.domain.domain_id, clock.now().date() - timedelta(days=3), 480)
    hard_bounce(client, messages[0], 0)  # 1 of 20: 5 %, the top of the warning band
    run(client, "critical_deliverability_alerts")
    assert system_mail_to(env.owner) == []
    assert env.api.get("/api/deliverability_alerts").json["data"] == []


def _last_week_monday():
    today = clock.now().date()
    return today - timedelta(days=today.weekday() + 7)


def test_the_weekly_report_needs_500_emails_and_compares_with_the_week_before(client, owner_api):
    env = owner_api
    monday = _last_week_monday()
    count_sent(env.account_id, env.domain.domain_id, monday - timedelta(days=7), 400, delivered=400, opened=100,
               bounced=4)
    count_sent(env.account_id, env.domain.domain_id, monday + timedelta(days=2), 499, delivered=480, opened=96,
               clicked=24, bounced=15, unsubscribed=2)
    run(client, "weekly_deliverability_alerts")
    assert system_mail_to(env.owner) == []  # 499 in the week: no report (check 37)

    count_sent(env.account_id, env.domain.domain_id, monday + timedelta(days=6), 1)  # Sunday: 500
    run(client, "weekly_deliverability_alerts")
    run(client, "weekly_deliverability_alerts")  # a rerun sends nothing more
    mails = system_mail_to(env.owner)
    assert [m["Subject"] for m in mails] == [  # bounces 3 %
        f"Weekly deliverability health of {env.domain.domain_name}: Attention required"]
    body = mails[0]["body"]
    for line in ("- Opened: 20.0% (96), previous week 25.0% (-5.0 points)",
                 "- Clicks: 5.0% (24), previous week 0.0% (+5.0 points)",
                 "- Bounces: 3.0% (15), previous week 1.0% (+2.0 points) [Attention required]",
                 "- Unsubscribes: 0.42% (2)", "- Spam: 0.0% (0), previous week 0.0% (+0.0 points) [All good]"):
        assert line in body
    listed = env.api.get("/api/deliverability_alerts").json["data"]
    assert [(a["kind"], a["period_start"], a["period_end"]) for a in listed] == [
        ("weekly", monday.isoformat(), (monday + timedelta(days=6)).isoformat())]
    assert [m["metric"] for m in listed[0]["report"]["metrics"]] == [
        "opened", "clicks", "bounces", "unsubscribes", "spam"]


def test_the_domain_settings_turn_alerts_off_and_reroute_them(client, owner_api):
    env = owner_api
    set_alerts(env, health_alerts_enabled=False)  # critical alerts are off by default
    monday = _last_week_monday()
    count_sent(env.account_id, env.domain.domain_id, monday, 600, delivered=600, bounced=60)
    count_sent(env.account_id, env.domain.domain_id, clock.now().date(), 100, delivered=100, bounced=50)
    run(client, "weekly_deliverability_alerts")
    run(client, "critical_deliverability_alerts")
    assert system_mail_to(env.owner) == []  # both off: nothing, however bad the rates

    slack = f"alerts-{uuid.uuid4().hex[:6]}@team.slack.example"
    set_alerts(env, health_alerts_enabled=True, alert_recipient_email=slack)
    run(client, "weekly_deliverability_alerts")
    assert [m["Subject"] for m in system_mail_to(slack)] == [
        f"Weekly deliverability health of {env.domain.domain_name}: Critical"]
    assert system_mail_to(env.owner) == []  # the recipient replaces the owner (seed: "instead of your email")
    assert env.api.get("/api/deliverability_alerts").json["data"][0]["recipients"] == [slack]


def test_another_account_sees_nothing(client, owner_api, api):
    env = owner_api
    count_sent(env.account_id, env.domain.domain_id, _last_week_monday(), 500, delivered=500)
    run(client, "weekly_deliverability_alerts")
    assert len(env.api.get("/api/deliverability_alerts").json["data"]) == 1
    assert api.get(f"/api/accounts/{env.account_id}/deliverability_alerts").status == 403
    assert api.get("/api/deliverability_alerts").json["data"] == []


def test_an_unsubscribe_link_counts_once_for_the_weekly_report(client, owner_api):
    from chalicelib.sending import unsubscribe

    env = owner_api
    [message] = send_real(env, 1)
    for _ in range(2):  # the same link used twice: one opt-out
        r = client.http.post(f"/api/unsubscribe/{unsubscribe.token_for(message.message_id)}",
                             headers={"Host": "postline.test", "Content-Type": "application/x-www-form-urlencoded"},
                             body="List-Unsubscribe=One-Click")
        assert r.status_code == 200
    today = clock.now().date()
    assert sum(c["unsubscribed"] for _, c in stats.counters(env.account_id, today, today)) == 1
