"""Sending stats from counters (seed-C §1.1, acceptance checks 8, 10, 11, 12) through the
real pipeline: sends, SES notifications, the tracking pixel and links; read with the API
and the official SDK."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from chalicelib.core import clock
from chalicelib.sending import stats, tracking
from chalicelib.sending.models import Message
from chalicelib.sending.request_models import StatsQuery
from tests.events_support import DAY, bounce, complaint, delay, delivery, record_events
from tests.sending_support import pump, verified_domain

BATCH = "send.postline.test"


@pytest.fixture()
def domain(account):
    return verified_domain(account[0].account_id, click_tracking_enabled=True)


def send_many(api, domain, recipients, category="Newsletter") -> list[Message]:
    base = {"from": {"email": f"app@{domain.domain_name}"}, "subject": "Stats", "text": "https://shop.test/a",
            "html": '<a href="https://shop.test/a">a</a> <a href="https://shop.test/b">b</a>', "category": category}
    r = api.post("/api/batch", {"base": base, "requests": [{"to": [{"email": to}]} for to in recipients]},
                 host=BATCH)
    assert r.status == 200, r
    ids = [x["message_ids"][0] for x in r.json["responses"]]
    pump(api.client)
    return [Message.get(i, consistent_read=True) for i in ids]


def hit(api, url: str) -> int:
    host, path = re.match(r"https?://([^/:]+)(?::\d+)?(/.*)", url).groups()
    return api.client.http.get(path, headers={"Host": host, "Accept": "*/*", "User-Agent": "t"}).status_code


def test_the_worked_example_and_the_sdk(api, client, domain, account):
    # seed-C 8: 100 sent, 95 delivered, 3 bounced, 40 unique opened, 19 clicked, 1 spam
    recipients = [f"u{i}-{uuid.uuid4().hex[:6]}@{'gmail.com' if i % 2 else 'corp.test'}" for i in range(100)]
    messages = send_many(api, domain, recipients)
    assert {m.status for m in messages} == {"sent"}
    record_events(client, [delivery(m) for m in messages[:95]])
    record_events(client, [bounce(m, feedback_id=f"fb-{i}") for i, m in enumerate(messages[95:98])])
    record_events(client, [delay(m) for m in messages[98:]])  # soft bounces: not counted as bounces
    record_events(client, [complaint(messages[0])])
    for m in messages[:40]:
        assert hit(api, tracking.open_url(m.message_id, domain.domain_name)) == 200
    assert hit(api, tracking.open_url(messages[0].message_id, domain.domain_name)) == 200  # a second open
    for m in messages[:19]:
        assert hit(api, tracking.click_url(m.message_id, domain.domain_name, "https://shop.test/a")) == 302
    for url in ("https://shop.test/b", "https://shop.test/a", "https://shop.test/b", "https://shop.test/a"):
        hit(api, tracking.click_url(messages[1].message_id, domain.domain_name, url))  # seed-C 10: 5 clicks
    assert Message.get(messages[1].message_id).clicks_count == 5
    record_events(client, [delivery(messages[0])])  # a redelivered notification counts nothing

    body = api.get("/api/stats").json
    assert body == {"delivery_count": 95, "delivery_rate": 0.95, "bounce_count": 3, "bounce_rate": 0.03,
                    "open_count": 40, "open_rate": round(40 / 95, 4), "click_count": 19, "click_rate": 0.2,
                    "spam_count": 1, "spam_rate": round(1 / 95, 4)}

    import mailtrap as mt
    from mailtrap.models.stats import StatsFilterParams

    from tests.sdk import sdk_session

    today = DAY.isoformat()  # the day the notifications happened
    with sdk_session(client):
        sdk = mt.MailtrapClient(token=account[1], account_id=str(account[0].account_id)).stats_api
        params = StatsFilterParams(start_date=today, end_date=today)
        assert sdk.get(account[0].account_id, params).click_rate == 0.2
        [by_domain] = sdk.by_domain(account[0].account_id, params)
        assert (by_domain.value, by_domain.stats.delivery_count) == (domain.domain_id, 95)
        providers = {g.value: g.stats for g in sdk.by_email_service_provider(account[0].account_id, params)}
        assert set(providers) == {"Google", "Other"} and providers["Google"].delivery_count + providers[
            "Other"].delivery_count == 95
        [by_category] = sdk.by_category(account[0].account_id, params)
        assert by_category.value == "Newsletter"
        [by_day] = sdk.by_date(account[0].account_id, params)
        assert by_day.value == today and by_day.stats.open_count == 40
        google = sdk.get(account[0].account_id, StatsFilterParams(start_date=today, end_date=today,
                                                                   email_service_providers=["Google"]))
        assert google.delivery_count == providers["Google"].delivery_count
        other_domain = verified_domain(account[0].account_id)
        assert sdk.get(account[0].account_id, StatsFilterParams(
            start_date=today, end_date=today, sending_domain_ids=[other_domain.domain_id])).delivery_count == 0


def _count(account_id, domain_id, name, at, n=1, category=None):
    message = SimpleNamespace(account_id=account_id, domain_id=domain_id, stream="transactional",
                              recipient="x@corp.test", category=category)
    for _ in range(n):
        stats.count(message, name, at)


def test_the_default_period_is_the_last_week_and_today(api, account, domain):
    acct = account[0].account_id
    now = clock.now()
    _count(acct, domain.domain_id, "delivered", now)
    _count(acct, domain.domain_id, "delivered", now - timedelta(days=7))
    _count(acct, domain.domain_id, "delivered", now - timedelta(days=8))  # outside
    assert api.get("/api/stats").json["delivery_count"] == 2  # seed-C 11
    days = api.get("/api/stats/date").json
    assert len(days) == 8 and days[0]["date"] == (now - timedelta(days=7)).date().isoformat()
    assert api.get("/api/stats?start_date=2020-02-01&end_date=2020-01-01").status == 400


def test_opens_on_a_later_day_count_on_that_day_unclamped(api, account, domain):
    # seed-C 12: opens are bucketed by the day they happen, so a day can open more than it delivered
    acct = account[0].account_id
    day1 = clock.now() - timedelta(days=1)
    _count(acct, domain.domain_id, "delivered", day1, 10, category="Digest")
    _count(acct, domain.domain_id, "delivered", clock.now(), 2, category="Digest")
    _count(acct, domain.domain_id, "opened", clock.now(), 15, category="Digest")
    days = {d["date"]: d["stats"] for d in api.get("/api/stats/date").json}
    today = days[clock.now().date().isoformat()]
    assert today["open_count"] == 15 and today["open_rate"] == 7.5  # 750%: nothing clamps it
    [digest] = api.get("/api/stats/categories").json
    assert digest["category"] == "Digest" and digest["stats"]["open_rate"] == round(15 / 12, 4)


def test_whole_months_and_end_days_give_what_every_day_gives(api, account, domain, monkeypatch):
    # counts on every third day from 2025-11 to 2027-01 over two domains, streams, providers, categories
    acct = account[0].account_id
    other = verified_domain(acct)
    tally, day = stats.Tally(), datetime(2025, 11, 2, 12, tzinfo=UTC)
    for i in range(150):
        at = day + timedelta(days=3 * i)
        message = SimpleNamespace(account_id=acct, domain_id=(domain, other)[i % 2].domain_id,
                                  stream=("transactional", "bulk")[i % 3 % 2],
                                  recipient=("a@gmail.com", "b@corp.test")[i % 5 % 2],
                                  category=(None, "Digest", "A#B")[i % 3])
        for n, name in enumerate(stats.COUNTS):
            for _ in range(1 + (i + n) % 4):
                tally.add(message, name, at)
    tally.flush()
    filters = [{}, {"sending_domain_ids": [other.domain_id]}, {"sending_streams": ["bulk"]},
               {"categories": ["A#B"]}, {"email_service_providers": ["Google"]}]
    periods = [("2025-11-17", "2026-11-16"), ("2025-12-15", "2026-01-20"), ("2026-02-01", "2026-03-31"),
               ("2026-04-01", "2026-04-30"), ("2026-05-03", "2026-05-27"), ("2026-06-30", "2026-08-01")]
    reads = []
    real_read = stats.read_items
    monkeypatch.setattr(stats, "read_items", lambda *a: reads.append(list(real_read(*a))) or reads[-1])
    principal = SimpleNamespace(account_id=acct, resource_ids=lambda *_: None)
    for first, last in periods:
        for f in filters:
            params = StatsQuery(start_date=first, end_date=last, **f)
            mixed = stats.summary(principal, params), [stats.grouped(principal, params, g) for g in stats.GROUPS]
            daily = stats.summary(principal, params, True), [stats.grouped(principal, params, g, True)
                                                             for g in stats.GROUPS]
            assert mixed == daily and mixed[0]["delivery_count"] > 0, (first, last, f)
    reads.clear()
    year = StatsQuery(start_date="2025-11-17", end_date="2026-11-16")
    stats.summary(principal, year)
    year_mixed = len(reads[0])
    stats.summary(principal, year, True)
    assert year_mixed <= 2 * (11 + 31) < len(reads[1])  # two domains: 11 months and the end days
    assert api.get("/api/stats?start_date=2025-11-17&end_date=2026-11-16").json == stats.summary(principal, year, True)
