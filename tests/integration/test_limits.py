"""Sending limits: the hourly rate queues mail for later (nothing lost), the daily cap and the
monthly quota reject with the seeds' messages, per-domain and SES rates, billing usage."""

from __future__ import annotations

import uuid
from datetime import timedelta

import mailtrap as mt
import pytest

from chalicelib.core import config
from chalicelib.limits import service as limits
from chalicelib.sending import streams
from chalicelib.sending.models import Message
from tests.limits_support import advance, delayed, delivered_to, start_of_next_hour
from tests.sdk import sdk_session
from tests.sending_support import pump, verified_domain

SEND = "send.postline.test"


@pytest.fixture()
def domain(account):
    return verified_domain(account[0].account_id)


def send(api, domain, n, tag="r"):
    to = [f"{tag}{i}-{uuid.uuid4().hex[:6]}@rcpt.test" for i in range(n)]
    r = api.post("/api/send", {"from": {"email": f"app@{domain.domain_name}"}, "to": [{"email": e} for e in to],
                               "subject": "Hi", "text": "Hi"}, host=SEND)
    assert r.status == 200, r
    return r.json["message_ids"], to


@pytest.fixture()
def rates(monkeypatch):
    """Set the per-domain and SES rates for one test (the suite runs without them)."""
    def apply(domain_rate: str = "0", ses_rate: str = "0") -> None:
        monkeypatch.setenv("POSTLINE_DOMAIN_SEND_RATE", domain_rate)
        monkeypatch.setenv("POSTLINE_SES_MAX_SEND_RATE", ses_rate)
        config.reload()

    yield apply
    monkeypatch.undo()
    config.reload()


def test_signup_plan_is_the_seeds(account):
    assert limits.set_limits(account[0].account_id, plan="free") == limits.Limits(
        limits.plans.PLANS["free"], hourly=150, daily=150, monthly=4000)


def test_over_the_hourly_rate_mail_waits_for_the_next_hour_and_all_of_it_goes(api, client, account, domain):
    limits.set_limits(account[0].account_id, plan="free", hourly=4, daily=-1)
    start_of_next_hour()
    batches = [send(api, domain, 2, tag=f"h{i}-") for i in range(3)]  # three dispatches of two
    pump(client)
    ids = [i for b, _ in batches for i in b]
    statuses = [Message.get(i).status for i in ids]
    assert statuses.count("sent") == 4 and statuses.count("queued") == 2
    held = delayed(streams.queue_for(streams.TRANSACTIONAL))
    assert len(held) == 1 and held[0][1]["account_id"] == account[0].account_id
    assert 800 < held[0][0] <= 900  # the next hour is ~55 min away; SQS holds at most 15 minutes, then asks again
    advance(timedelta(minutes=20))  # still the same hour: it comes back and waits again
    pump(client)
    assert [Message.get(i).status for i in ids].count("queued") == 2
    advance(timedelta(minutes=45))  # the next hour
    pump(client)
    assert [Message.get(i).status for i in ids] == ["sent"] * 6
    assert all(delivered_to(e) == 1 for _, to in batches for e in to)  # each delivered once


def test_mail_held_by_the_hourly_rate_says_why_and_until_when(api, client, account, domain):
    """A held message is enqueued with a ``suspension`` event (Mailtrap's event for mail held
    back) and a reason naming the limit and the hour it waits for, readable by the SDK."""
    from mailtrap.models.email_logs import EmailLogMessage

    limits.set_limits(account[0].account_id, plan="free", hourly=2, daily=-1)
    start_of_next_hour()
    send(api, domain, 2, tag="first-")
    [held], _ = send(api, domain, 1, tag="held-")
    pump(client)
    until = (limits.clock.now() + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    reason = f"held by the hourly sending limit until {until:%H}:00 UTC"
    log = api.get(f"/api/email_logs/{held}").json
    assert log["status"] == "enqueued" and log["status_reason"] == reason
    assert [e["event_type"] for e in log["events"]] == ["suspension"]  # the log shows only the spec's events
    assert log["events"][-1]["details"] == {"reject_reason": reason, "held_until": limits.clock.iso(until),
                                            "limit": "hourly"}
    parsed = EmailLogMessage.from_api(log)  # the official SDK's model reads it
    assert parsed.status == "enqueued" and parsed.events[-1].details.reject_reason == reason
    advance(timedelta(minutes=20))  # back from SQS, still the same hour: held again, said once
    pump(client)
    log = api.get(f"/api/email_logs/{held}").json
    assert [e["event_type"] for e in log["events"]] == ["suspension"] and log["status_reason"] == reason
    advance(timedelta(minutes=45))
    pump(client)
    log = api.get(f"/api/email_logs/{held}").json
    assert [e["event_type"] for e in log["events"]] == ["suspension"]  # sent now: SES's events come next
    assert log["status_reason"] is None


def test_daily_cap_rejects_with_the_seeds_message(api, client, account, domain):
    limits.set_limits(account[0].account_id, plan="free", hourly=-1, daily=3)
    start_of_next_hour()
    ids, to = send(api, domain, 5)
    pump(client)
    messages = [Message.get(i) for i in ids]
    assert [m.status for m in messages] == ["sent"] * 3 + ["rejected"] * 2
    assert messages[4].status_reason == "Your account has reached its daily sending limit."
    assert delivered_to(to[4]) == 0 and delivered_to(to[0]) == 1
    assert limits.monthly_used(account[0].account_id) == 3  # rejected mail is not usage
    advance(timedelta(days=1))
    ids, _ = send(api, domain, 1)
    pump(client)
    assert Message.get(ids[0]).status == "sent"


def test_monthly_quota_and_billing_usage_through_the_sdk(api, client, account, domain):
    acct, token = account
    limits.set_limits(acct.account_id, plan="basic", monthly=3)
    ids = send(api, domain, 2)[0] + send(api, domain, 2)[0]
    pump(client)
    assert sorted(Message.get(i).status for i in ids) == ["rejected", "sent", "sent", "sent"]
    assert "Monthly messages limit reached" in {Message.get(i).status_reason for i in ids}
    assert limits.monthly_limit_reached(acct.account_id)
    with sdk_session(client):
        usage = mt.MailtrapClient(token=token).general_api.billing.get_current_billing_usage(acct.account_id)
    assert usage.sending.plan.name == "Basic 10K"
    assert (usage.sending.usage.sent_messages_count.current, usage.sending.usage.sent_messages_count.limit) == (3, 3)
    assert usage.billing.cycle_start.day == 1 and usage.billing.cycle_end > usage.billing.cycle_start
    assert usage.testing.usage.sent_messages_count.current == 0
    assert api.get("/api/billing/usage").json["sending"]["usage"]["sent_messages_count"]["current"] == 3


def test_api_refuses_mail_once_the_monthly_quota_is_used_up(api, client, account, domain):
    acct = account[0]
    limits.set_limits(acct.account_id, plan="basic", monthly=2)
    send(api, domain, 2)
    pump(client)
    assert limits.monthly_used(acct.account_id) == 2
    mail = {"from": {"email": f"app@{domain.domain_name}"}, "to": [{"email": "late@rcpt.test"}],
            "subject": "Hi", "text": "Hi"}
    r = api.post("/api/send", mail, host=SEND)
    assert (r.status, r.json) == (403, {"success": False, "errors": ["Monthly messages limit reached"]})
    r = api.post("/api/batch", {"base": mail, "requests": [{"to": [{"email": "late2@rcpt.test"}]}]}, host=SEND)
    assert r.status == 403 and r.json["errors"] == ["Monthly messages limit reached"]
    assert pump(client) == 0 and delivered_to("late@rcpt.test") == 0  # nothing was queued
    limits.set_limits(acct.account_id, monthly=3)  # support raises the quota: mail goes again
    assert api.post("/api/send", mail, host=SEND).status == 200


def test_a_not_reached_monthly_answer_is_reused_briefly_and_forgotten_on_change(account):
    acct = account[0].account_id
    limits.set_limits(acct, plan="basic", monthly=1)
    assert not limits.recently_not_reached(acct, limits.MONTHLY_CHECK_SECONDS)  # nothing asked yet
    assert not limits.monthly_limit_reached(acct, limits.MONTHLY_CHECK_SECONDS)
    assert limits.recently_not_reached(acct, limits.MONTHLY_CHECK_SECONDS)  # what SMTP asks without a hop
    assert limits.admit(acct, 1) == (1, None)  # the quota is used up now
    assert not limits.monthly_limit_reached(acct, limits.MONTHLY_CHECK_SECONDS)  # the recent answer
    assert limits.monthly_limit_reached(acct)  # asked without max_age: counted
    assert limits.monthly_limit_reached(acct, limits.MONTHLY_CHECK_SECONDS)  # "reached" is never reused
    limits.set_limits(acct, monthly=2)
    assert not limits.monthly_limit_reached(acct, limits.MONTHLY_CHECK_SECONDS)
    limits.set_limits(acct, monthly=1)  # an operator change drops the remembered answer
    assert not limits.recently_not_reached(acct, limits.MONTHLY_CHECK_SECONDS)
    assert limits.monthly_limit_reached(acct, limits.MONTHLY_CHECK_SECONDS)
    limits.set_limits(acct, monthly=2)
    assert not limits.monthly_limit_reached(acct, limits.MONTHLY_CHECK_SECONDS)
    assert limits.admit(acct, 1) == (1, None)
    limits.forget_cached(acct)  # and so does forgetting the account
    assert limits.monthly_limit_reached(acct, limits.MONTHLY_CHECK_SECONDS)


def test_usage_counts_every_recipient(api, client, account, domain):
    acct = account[0]
    r = api.post("/api/send", {"from": {"email": f"app@{domain.domain_name}"},
                               "to": [{"email": f"t{i}@rcpt.test"} for i in range(3)],
                               "cc": [{"email": f"c{i}@rcpt.test"} for i in range(3)],
                               "bcc": [{"email": "b@rcpt.test"}], "subject": "s", "text": "t"}, host=SEND)
    assert r.status == 200
    pump(client)
    assert limits.monthly_used(acct.account_id) == 7  # seed: 3 To + 3 CC is billed as 6, plus one BCC


def test_domain_and_ses_rates(account, domain, rates):
    acct = account[0]
    other = verified_domain(acct.account_id)
    rates(domain_rate="0.05", ses_rate="0.1")  # 3 per minute per domain, 6 per minute in all
    advance(timedelta(seconds=60 - limits.clock.now().second + 1))  # the start of a minute
    assert limits.sending_delay(acct.account_id, domain.domain_id, 2) == 0
    wait = limits.sending_delay(acct.account_id, domain.domain_id, 2)
    assert 0 < wait <= 60 + limits.JITTER_SECONDS + 1
    assert limits.sending_delay(acct.account_id, other.domain_id, 3) == 0  # another domain has its own share
    assert limits.sending_delay(acct.account_id, other.domain_id, 0) == 0
    third = verified_domain(acct.account_id)
    assert limits.sending_delay(acct.account_id, third.domain_id, 2) > 0  # but SES's rate is shared (5 of 6 used)
    advance(timedelta(minutes=1))
    assert limits.sending_delay(acct.account_id, domain.domain_id, 2) == 0


# ---------------------------------------------------------------- usage notices


@pytest.mark.parametrize("used,notified,expected", [
    (7, None, None), (8, None, 80), (9, {80}, 90), (9, {80, 90}, None), (10, {80}, 100),
    (12, None, 100), (10, {100}, None), (8, {90}, None)])
def test_which_usage_notice_is_due(used, notified, expected):
    from chalicelib.limits import notices

    assert notices.due(10, used, notified) == expected


def test_the_owner_hears_once_each_at_80_90_and_100_percent(client):
    from chalicelib.accounts import service as accounts
    from chalicelib.core.config import settings
    from tests.conftest import Api
    from tests.sending_support import system_mail_to

    owner = f"owner-{uuid.uuid4().hex[:8]}@test.example"
    acct, token = accounts.create_account("Notices Co", owner)
    api, domain = Api(client, token), verified_domain(acct.account_id)
    limits.set_limits(acct.account_id, plan="basic", monthly=10)
    for batch in (7, 1, 1, 2):  # 70 %, 80 %, 90 %, then 110 % (one over the limit is rejected)
        send(api, domain, batch)
        pump(client)
    notices = system_mail_to(owner)
    assert [n["Subject"] for n in notices] == [
        "You have used 80% of your monthly sending limit", "You have used 90% of your monthly sending limit",
        "Monthly messages limit reached"]
    assert {n["From"] for n in notices} == {settings().system_sender}
    assert "8 of its 10 messages" in notices[0]["body"]
    assert limits.monthly_used(acct.account_id) == 10
    limits.set_limits(acct.account_id, monthly=20)  # support raises the limit: past 80 % of the new one again
    send(api, domain, 6)
    pump(client)
    assert len(system_mail_to(owner)) == 3  # this cycle's notices were sent; no second round


def test_a_notice_that_cannot_be_sent_never_fails_the_count(account, monkeypatch):
    from chalicelib.limits import notices

    acct = account[0].account_id
    limits.set_limits(acct, plan="basic", monthly=10)

    def claim_fails(*args):
        raise RuntimeError("DynamoDB throttled the notice's claim")

    monkeypatch.setattr(notices, "send_due", claim_fails)
    assert limits.admit(acct, 9) == (9, None)  # 90 % due, the notice fails: the mail still goes
    assert limits.admit(acct, 2) == (1, limits.MONTHLY_LIMIT_REASON)
    assert limits.monthly_used(acct) == 10  # counted once each, the rejected one given back


def test_an_attempt_already_counted_against_the_hour_still_needs_room_in_the_minute(account, domain, rates):
    acct = account[0].account_id
    limits.set_limits(acct, plan="free", hourly=2)
    rates(domain_rate="0.05", ses_rate="0")  # 3 per minute for the domain
    advance(timedelta(seconds=60 - limits.clock.now().second + 1))  # the start of a minute
    assert limits.sending_delay(acct, domain.domain_id, 2) == 0  # the hour is full now
    assert limits.sending_delay(acct, domain.domain_id, 1, hourly=False) == 0  # a retry: 3 of 3 this minute
    assert limits.sending_delay(acct, domain.domain_id, 1, hourly=False) > 0  # the minute is full
    assert limits.sending_delay(acct, domain.domain_id, 1) > 0  # and new mail waits for the hour


def test_a_hold_names_the_rate_that_holds_and_the_minute_it_waits_for(account, domain, rates):
    acct = account[0].account_id
    limits.set_limits(acct, plan="free", hourly=-1)
    rates(domain_rate="0.05", ses_rate="0")  # 3 per minute for the domain
    advance(timedelta(seconds=60 - limits.clock.now().second + 1))  # the start of a minute
    assert limits.sending_hold(acct, domain.domain_id, 3) is None
    hold = limits.sending_hold(acct, domain.domain_id, 1)
    next_minute = (limits.clock.now() + timedelta(minutes=1)).replace(second=0, microsecond=0)
    assert hold.limit == "domain_rate" and hold.until == next_minute
    assert hold.reason == f"held by the sending domain's rate limit until {next_minute:%H:%M} UTC"
    assert 1 <= hold.seconds <= 60 + limits.JITTER_SECONDS
