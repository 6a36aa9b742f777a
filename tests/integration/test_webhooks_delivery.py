"""Webhook delivery to a real HTTP receiver on loopback: sending events, batches, signatures,
retries on the clock, pause after the 40th retry, and the egress guard."""

from __future__ import annotations

import ipaddress
import json
import uuid
from datetime import timedelta

import pytest

from chalicelib.core import clock
from chalicelib.webhooks import delivery, egress
from chalicelib.webhooks.models import PendingBatch
from tests.events_support import bounce, delay, record_events
from tests.events_support import delivery as ses_delivery
from tests.integration.test_ses_events import sent
from tests.sending_support import system_mail_to, verified_domain
from tests.webhook_support import pump_webhooks, run_consumer

SEND_FIELDS = {"event", "message_id", "sending_stream", "email", "sending_domain_name", "timestamp", "event_id"}


def webhook(api, url, **fields):
    body = {"url": url, "webhook_type": "email_sending", "sending_stream": "transactional",
            "event_types": ["delivery", "soft_bounce", "bounce"], **fields}
    r = api.post("/api/webhooks", {"webhook": body})
    assert r.status == 200, r
    return r.json["data"]


def event(n: int) -> dict:
    return {"event": "delivery", "message_id": str(uuid.uuid4()), "sending_stream": "transactional",
            "email": f"r{n}@example.com", "sending_domain_name": "examplesender.com", "timestamp": 1728669700,
            "event_id": str(uuid.uuid4())}


def records(account_id: int, hook: dict, events: list[dict]) -> list[dict]:
    return [{"kind": "event", "account_id": account_id, "webhook_id": hook["id"], "event": e} for e in events]


def test_a_sending_event_reaches_its_webhook_with_the_fields_of_its_type(api, client, account, loopback, receiver):
    domain = verified_domain(account[0].account_id)
    hook = webhook(api, receiver.url)
    deliveries_only = webhook(api, receiver.url.replace("/hooks", "/deliveries-only"), event_types=["delivery"])
    other_domain = webhook(api, receiver.url.replace("/hooks", "/other"),
                           domain_id=verified_domain(account[0].account_id).domain_id)
    message = sent(api, client, domain, category="Password reset", custom_variables={"user_id": "123"})
    record_events(client, [ses_delivery(message), delay(message), bounce(message)])
    assert pump_webhooks(client) == 4  # delivery (2 webhooks), soft bounce, bounce
    by_path: dict[str, list[dict]] = {}
    for request in receiver.received:
        assert request.verifies(hook["signing_secret"]) or request.verifies(deliveries_only["signing_secret"])
        by_path.setdefault(request.path.split("?")[0], []).extend(request.events())
    assert "/other" not in by_path and other_domain["id"]  # scoped to another domain: nothing
    assert [e["event"] for e in by_path["/deliveries-only"]] == ["delivery"]
    got = {e["event"]: e for e in by_path["/hooks"]}
    assert set(got) == {"delivery", "soft bounce", "bounce"}  # seed-C §9.6: with a space
    for payload in got.values():
        assert SEND_FIELDS <= payload.keys() and payload["message_id"] == message.message_id
        assert payload["category"] == "Password reset" and payload["custom_variables"] == {"user_id": "123"}
    assert got["bounce"]["response_code"] == 550 and got["bounce"]["bounce_category"] == "badrecipient"
    assert "ip" not in got["bounce"] and "url" not in got["bounce"]


def test_batches_of_at_most_500_signed_over_both_formats(client, api, account, loopback, receiver):
    acct = account[0].account_id
    plain = webhook(api, receiver.url)
    lines = webhook(api, receiver.url.replace("/hooks", "/lines"), payload_format="jsonl")
    sent_events = [event(n) for n in range(1200)]
    assert run_consumer(client, records(acct, plain, sent_events) + records(acct, lines, sent_events[:3])) == {
        "batchItemFailures": []}
    plain_requests = [r for r in receiver.received if r.path.startswith("/hooks")]
    assert [len(r.events()) for r in plain_requests] == [500, 500, 200]
    assert [e["event_id"] for r in plain_requests for e in r.events()] == [e["event_id"] for e in sent_events]
    assert all(r.headers["content-type"] == "application/json" and r.verifies(plain["signing_secret"])
               for r in plain_requests)
    [jsonl] = [r for r in receiver.received if r.path.startswith("/lines")]
    assert jsonl.headers["content-type"] == "application/jsonl" and jsonl.verifies(lines["signing_secret"])
    assert jsonl.body.count(b"\n") == 2 and [json.loads(x)["email"] for x in jsonl.body.split(b"\n")] == [
        "r0@example.com", "r1@example.com", "r2@example.com"]


def test_events_are_gathered_for_30_seconds_up_to_500_per_invocation(app):
    from local.pump import consumers

    [consumer] = [c for c in consumers(app) if c.handler == "deliver_webhooks"]
    assert (consumer.batch_size, consumer.batching_window) == (500, 30)


@pytest.fixture()
def timers(monkeypatch):
    """The retry records the consumer sends with a message timer, kept here instead of SQS
    (which would hide them for 5 real minutes); each with its delay."""
    kept: list[tuple[dict, int]] = []
    real = delivery.queues.send

    def send(queue, body, delay_seconds=0):
        if queue == delivery.QUEUE and body.get("kind") == "retry":
            kept.append((body, delay_seconds))
            return "timer"
        return real(queue, body, delay_seconds)

    monkeypatch.setattr(delivery.queues, "send", send)
    return kept


def take(timers) -> list[dict]:
    out = [body for body, _ in timers]
    timers.clear()
    return out


def test_a_failed_batch_is_retried_on_the_clock_with_the_same_body(client, api, account, loopback, receiver,
                                                                    timers):
    receiver.statuses = [500, 503, 200]
    hook = webhook(api, receiver.url)
    run_consumer(client, records(account[0].account_id, hook, [event(1), event(2)]))
    assert [delay for _, delay in timers] == [300]  # every 5 minutes
    [retry] = take(timers)
    assert PendingBatch.get(retry["batch_id"]).attempts == 1
    clock.advance(timedelta(minutes=2))
    run_consumer(client, [retry])  # back early (a record can come back before its timer): it waits again
    [(_, wait)] = timers
    assert len(receiver.received) == 1 and 175 <= wait <= 180  # the 3 minutes left
    [retry] = take(timers)
    clock.advance(timedelta(minutes=3, seconds=1))
    run_consumer(client, [retry])
    [retry] = take(timers)
    clock.advance(timedelta(minutes=5, seconds=1))
    run_consumer(client, [retry])
    assert take(timers) == []  # the third attempt got 200: done
    assert [r.body for r in receiver.received] == [receiver.received[0].body] * 3
    assert all(r.verifies(hook["signing_secret"]) for r in receiver.received)
    with pytest.raises(PendingBatch.DoesNotExist):
        PendingBatch.get(retry["batch_id"])
    history = api.get(f"/api/webhooks/{hook['id']}/deliveries").json["data"]
    assert [(h["attempt"], h["status_code"], h["error"]) for h in history] == [
        (3, 200, None), (2, 503, "HTTP 503"), (1, 500, "HTTP 500")]
    assert api.get(f"/api/webhooks/{hook['id']}").json["data"]["active"] is True


def test_after_the_40th_failed_retry_the_webhook_is_paused_and_the_owner_mailed(client, api, account, loopback,
                                                                                   receiver, timers):
    receiver.statuses = [500]
    hook = webhook(api, receiver.url)
    run_consumer(client, records(account[0].account_id, hook, [event(1)]))
    for _ in range(delivery.MAX_RETRIES):
        [retry] = take(timers)
        clock.advance(timedelta(minutes=5, seconds=1))
        run_consumer(client, [retry])
    assert len(receiver.received) == 41 and take(timers) == []
    details = api.get(f"/api/webhooks/{hook['id']}").json["data"]
    assert details["active"] is False and "40 failed retries" in details["paused_reason"]
    [mail] = system_mail_to("owner@test.example")[-1:]
    assert mail["Subject"].startswith("Webhook paused") and "token" not in mail["Subject"]
    run_consumer(client, records(account[0].account_id, hook, [event(2)]))
    assert len(receiver.received) == 41  # paused: nothing more is sent until it is resumed


@pytest.mark.parametrize("address, kind", [
    ("127.0.0.1", "loopback"), ("::1", "loopback"), ("10.0.0.1", "private"), ("172.16.5.4", "private"),
    ("192.168.1.1", "private"), ("fd00::1", "private"), ("169.254.169.254", "link-local"),
    ("fe80::1", "link-local"), ("100.64.0.1", "shared (CGNAT)"), ("224.0.0.1", "multicast"),
    ("ff02::1", "multicast"), ("0.0.0.0", "unspecified"), ("::", "unspecified"),
    ("::ffff:127.0.0.1", "loopback"), ("64:ff9b::a9fe:a9fe", "link-local"), ("2002:c0a8:0101::1", "private"),
])
def test_the_egress_guard_refuses_each_inside_address_class(address, kind):
    assert egress.address_class(ipaddress.ip_address(address)) == kind
    with pytest.raises(egress.Refused, match=kind.replace("(", r"\(").replace(")", r"\)")):
        egress.resolve(egress.parse(f"http://[{address}]/x" if ":" in address else f"http://{address}/x"))


def test_public_addresses_pass_the_guard():
    for address in ("93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "45.158.83.129"):
        assert egress.address_class(ipaddress.ip_address(address)) is None


def test_a_name_that_resolves_to_loopback_is_refused_at_delivery(receiver):
    url = receiver.url.replace("127.0.0.1", "localhost")
    outcome = delivery.post(url, b'{"events":[]}', "application/json", "s" * 32)
    assert not outcome.ok and outcome.status_code is None and "loopback" in outcome.error
    assert receiver.received == []


def test_a_redirect_to_the_metadata_address_is_not_followed(loopback, receiver):
    receiver.statuses, receiver.location = [302], "http://169.254.169.254/latest/meta-data/"
    outcome = delivery.post(receiver.url, b'{"events":[]}', "application/json", "s" * 32)
    assert outcome.status_code == 302 and not outcome.ok and "redirects are not followed" in outcome.error
    assert len(receiver.received) == 1


def test_without_the_allow_list_a_loopback_receiver_gets_nothing(receiver):
    outcome = delivery.post(receiver.url, b'{"events":[]}', "application/json", "s" * 32)
    assert outcome.error.startswith("refused: 127.0.0.1 is a loopback address") and receiver.received == []


def test_a_receiver_that_never_answers_is_a_timeout(loopback):
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    try:
        outcome = delivery.post(f"http://127.0.0.1:{silent.getsockname()[1]}/", b"{}", "application/json", "s",
                                timeout=0.5)
    finally:
        silent.close()
    assert outcome.status_code is None and outcome.error == "no answer within 0.5 s"


def test_a_reject_the_delivery_worker_writes_reaches_its_webhook(api, client, account, loopback, receiver):
    from tests.integration.test_ses_events import send
    from tests.sending_support import pump

    domain = verified_domain(account[0].account_id)
    hook = webhook(api, receiver.url, event_types=["reject"])
    r = api.post("/api/suppressions", {"email": "gone@rcpt.test", "domain_id": domain.domain_id,
                                       "sending_stream": "any"})
    assert r.status == 201, r
    message_id = send(api, domain, to="gone@rcpt.test")
    pump(client)
    assert pump_webhooks(client) == 1
    [request] = receiver.received
    [payload] = request.events()
    assert request.verifies(hook["signing_secret"])
    assert (payload["event"], payload["message_id"], payload["email"]) == ("reject", message_id, "gone@rcpt.test")
    assert payload["reason"] == "Recipient in suppression list. Reason: manual import"
    assert SEND_FIELDS <= payload.keys()
