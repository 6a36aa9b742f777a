"""The local path: the emulated SES publishes its event JSON after each send
(local/ses_events.py) and the same events worker records it."""

from __future__ import annotations

import pytest

from chalicelib.sending.models import Message
from local import ses_events
from tests.events_support import pump_events, queued_events
from tests.sending_support import pump, verified_domain

SEND, BULK = "send.postline.test", "bulk.postline.test"
SIM = "simulator.amazonses.com"


@pytest.fixture()
def publishing():
    queued_events()  # nothing left over from other tests
    ses_events.install(delay_seconds=0)
    yield
    ses_events.uninstall()


@pytest.fixture()
def domain(account):
    return verified_domain(account[0].account_id)


def send(api, domain, to, host=SEND) -> str:
    body = {"from": {"email": f"app@{domain.domain_name}"}, "to": [{"email": to}], "subject": "Hello", "text": "Hi"}
    r = api.post("/api/send", body, host=host)
    assert r.status == 200, r
    return r.json["message_ids"][0]


def deliver_all(client) -> None:
    pump(client)
    pump_events(client)


def log(api, message_id) -> dict:
    return api.get(f"/api/email_logs/{message_id}").json


def kinds(detail) -> list[str]:
    return [e["event_type"] for e in detail["events"]]


def test_simulator_addresses_end_delivered_bounced_and_complained_and_suppression_rejects_the_next(
        api, client, domain, publishing):
    success, bounced, complained = (send(api, domain, f"{local}@{SIM}") for local in ("success", "bounce",
                                                                                       "complaint"))
    deliver_all(client)
    assert (log(api, success)["status"], kinds(log(api, success))) == ("delivered", ["delivery"])
    detail = log(api, bounced)
    assert detail["status"] == "not_delivered" and kinds(detail) == ["bounce"]
    assert detail["events"][0]["details"]["bounce_category"] == "badrecipient"
    detail = log(api, complained)
    assert detail["status"] == "opted_out" and kinds(detail) == ["delivery", "spam"]
    listed = {s["email"]: s["type"] for s in api.get("/api/suppressions").json}
    assert listed == {f"bounce@{SIM}": "hard bounce", f"complaint@{SIM}": "spam complaint"}
    # a later send to a suppressed address is rejected, never submitted
    again = [send(api, domain, f"{local}@{SIM}") for local in ("bounce", "complaint")]
    deliver_all(client)
    for message_id, reason in zip(again, ("hard bounce", "spam complaint"), strict=True):
        detail = log(api, message_id)
        assert detail["status"] == "not_delivered" and kinds(detail) == ["reject"]
        assert detail["events"][0]["details"]["reject_reason"] == f"Recipient in suppression list. Reason: {reason}"
        assert Message.get(message_id).ses_message_id is None


def test_ooto_suppressionlist_and_ordinary_addresses(api, client, domain, publishing):
    ooto, listed, ordinary = (send(api, domain, to) for to in (f"ooto@{SIM}", f"suppressionlist@{SIM}",
                                                                "someone@example.net"))
    deliver_all(client)
    assert log(api, ooto)["status"] == "delivered" and log(api, ordinary)["status"] == "delivered"
    detail = log(api, listed)
    assert detail["status"] == "not_delivered" and detail["events"][0]["details"]["bounce_category"] == "badrecipient"


@pytest.mark.parametrize("category", sorted(ses_events.CATEGORY_SAMPLES))
def test_each_bounce_category_has_an_address(api, client, domain, publishing, category):
    hard, soft, gave_up = (send(api, domain, f"{scheme}+{category}@{SIM}") for scheme in (
        "bounce", "softbounce", "softfail"))
    deliver_all(client)
    detail = log(api, hard)
    assert detail["status"] == "not_delivered" and detail["events"][-1]["details"]["bounce_category"] == category
    suppressed = {s["email"] for s in api.get("/api/suppressions").json}
    assert (f"bounce+{category}@{SIM}" in suppressed) == (category in ("timeout", "badrecipient", "overquota"))
    detail = log(api, soft)
    assert detail["status"] == "delivered" and kinds(detail) == ["soft_bounce", "delivery"]
    assert detail["events"][0]["details"]["bounce_category"] == category
    detail = log(api, gave_up)
    assert detail["status"] == "not_delivered" and kinds(detail) == ["soft_bounce", "bounce"]


def test_a_send_without_a_configuration_set_publishes_nothing(domain, publishing):
    from chalicelib.core import aws

    sender = f"app@{domain.domain_name}"
    aws.client("sesv2").send_email(FromEmailAddress=sender, Destination={"ToAddresses": [f"success@{SIM}"]},
                                   Content={"Raw": {"Data": f"From: {sender}\r\nSubject: x\r\n\r\nhi".encode()}})
    assert queued_events() == []
