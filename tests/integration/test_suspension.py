"""Mail whose sending domain can't send when its turn comes is suspended, not sent and not
lost (seed-C §1.5 Suspension, acceptance check 7): the log shows `suspension` and status
`enqueued`; the domain is checked again 10 more times; verified by then, the mail goes and ends
`delivered`, otherwise it ends `reject` / `not_delivered`."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from chalicelib.core import clock
from chalicelib.domains.models import Domain
from chalicelib.sending import streams, worker
from chalicelib.sending.models import Message
from tests.events_support import delivery, record_events
from tests.limits_support import advance, delayed
from tests.sending_support import pump, sent_to, verified_domain

SEND = "send.postline.test"


@pytest.fixture()
def domain(account):
    return verified_domain(account[0].account_id)


def send(api, domain) -> tuple[str, str]:
    to = f"s-{uuid.uuid4().hex[:10]}@rcpt.test"
    r = api.post("/api/send", {"from": {"email": f"app@{domain.domain_name}"}, "to": [{"email": to}],
                               "subject": "Hello", "text": "Hi"}, host=SEND)
    assert r.status == 200, r
    return r.json["message_ids"][0], to


def records_stop_verifying(domain) -> None:
    """What the DNS check leaves once a verified domain's records have failed past the grace period."""
    Domain.get(domain.account_id, domain.domain_id).update(
        actions=[Domain.dns_failing_since.set(clock.now() - timedelta(hours=73))])


def wait_in_the_queue() -> None:
    """Time passes before the worker takes the mail (the API checked the domain on acceptance)."""
    advance(timedelta(seconds=worker.DOMAIN_CHECKED_SECONDS + 1))


def records_verify_again(domain) -> None:
    Domain.get(domain.account_id, domain.domain_id).update(actions=[Domain.dns_failing_since.remove()])


def log(api, message_id) -> dict:
    return api.get(f"/api/email_logs/{message_id}").json


def test_mail_from_a_domain_that_stopped_verifying_waits_and_goes_once_it_verifies(api, client, domain):
    message_id, to = send(api, domain)  # accepted while the domain could send
    records_stop_verifying(domain)
    wait_in_the_queue()
    pump(client)
    held = log(api, message_id)
    assert held["status"] == "enqueued" and sent_to(to) == []
    assert [e["event_type"] for e in held["events"]] == ["suspension"]
    reason = held["events"][0]["details"]["reject_reason"]
    assert domain.domain_name in reason and "DNS records stopped verifying" in reason
    assert held["status_reason"] == reason
    [(wait, _)] = delayed(streams.queue_for(streams.TRANSACTIONAL))
    assert 800 < wait <= worker.DOMAIN_RECHECK_SECONDS
    for _ in range(3):  # still failing: checked again, said once
        advance(timedelta(seconds=worker.DOMAIN_RECHECK_SECONDS))
        pump(client)
    assert [e["event_type"] for e in log(api, message_id)["events"]] == ["suspension"] and sent_to(to) == []
    records_verify_again(domain)
    advance(timedelta(seconds=worker.DOMAIN_RECHECK_SECONDS))
    pump(client)
    assert len(sent_to(to)) == 1
    record_events(client, [delivery(Message.get(message_id, consistent_read=True))])
    done = log(api, message_id)
    assert done["status"] == "delivered" and done["status_reason"] is None
    assert [e["event_type"] for e in done["events"]] == ["suspension", "delivery"]


def test_mail_from_a_domain_not_verified_by_the_tenth_check_is_rejected(api, client, domain):
    message_id, to = send(api, domain)
    records_stop_verifying(domain)
    wait_in_the_queue()
    pump(client)  # the first check
    for _ in range(worker.DOMAIN_RECHECKS - 1):
        advance(timedelta(seconds=worker.DOMAIN_RECHECK_SECONDS))
        pump(client)
    assert log(api, message_id)["status"] == "enqueued"  # 10 checks so far: one more to go
    advance(timedelta(seconds=worker.DOMAIN_RECHECK_SECONDS))
    pump(client)
    rejected = log(api, message_id)
    assert rejected["status"] == "not_delivered" and sent_to(to) == []
    assert [e["event_type"] for e in rejected["events"]] == ["suspension", "reject"]
    assert "checked 11 times over 150 minutes" in rejected["events"][-1]["details"]["reject_reason"]
    assert delayed(streams.queue_for(streams.TRANSACTIONAL)) == []  # nothing left waiting


def test_mail_from_a_deleted_domain_is_rejected_at_once(api, client, domain):
    message_id, to = send(api, domain)
    assert api.delete(f"/api/domains/{domain.domain_id}").status in (200, 204)
    wait_in_the_queue()
    pump(client)
    rejected = log(api, message_id)
    assert rejected["status"] == "not_delivered" and sent_to(to) == []
    assert rejected["events"][-1]["details"]["reject_reason"] == (
        f"not sent: the sending domain {domain.domain_name} can't send because it has been deleted")
