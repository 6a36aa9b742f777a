"""Suppressions: the API (through the official SDK and over HTTP), the delivery check, the
unsubscribe link, imports, and the automatic rules for delivery events."""

from __future__ import annotations

import types
import uuid

import mailtrap as mt
import pytest
from mailtrap.exceptions import APIError
from mailtrap.models.suppressions import CreateSuppressionParams

from chalicelib.sending import unsubscribe
from chalicelib.sending.models import Message
from chalicelib.suppressions import service
from chalicelib.suppressions.models import Suppression
from tests.sdk import sdk_session
from tests.sending_support import pump, sent_to, verified_domain

SEND = "send.postline.test"
BULK = "bulk.postline.test"


@pytest.fixture()
def domain(account):
    return verified_domain(account[0].account_id)


@pytest.fixture()
def sdk(client, account):
    acct, token = account
    with sdk_session(client):
        yield mt.MailtrapClient(token=token, account_id=str(acct.account_id)).suppressions_api.suppressions


def rcpt(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:8]}@rcpt.test"


def send(api, domain, to, host=SEND, **extra):
    r = api.post("/api/send", {"from": {"email": f"app@{domain.domain_name}"}, "to": [{"email": e} for e in to],
                               "subject": "Hello", "text": "Hi", **extra}, host=host)
    assert r.status == 200, r
    return r.json["message_ids"]


# ---------------------------------------------------------------- API through the SDK


def test_sdk_creates_lists_filters_and_deletes(sdk, domain):
    email = rcpt("Sdk")
    created = sdk.create(CreateSuppressionParams(email=email, domain_id=domain.domain_id,
                                                 sending_stream="transactional"))
    assert created.email == email.lower() and created.type == "manual import"
    assert created.sending_stream == "transactional" and created.domain_name == domain.domain_name
    uuid.UUID(created.id)
    other = sdk.create(CreateSuppressionParams(email=rcpt("other"), domain_id=domain.domain_id,
                                               sending_stream="bulk", type="spam complaint"))
    assert other.type == "spam complaint"
    assert [s.id for s in sdk.get_list()] == [created.id, other.id]  # oldest first
    assert [s.id for s in sdk.get_list(email=email.upper())] == [created.id]  # case-insensitive
    removed = sdk.delete(created.id)
    assert removed.id == created.id and removed.email == email.lower()
    assert [s.id for s in sdk.get_list()] == [other.id]
    with pytest.raises(APIError) as err:
        sdk.delete(created.id)
    assert err.value.status == 404


def test_adding_an_existing_suppression_returns_it(api, domain):
    email = rcpt("dup")
    first = api.post("/api/suppressions", {"email": email, "domain_id": domain.domain_id, "sending_stream": "any"})
    again = api.post("/api/suppressions", {"email": email, "domain_id": domain.domain_id, "sending_stream": "any",
                                           "type": "hard bounce"})
    assert first.status == 201 and again.status == 200
    assert again.json["data"]["id"] == first.json["data"]["id"] and again.json["data"]["type"] == "manual import"
    # another stream is another suppression
    bulk = api.post("/api/suppressions", {"email": email, "domain_id": domain.domain_id, "sending_stream": "bulk"})
    assert bulk.status == 201 and bulk.json["data"]["id"] != first.json["data"]["id"]


@pytest.mark.parametrize("body,field,message", [
    ({"domain_id": None}, "domain_id", "can't be blank"),
    ({"domain_id": 999999}, "domain_id", "is not a sending domain of this account"),
    ({"email": "nope"}, "email", "is invalid"),
    ({"email": None}, "email", "can't be blank"),
    ({"sending_stream": "marketing"}, "sending_stream", "is invalid. Allowed values: transactional, bulk, any."),
    ({"type": "bored"}, "type", "is invalid. Allowed values: hard bounce, unsubscription, spam complaint, "
                                "manual import."),
])
def test_create_validation_is_422_per_field(api, domain, body, field, message):
    params = {"email": rcpt("v"), "domain_id": domain.domain_id, "sending_stream": "bulk", **body}
    r = api.post("/api/suppressions", {k: v for k, v in params.items() if v is not None})
    assert r.status == 422 and r.json["errors"][field] == [message]


def test_list_query_errors_are_400(api):
    assert api.get("/api/suppressions?last_id=" + str(uuid.uuid4())).status == 400
    assert api.get("/api/suppressions?start_time=yesterday").status == 400
    assert api.get("/api/suppressions", body=None).json == []


def test_viewers_read_and_domain_tokens_see_their_domain_only(api, client, account, domain):
    acct = account[0]
    other = verified_domain(acct.account_id)
    mine = api.post("/api/suppressions", {"email": rcpt("a"), "domain_id": domain.domain_id,
                                          "sending_stream": "any"}).json["data"]
    theirs = api.post("/api/suppressions", {"email": rcpt("b"), "domain_id": other.domain_id,
                                            "sending_stream": "any"}).json["data"]
    viewer = api.post("/api/api_tokens", {"name": "viewer", "resources": [
        {"resource_type": "account", "resource_id": acct.account_id, "access_level": 10}]}).json["token"]
    scoped = api.post("/api/api_tokens", {"name": "one domain", "resources": [
        {"resource_type": "domain", "resource_id": domain.domain_id, "access_level": 100}]}).json["token"]
    assert {s["id"] for s in api.get("/api/suppressions", token=viewer).json} == {mine["id"], theirs["id"]}
    r = api.post("/api/suppressions", {"email": rcpt("c"), "domain_id": domain.domain_id, "sending_stream": "any"},
                 token=viewer)
    assert r.status == 403
    assert api.delete(f"/api/suppressions/{mine['id']}", token=viewer).status == 403
    assert [s["id"] for s in api.get("/api/suppressions", token=scoped).json] == [mine["id"]]
    assert api.delete(f"/api/suppressions/{theirs['id']}", token=scoped).status == 404
    assert api.delete(f"/api/suppressions/{mine['id']}", token=scoped).status == 200


# ---------------------------------------------------------------- the delivery check


def test_suppressed_recipient_is_rejected_and_logged_not_sent(api, client, domain):
    blocked, free = rcpt("blocked"), rcpt("free")
    api.post("/api/suppressions", {"email": blocked, "domain_id": domain.domain_id, "sending_stream": "any"})
    ids = send(api, domain, [blocked]) + send(api, domain, [free])  # (SES's outbox lists every To)
    pump(client)
    assert sent_to(blocked) == [] and len(sent_to(free)) == 1
    log = api.get(f"/api/email_logs/{ids[0]}").json
    assert log["status"] == "not_delivered"
    reject = [e for e in log["events"] if e["event_type"] == "reject"]
    assert reject and reject[0]["details"]["reject_reason"] == "Recipient in suppression list. Reason: manual import"
    assert Message.get(ids[0]).status == "rejected" and Message.get(ids[1]).status == "sent"


def test_suppressions_are_per_domain_and_stream(api, client, account, domain):
    other = verified_domain(account[0].account_id)
    email = rcpt("scoped")
    api.post("/api/suppressions", {"email": email, "domain_id": domain.domain_id, "sending_stream": "bulk"})
    send(api, domain, [email], host=BULK)  # suppressed
    send(api, domain, [email], host=SEND)  # a bulk suppression leaves transactional mail alone
    send(api, other, [email], host=BULK)  # another domain is not affected
    pump(client)
    assert sorted(m["From"].addresses[0].domain for m in sent_to(email)) == sorted(
        [domain.domain_name, other.domain_name])


def test_an_any_stream_suppression_blocks_both_streams(api, client, domain):
    email = rcpt("any")  # seed-C 3: stream `any` blocks both
    api.post("/api/suppressions", {"email": email, "domain_id": domain.domain_id, "sending_stream": "any"})
    ids = send(api, domain, [email], host=BULK) + send(api, domain, [email], host=SEND)
    pump(client)
    assert sent_to(email) == []
    assert [api.get(f"/api/email_logs/{i}").json["status"] for i in ids] == ["not_delivered"] * 2


def test_reactivating_lets_the_next_send_through(api, client, domain):
    email = rcpt("back")
    created = api.post("/api/suppressions", {"email": email, "domain_id": domain.domain_id,
                                             "sending_stream": "any"}).json["data"]
    send(api, domain, [email])
    pump(client)
    assert sent_to(email) == []
    assert api.delete(f"/api/suppressions/{created['id']}").json["id"] == created["id"]
    send(api, domain, [email])
    pump(client)
    assert len(sent_to(email)) == 1


def test_unsubscribe_link_creates_an_unsubscription_suppression(api, client, domain):
    email = rcpt("unsub")
    [message_id] = send(api, domain, [email], host=BULK)
    pump(client)
    r = client.http.post(f"/api/unsubscribe/{unsubscribe.token_for(message_id)}",
                         headers={"Host": "postline.test", "Content-Type": "application/x-www-form-urlencoded"},
                         body="List-Unsubscribe=One-Click")
    assert r.status_code == 200
    [entry] = api.get(f"/api/suppressions?email={email}").json
    assert entry["type"] == "unsubscription" and entry["sending_stream"] == "bulk"
    assert entry["message_subject"] == "Hello" and entry["message_sender_email"] == f"app@{domain.domain_name}"
    [second] = send(api, domain, [email], host=BULK)
    send(api, domain, [email], host=SEND)
    pump(client)
    assert len(sent_to(email)) == 2  # the first bulk one and the transactional one
    assert Message.get(second).status_reason == "Recipient in suppression list. Reason: unsubscription"
    # reactivated, the same link used again suppresses again
    api.delete(f"/api/suppressions/{entry['id']}")
    client.http.post(f"/api/unsubscribe/{unsubscribe.token_for(message_id)}",
                     headers={"Host": "postline.test", "Content-Type": "application/x-www-form-urlencoded"},
                     body="List-Unsubscribe=One-Click")
    assert [s["type"] for s in api.get(f"/api/suppressions?email={email}").json] == ["unsubscription"]


# ---------------------------------------------------------------- import and export


def test_csv_import_adds_valid_rows_and_reports_the_others(api, account, domain):
    other = verified_domain(account[0].account_id)
    a, b = rcpt("csv-a"), rcpt("csv-b")
    csv = (f"email,domain_id,sending_stream,type\n{a},{domain.domain_id},bulk,\n"
           f"not-an-email,{domain.domain_id},bulk,\n{b},,any,unsubscription\n{a},{domain.domain_id},weekly,\n"
           f"{b},{other.domain_name},transactional,\n")
    r = api.post(f"/api/suppressions/import?domain_id={domain.domain_id}", raw=csv,
                 headers={"Content-Type": "text/csv"})
    assert r.status == 200, r
    assert (r.json["created"], r.json["existing"], r.json["failed"]) == (3, 0, 2)
    assert [(e["row"], e["errors"]) for e in r.json["errors"]] == [
        (2, ["email is invalid"]),
        (4, ["sending_stream is invalid. Allowed values: transactional, bulk, any."])]
    rows = {(s["email"], s["domain_name"], s["sending_stream"], s["type"]) for s in api.get("/api/suppressions").json}
    assert rows == {(a, domain.domain_name, "bulk", "manual import"), (b, domain.domain_name, "any", "unsubscription"),
                    (b, other.domain_name, "transactional", "manual import")}
    again = api.post(f"/api/suppressions/import?domain_id={domain.domain_id}", raw=csv,
                     headers={"Content-Type": "text/csv"}).json
    assert (again["created"], again["existing"]) == (0, 3)
    exported = api.get("/api/suppressions/export")
    assert exported.headers["content-type"].startswith("text/csv")
    lines = exported.body.decode().splitlines()
    assert lines[0] == "id,email,domain_name,sending_stream,type,created_at" and len(lines) == 4


def test_json_import_to_all_domains_and_one_email_per_line(api, account, domain):
    other = verified_domain(account[0].account_id)
    email = rcpt("everywhere")
    r = api.post("/api/suppressions/import", {"domain_id": "all", "sending_stream": "any", "emails": [email]})
    assert r.json["created"] == 2  # an address on two domains is two suppressions
    assert {s["domain_name"] for s in api.get(f"/api/suppressions?email={email}").json} == {
        domain.domain_name, other.domain_name}
    lines = "\n".join(rcpt("line") for _ in range(3))
    r = api.post(f"/api/suppressions/import?domain_id={domain.domain_id}&sending_stream=bulk", raw=lines,
                 headers={"Content-Type": "text/plain"})
    assert r.json["created"] == 3
    assert api.post("/api/suppressions/import", raw="{nope").status == 400
    assert api.post("/api/suppressions/import", raw='{"emails": "x"}').status == 400


def test_a_thousand_per_domain_at_most(api, account, domain):
    over = [f"bulk{i}@many.test" for i in range(1001)]
    r = api.post("/api/suppressions/import", {"domain_id": domain.domain_id, "sending_stream": "bulk",
                                              "emails": over})
    assert r.status == 422 and "At most 1000 emails per domain" in r.json["errors"]["base"][0]
    assert api.get("/api/suppressions").json == []  # nothing added
    assert api.post("/api/suppressions/import", {"domain_id": domain.domain_id, "sending_stream": "bulk",
                                                 "emails": over[:1000]}).json["created"] == 1000
    # (removed again: moto reads every item of a table for each index query, so big tables slow later tests)
    with Suppression.batch_write() as batch:
        for item in Suppression.batch_get([(f"{account[0].account_id}#{domain.domain_id}", f"{e}#bulk")
                                           for e in over[:1000]]):
            batch.delete(item)


def test_pages_follow_last_id(api, account, domain, monkeypatch):
    monkeypatch.setattr(service, "PAGE_SIZE", 2)
    other = verified_domain(account[0].account_id)
    api.post("/api/suppressions/import", {"domain_id": domain.domain_id, "sending_stream": "bulk",
                                          "emails": [rcpt(f"p{i}") for i in range(3)]})
    api.post("/api/suppressions/import", {"domain_id": other.domain_id, "sending_stream": "any",
                                          "emails": [rcpt("q")]})
    seen, last = [], None
    while True:
        page = api.get("/api/suppressions" + (f"?last_id={last}" if last else "")).json
        seen += page
        if len(page) < 2:
            break
        last = page[-1]["id"]
    assert len(seen) == 4 and len({s["id"] for s in seen}) == 4
    assert [s["created_at"] for s in seen] == sorted(s["created_at"] for s in seen)
    assert [s["sending_stream"] for s in api.get("/api/suppressions?sending_stream=any").json] == ["any"]
    assert len(api.get(f"/api/suppressions?domain_id={domain.domain_id}&type=manual%20import").json) == 2  # a page


# ---------------------------------------------------------------- rules for delivery events


def _message(domain, stream="transactional", recipient=None):
    return types.SimpleNamespace(
        message_id=str(uuid.uuid4()), account_id=domain.account_id, domain_id=domain.domain_id,
        domain_name=domain.domain_name, stream=stream, recipient=recipient or rcpt("event"), subject="Order 1",
        category="orders", client_ip="203.0.113.9", created_at=None, from_email=f"app@{domain.domain_name}")


@pytest.mark.parametrize("category", service.BOUNCE_CATEGORIES)
def test_only_three_bounce_categories_suppress(domain, category):
    message = _message(domain)
    made = service.record_delivery_event(message, "bounce", bounce_category=category,
                                         details={"esp_response": "550 5.1.1 no such user", "recipient_mx_name": "mx"})
    blocked = service.blocked(domain.account_id, domain.domain_id, "transactional", [message.recipient])
    if category in ("timeout", "badrecipient", "overquota"):
        assert made.type == "hard bounce" and made.message_bounce_category == category
        assert made.message_esp_response == "550 5.1.1 no such user" and made.message_recipient_mx_name == "mx"
        assert blocked == {message.recipient: "hard bounce"}
    else:
        assert made is None and blocked == {}


def test_spam_unsubscribe_and_other_events(domain):
    assert len(service.BOUNCE_CATEGORIES) == 17
    spam = _message(domain, stream="bulk")
    made = service.record_delivery_event(spam, "spam")
    assert (made.type, made.stream, made.message_subject, made.message_client_ip) == (
        "spam complaint", "bulk", "Order 1", "203.0.113.9")
    assert service.record_delivery_event(spam, "spam").suppression_id == made.suppression_id  # idempotent
    # the bulk stream's suppression leaves transactional mail alone
    assert service.blocked(domain.account_id, domain.domain_id, "transactional", [spam.recipient]) == {}
    for event in ("soft bounce", "soft_bounce", "delivery", "open", "click", "reject", "suspension"):
        assert service.record_delivery_event(_message(domain), event, bounce_category="badrecipient") is None
    assert service.record_delivery_event(_message(domain), "unsubscribe").type == "unsubscription"
