"""SES notifications through the events worker: statuses, event history, suppressions,
contacts; idempotent and order-tolerant. Payloads are SES's own event JSON (tests/events_support.py)."""

from __future__ import annotations

import uuid

import pytest

from chalicelib.sending import events, unsubscribe
from chalicelib.sending.models import Message
from tests.events_support import bounce, complaint, delay, delivery, record_events, sns_envelope, stamp
from tests.sending_support import pump, verified_domain

SEND, BULK = "send.postline.test", "bulk.postline.test"


@pytest.fixture()
def domain(account):
    return verified_domain(account[0].account_id)


def send(api, domain, to=None, host=SEND, **fields) -> str:
    to = to or f"r-{uuid.uuid4().hex[:10]}@rcpt.test"
    body = {"from": {"email": f"app@{domain.domain_name}"}, "to": [{"email": to}], "subject": "Hello",
            "text": "Hi", **fields}
    r = api.post("/api/send", body, host=host)
    assert r.status == 200, r
    return r.json["message_ids"][0]


def sent(api, client, domain, **kw) -> Message:
    message_id = send(api, domain, **kw)
    pump(client)
    message = Message.get(message_id, consistent_read=True)
    assert message.status == "sent" and message.ses_message_id
    return message


def log(api, message_id) -> dict:
    r = api.get(f"/api/email_logs/{message_id}")
    assert r.status == 200, r
    return r.json


def suppressions(api, email) -> list[dict]:
    r = api.get(f"/api/suppressions?email={email}")
    assert r.status == 200, r
    return r.json


def test_delivery_makes_the_message_delivered_and_the_log_shows_only_the_specs_events(api, client, domain):
    message = sent(api, client, domain)
    assert record_events(client, [delivery(message)]) == {"batchItemFailures": []}
    detail = log(api, message.message_id)
    assert detail["status"] == "delivered"
    # the record's own history (queued, sent with SES's id and the configuration set) stays inside
    assert detail["events"] == [{"event_type": "delivery", "created_at": stamp("10:00:01.000"),
                                 "details": {"recipient_mx": "203.0.113.9", "email_service_provider": "Other"}}]
    assert message.ses_message_id not in str(detail) and "configuration_set" not in str(detail)


def test_a_hard_bounce_suppresses_and_the_next_send_is_rejected(api, client, domain):
    message = sent(api, client, domain)
    record_events(client, [bounce(message)])
    detail = log(api, message.message_id)
    assert detail["status"] == "not_delivered"
    [shown] = detail["events"]
    assert shown["event_type"] == "bounce" and shown["details"] == {
        "bounce_category": "badrecipient", "email_service_provider_status": "5.1.1",
        "email_service_provider_response": "550 5.1.1 user unknown", "email_service_provider": "Other"}
    [suppression] = suppressions(api, message.recipient)
    assert suppression["type"] == "hard bounce" and suppression["message_bounce_category"] == "badrecipient"
    assert suppression["sending_stream"] == "transactional" and suppression["domain_name"] == domain.domain_name
    assert suppression["message_esp_response"] == "550 5.1.1 user unknown"
    again = send(api, domain, to=message.recipient)
    pump(client)
    rejected = log(api, again)
    assert rejected["status"] == "not_delivered" and [e["event_type"] for e in rejected["events"]] == ["reject"]
    assert rejected["events"][0]["details"] == {"reject_reason": "Recipient in suppression list. Reason: hard bounce"}
    assert Message.get(again).ses_message_id is None  # never submitted


@pytest.mark.parametrize("status,diagnostic,category", [
    ("5.7.1", "smtp; 550 5.7.1 Message rejected as spam by content filtering", "spam"),
    ("5.7.1", "smtp; 554 5.7.1 client host blocked using zen.spamhaus.org", "block"),
])
def test_a_bounce_of_a_category_that_does_not_suppress_makes_no_suppression(api, client, domain, status, diagnostic,
                                                                            category):
    message = sent(api, client, domain)
    record_events(client, [bounce(message, status=status, diagnostic=diagnostic)])
    detail = log(api, message.message_id)
    assert detail["status"] == "not_delivered" and detail["events"][0]["details"]["bounce_category"] == category
    assert suppressions(api, message.recipient) == []


def test_a_complaint_opts_out_suppresses_and_keeps_the_delivery(api, client, domain):
    message = sent(api, client, domain, host=BULK)
    record_events(client, [delivery(message), complaint(message)])
    detail = log(api, message.message_id)
    assert detail["status"] == "opted_out"
    assert [(e["event_type"], e["details"]) for e in detail["events"]] == [
        ("delivery", {"recipient_mx": "203.0.113.9", "email_service_provider": "Other"}),
        ("spam", {"spam_feedback_type": "abuse"})]
    [suppression] = suppressions(api, message.recipient)
    assert suppression["type"] == "spam complaint" and suppression["sending_stream"] == "bulk"


def test_an_unsubscribe_opts_out_suppresses_and_keeps_the_delivery(api, client, domain):
    message = sent(api, client, domain, host=BULK)  # seed-C 5, the unsubscribe half
    record_events(client, [delivery(message)])
    r = client.http.post(f"/api/unsubscribe/{unsubscribe.token_for(message.message_id)}",
                         headers={"Host": "postline.test", "Content-Type": "application/x-www-form-urlencoded"},
                         body="List-Unsubscribe=One-Click")
    assert r.status_code == 200
    detail = log(api, message.message_id)
    assert detail["status"] == "opted_out"
    assert [e["event_type"] for e in detail["events"]] == ["delivery", "unsubscribe"]
    [suppression] = suppressions(api, message.recipient)
    assert suppression["type"] == "unsubscription" and suppression["sending_stream"] == "bulk"


def test_a_notification_delivered_twice_changes_nothing(api, client, domain):
    message = sent(api, client, domain)
    record_events(client, [bounce(message)])
    before = Message.get(message.message_id, consistent_read=True)
    record_events(client, [bounce(message), sns_envelope(bounce(message))])
    after = Message.get(message.message_id, consistent_read=True)
    assert after.events == before.events and after.revision == before.revision
    assert len(suppressions(api, message.recipient)) == 1


def test_events_out_of_order_never_undo_a_later_state(api, client, domain):
    bounced = sent(api, client, domain)
    record_events(client, [bounce(bounced), delivery(bounced)])  # a Delivery after a Bounce
    detail = log(api, bounced.message_id)
    assert detail["status"] == "not_delivered" and [e["event_type"] for e in detail["events"]] == [
        "bounce", "delivery"]
    delivered = sent(api, client, domain)
    record_events(client, [delivery(delivered), delay(delivered)])  # a delay reported after the Delivery
    assert log(api, delivered.message_id)["status"] == "delivered"


def test_a_soft_bounce_keeps_the_message_enqueued_until_the_outcome(api, client, domain):
    message = sent(api, client, domain)
    record_events(client, [sns_envelope(delay(message))])  # SNS's envelope reads the same
    detail = log(api, message.message_id)
    assert detail["status"] == "enqueued"
    assert detail["events"][0]["event_type"] == "soft_bounce"
    assert detail["events"][0]["details"]["bounce_category"] == "overquota"
    assert suppressions(api, message.recipient) == []  # a soft bounce never suppresses
    record_events(client, [delivery(message, at=stamp("11:00:00.000"))])
    assert log(api, message.message_id)["status"] == "delivered"


def test_soft_bounces_then_ses_giving_up_end_in_one_bounce(api, client, domain):
    message = sent(api, client, domain)
    delays = [delay(message, at=stamp(f"1{i % 10}:00:00.000")) for i in range(10)]
    final = bounce(message, bounce_type="Transient", subtype="MailboxFull", status="4.2.2",
                   diagnostic="smtp; 452 4.2.2 Mailbox full")
    record_events(client, [delay(message)] + delays[:5])
    record_events(client, delays[5:] + [final])
    detail = log(api, message.message_id)
    kinds = [e["event_type"] for e in detail["events"]]
    assert kinds.count("bounce") == 1 and kinds[-1] == "bounce" and detail["status"] == "not_delivered"
    assert detail["events"][-1]["details"]["bounce_category"] == "overquota"
    assert suppressions(api, message.recipient)[0]["type"] == "hard bounce"  # overquota suppresses
    assert api.get("/api/stats").json["bounce_count"] == 1  # counted in the bounce rate once


def test_a_notice_before_the_submission_is_recorded_comes_back_later(api, client, domain):
    message_id = send(api, domain)
    queued = Message.get(message_id, consistent_read=True)
    queued.ses_message_id = "ses-early"
    result = record_events(client, [delivery(queued)])
    assert result == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}
    assert Message.get(message_id, consistent_read=True).status == "queued"


def test_notices_for_unknown_messages_are_dropped(api, client, domain):
    message = sent(api, client, domain)
    stranger = delivery(message)
    stranger["mail"]["tags"] = {}
    stranger["mail"]["headers"] = []
    stranger["mail"]["commonHeaders"] = {"messageId": f"<{uuid.uuid4()}@elsewhere.test>"}
    assert record_events(client, [stranger, {"eventType": "Send", "mail": stranger["mail"], "send": {}}]) == {
        "batchItemFailures": []}
    assert log(api, message.message_id)["status"] == "enqueued"


def test_the_message_id_header_finds_the_message_without_its_tag(api, client, domain):
    message = sent(api, client, domain)
    event = delivery(message)
    del event["mail"]["tags"]["postline-message-id"]
    record_events(client, [event])
    assert log(api, message.message_id)["status"] == "delivered"


def test_a_hard_bounce_of_a_marketing_send_marks_the_contact_bounced(api, client, domain):
    from tests.contacts_support import make_contact

    to = f"c-{uuid.uuid4().hex[:8]}@rcpt.test"
    contact = make_contact(api, to)
    transactional = sent(api, client, domain, to=to)
    record_events(client, [bounce(transactional, feedback_id="fb-t")])
    assert api.get(f"/api/contacts/{contact['id']}").json["data"]["status"] == "subscribed"
    marketing = sent(api, client, domain, to=to, host=BULK)
    record_events(client, [bounce(marketing, feedback_id="fb-b")])
    assert api.get(f"/api/contacts/{contact['id']}").json["data"]["status"] == "bounced"


def test_webhook_payloads_carry_the_fields_of_each_event(api, client, domain):
    message = sent(api, client, domain, category="Password reset", custom_variables={"user_id": "123"})
    record_events(client, [delay(message), bounce(message)])
    stored = Message.get(message.message_id, consistent_read=True)
    soft, hard = (events.webhook_payload(stored, e) for e in stored.events if e["event_type"] in (
        "soft_bounce", "bounce"))
    assert soft["event"] == "soft bounce" and hard["event"] == "bounce"
    assert hard["response"] == "550 5.1.1 user unknown" and hard["response_code"] == 550
    assert hard["bounce_category"] == "badrecipient" and "ip" not in hard and "url" not in hard
    for payload in (soft, hard):
        assert {"event", "message_id", "sending_stream", "email", "sending_domain_name", "timestamp",
                "event_id"} <= payload.keys()
        assert isinstance(payload["timestamp"], int) and uuid.UUID(payload["event_id"])
        assert payload["category"] == "Password reset" and payload["custom_variables"] == {"user_id": "123"}
    # the same notification again: no new event, so no new id
    record_events(client, [bounce(message)])
    again = Message.get(message.message_id, consistent_read=True)
    assert [e.get("event_id") for e in again.events] == [e.get("event_id") for e in stored.events]
    reject = events.webhook_payload(stored, events.event("reject", {"reject_reason": "Recipient in suppression "
                                                                                     "list. Reason: unsubscription"}))
    assert reject["reason"] == "Recipient in suppression list. Reason: unsubscription"
    click = events.webhook_payload(stored, events.event("click", {"click_url": "https://x.test", "web_ip_address":
                                                                  "142.86.27.2", "user_agent": "Mozilla/5.0"}))
    assert (click["url"], click["ip"], click["user_agent"]) == ("https://x.test", "142.86.27.2", "Mozilla/5.0")


def test_email_logs_filter_by_status_and_mailbox_provider(api, client, domain):
    # seed-C 14: Status in {Delivered, Opted Out} AND provider in {Google, Yahoo}
    google, yahoo, other, bounced = (sent(api, client, domain, to=f"{uuid.uuid4().hex[:8]}@{d}") for d in (
        "gmail.com", "yahoo.com", "corp.test", "gmail.com"))
    record_events(client, [delivery(google), delivery(yahoo), complaint(yahoo), delivery(other),
                           bounce(bounced)])
    query = ("/api/email_logs?filters[status][operator]=equal&filters[status][value][]=delivered"
             "&filters[status][value][]=opted_out&filters[email_service_provider][operator]=equal"
             "&filters[email_service_provider][value][]=Google&filters[email_service_provider][value][]=Yahoo")
    found = {m["message_id"]: m["status"] for m in api.get(query).json["messages"]}
    assert found == {google.message_id: "delivered", yahoo.message_id: "opted_out"}
