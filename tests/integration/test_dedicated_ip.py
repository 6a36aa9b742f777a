"""Dedicated IP warm-up (seed-C §2.3, acceptance check 36): over the day's and the clock
hour's cap, mail goes through the shared configuration set; nothing is rejected."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.core import clock
from chalicelib.sending import dedicated_ips, ses
from chalicelib.sending.models import SENT, Message
from tests.sending_support import pump, verified_domain

SEND = "send.postline.test"
DAY1 = datetime(2026, 12, 8, tzinfo=UTC)


@pytest.fixture()
def routed(monkeypatch):
    """Every SES call's configuration set and the clock hour it was made in."""
    calls: list[tuple[str | None, int, str]] = []
    real = ses.submit
    now = {"at": DAY1}

    def submit(raw, sender, recipient, configuration_set, message_id=None):
        calls.append((configuration_set, now["at"].hour, message_id))
        return real(raw, sender, recipient, configuration_set, message_id)

    monkeypatch.setattr(ses, "submit", submit)
    monkeypatch.setattr(clock, "now", lambda: now["at"])
    dedicated_ips.forget_cached()
    yield calls, now
    dedicated_ips.forget_cached()


def _assign(account_id: int, warmup_start) -> dedicated_ips.DedicatedIp:
    """A fresh IP and pool each time, so no test sees another's counters."""
    return dedicated_ips.assign(account_id, f"2001:db8::{uuid.uuid4().hex[:4]}", f"pool-{uuid.uuid4().hex[:8]}",
                                warmup_start)


def _send(api, domain, count: int) -> list[str]:
    ids = []
    for start in range(0, count, 25):  # one message per recipient
        to = [{"email": f"r-{uuid.uuid4().hex[:10]}@rcpt.test"} for _ in range(min(25, count - start))]
        r = api.post("/api/send", {"from": {"email": f"app@{domain.domain_name}"}, "to": to,
                                   "subject": "Hello", "text": "Hi"}, host=SEND)
        assert r.status == 200, r
        ids += r.json["message_ids"]
    return ids


def _spread(api, client, domain, now, per_hour: list[int], day: datetime) -> list[str]:
    ids = []
    for hour, count in enumerate(per_hour):
        now["at"] = day + timedelta(hours=hour, minutes=10)
        ids += _send(api, domain, count)
        pump(client, rounds=200)
    return ids


def test_day_one_sends_at_most_300_via_the_dedicated_ip_and_60_an_hour_the_rest_shared(
        api, client, account, routed):
    calls, now = routed
    domain = verified_domain(account[0].account_id, open_tracking_enabled=False)
    ip = _assign(account[0].account_id, DAY1.date())
    ids = _spread(api, client, domain, now, [100, 50, 50, 50, 50, 50, 50], DAY1)

    assert len(ids) == 400
    dedicated = [hour for config_set, hour, _ in calls if config_set == ip.configuration_set]
    assert len(dedicated) == 300
    assert max(Counter(dedicated).values()) == 60  # hour 0 wanted 100
    assert Counter(dedicated)[6] == 0  # the day's 300 were used up in hour 5
    shared = [c for c in calls if c[0] != ip.configuration_set]
    assert len(shared) == 100 and all(c[0] and "dedicated" not in c[0] for c in shared)
    statuses = Counter(Message.get(i, consistent_read=True).status for i in ids)
    assert statuses == {SENT: 400}  # none rejected, none held back


def test_day_two_caps_come_from_the_warmup_table(api, client, account, routed):
    calls, now = routed
    domain = verified_domain(account[0].account_id, open_tracking_enabled=False)
    ip = _assign(account[0].account_id, (DAY1 - timedelta(days=1)).date())
    _spread(api, client, domain, now, [100, 100, 100, 100, 100], DAY1)

    dedicated = Counter(hour for config_set, hour, _ in calls if config_set == ip.configuration_set)
    assert dedicated == {0: 80, 1: 80, 2: 80, 3: 80, 4: 70}  # 80 an hour, 390 a day
    assert len(calls) == 500


def test_after_the_warmup_there_is_no_cap(api, client, account, routed):
    calls, now = routed
    domain = verified_domain(account[0].account_id, open_tracking_enabled=False)
    ip = _assign(account[0].account_id, (DAY1 - timedelta(days=21)).date())
    _spread(api, client, domain, now, [150], DAY1)
    assert [c[0] for c in calls] == [ip.configuration_set] * 150


def test_caps_follow_the_seed_table():
    assert dedicated_ips.caps(1) == (300, 60)
    assert dedicated_ips.caps(2) == (390, 80)
    assert dedicated_ips.caps(21) == (57000, 11400)
    assert dedicated_ips.caps(22) is None


def test_concurrent_workers_never_overshoot_the_hour(routed):
    from concurrent.futures import ThreadPoolExecutor

    ip = _assign(999_001, DAY1.date())
    with ThreadPoolExecutor(8) as pool:
        taken = list(pool.map(lambda _: dedicated_ips.take_slot(ip, DAY1), range(80)))
    assert taken.count(True) == 60


def test_the_dedicated_set_reports_ses_events_where_the_stream_sets_do():
    """Mail through the dedicated IP must still end delivered, bounced or complained: its
    configuration set publishes to the ses-events topic, and the local emulator routes its
    events to the same queue."""
    from chalicelib.core import aws
    from chalicelib.core.config import settings
    from local import ses_events

    ip = _assign(999_002, DAY1.date())
    found = aws.client("ses").describe_configuration_set(
        ConfigurationSetName=ip.configuration_set, ConfigurationSetAttributeNames=["eventDestinations"])
    [destination] = found["EventDestinations"]
    assert destination["Enabled"] and {"delivery", "bounce", "complaint"} <= set(destination["MatchingEventTypes"])
    assert destination["SNSDestination"]["TopicARN"].endswith(f":{settings().resource_prefix}ses-events")
    assert ses_events.queue_for(ip.configuration_set) == f"{settings().resource_prefix}ses-events"
