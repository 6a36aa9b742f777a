"""Send and batch over HTTP on both sending hosts: answers, authorization, records, queues."""

from __future__ import annotations

import base64
import gc

import pytest

from chalicelib.sending.models import Message
from tests.conftest import Api
from tests.sending_support import take, verified_domain

SEND = "send.postline.test"
BULK = "bulk.postline.test"


@pytest.fixture()
def domain(account):
    return verified_domain(account[0].account_id)


def body(domain, **changes):
    base = {"from": {"email": f"app@{domain.domain_name}", "name": "App"},
            "to": [{"email": "ann@rcpt.test", "name": "Ann"}], "subject": "Hello", "text": "Hi Ann"}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def test_no_token_is_401_in_the_sending_shape(api, domain):
    for host in (SEND, BULK):
        for path in ("/api/send", "/api/batch"):
            r = api.post(path, body(domain), token=None, host=host)
            assert r.status == 401 and r.json == {"success": False, "errors": ["Unauthorized"]}
            r = api.post(path, body(domain), token="not-a-token", host=host)
            assert r.status == 401 and r.json == {"success": False, "errors": ["Unauthorized"]}


def test_send_answers_only_on_sending_hosts(api, domain):
    assert api.post("/api/send", body(domain), host="postline.test").status == 404
    assert api.post("/api/send", body(domain), host="sandbox.postline.test").status == 404
    for host in (SEND, BULK):  # one token serves both streams (seed-B acceptance 8)
        r = api.post("/api/send", body(domain), host=host)
        assert r.status == 200 and r.json["success"] is True and len(r.json["message_ids"]) == 1


def test_one_message_id_per_recipient_with_its_own_record(api, account, domain):
    r = api.post("/api/send", body(domain, cc=[{"email": "cc@rcpt.test"}], bcc=[{"email": "bcc@rcpt.test"}],
                                   category="welcome", custom_variables={"user_id": "42"}), host=SEND)
    assert r.status == 200
    ids = r.json["message_ids"]
    assert len(ids) == 3 and len(set(ids)) == 3
    records = {m.message_id: m for m in Message.batch_get(ids)}
    assert sorted((m.kind, m.recipient) for m in records.values()) == [
        ("bcc", "bcc@rcpt.test"), ("cc", "cc@rcpt.test"), ("to", "ann@rcpt.test")]
    for m in records.values():
        assert m.status == "queued" and m.account_id == account[0].account_id and m.stream == "transactional"
        assert m.category == "welcome" and m.custom_variables == {"user_id": "42"}
        assert m.domain_id == domain.domain_id and [e["event_type"] for e in m.events] == ["queued"]


@pytest.mark.parametrize("changes,errors", [
    ({"from": None}, ["'from' is required"]),
    ({"to": None}, ["'to', 'cc' or 'bcc' address is required"]),
    ({"subject": None}, ["'subject' is required"]),
    ({"text": None}, ["must specify either text or html body"]),
    ({"from": {"email": "broken"}}, ["'from' address is invalid"]),
])
def test_validation_errors_are_400_with_the_spec_messages(api, domain, changes, errors):
    r = api.post("/api/send", body(domain, **changes), host=SEND)
    assert r.status == 400 and r.json == {"success": False, "errors": errors}


def test_malformed_bodies_are_400(api):
    r = api.post("/api/send", raw="{nope", host=SEND)
    assert r.status == 400 and r.json == {"success": False, "errors": ["Malformed JSON in request body"]}
    r = api.post("/api/send", raw="[1]", host=SEND)
    assert r.status == 400 and r.json["errors"] == ["Request body must be a JSON object"]


def test_empty_and_oversize_bodies_answer_in_the_sending_shape(api, domain, monkeypatch):
    from chalicelib.sending import api as sending_api

    for path in ("/api/send", "/api/batch"):
        r = api.post(path, raw="  ", host=SEND)
        assert r.status == 400
        assert r.json == {"success": False, "errors": ["Request body is empty; a JSON object is expected"]}
        r = api.post(path, raw="{nope", host=BULK)
        assert r.status == 400 and r.json == {"success": False, "errors": ["Malformed JSON in request body"]}
    monkeypatch.setattr(sending_api, "BATCH_BODY_LIMIT", 64)  # the batch limit is its own, not max_body_bytes
    r = api.post("/api/batch", raw="{" + " " * 64 + "}", host=SEND)
    assert r.status == 413 and r.json == {"success": False, "errors": ["Request body is too large"]}


def test_unverified_or_foreign_domain_is_403(api, client, domain):
    r = api.post("/api/send", body(domain, **{"from": {"email": "app@not-ours.example"}}), host=SEND)
    assert r.status == 403 and r.json["success"] is False and r.json["errors"] == ["Forbidden"]
    assert "not-ours.example" in r.json["detail"]
    # a subdomain is a different domain (From Header Mismatch)
    r = api.post("/api/send", body(domain, **{"from": {"email": f"app@mail.{domain.domain_name}"}}), host=SEND)
    assert r.status == 403 and r.json["errors"] == ["Forbidden"]


def test_token_needs_admin_on_the_from_domain(api, client, account, domain):
    acct = account[0]
    other = verified_domain(acct.account_id)
    scoped = api.post("/api/api_tokens", {"name": "domain admin", "resources": [
        {"resource_type": "domain", "resource_id": domain.domain_id, "access_level": 100}]}).json["token"]
    viewer = api.post("/api/api_tokens", {"name": "viewer", "resources": [
        {"resource_type": "account", "resource_id": acct.account_id, "access_level": 10}]}).json["token"]
    assert api.post("/api/send", body(domain), token=scoped, host=SEND).status == 200
    r = api.post("/api/send", body(other), token=scoped, host=SEND)
    assert r.status == 403 and r.json["errors"] == ["Forbidden"] and other.domain_name in r.json["detail"]
    assert api.post("/api/send", body(domain), token=viewer, host=SEND).status == 403


def test_another_accounts_domain_is_403(client, domain):
    from chalicelib.accounts import service as accounts

    _, token = accounts.create_account("Other", "o@other.example")
    r = Api(client, token).post("/api/send", body(domain), host=SEND)
    assert r.status == 403 and r.json["errors"] == ["Forbidden"]


def test_ten_megabytes_is_the_limit(api, domain):
    limit = 10 * 1024 * 1024
    overhead = len("Hello") + len("Hi Ann")
    ok = base64.b64encode(b"\0" * (limit - overhead)).decode()
    r = api.post("/api/send", body(domain, attachments=[{"content": ok, "filename": "big.bin"}]), host=SEND)
    assert r.status == 200, r
    take("transactional")  # accepted is what this test is about; not worth building 10 MB of MIME
    over = base64.b64encode(b"\0" * (limit - overhead + 1)).decode()
    r = api.post("/api/send", body(domain, attachments=[{"content": over, "filename": "big.bin"}]), host=SEND)
    assert r.status == 400 and r.json["errors"] == ["message size exceeds the limit of 10 MB (including attachments)"]
    del ok, over, r
    gc.collect()  # tracebacks hold the 10 MB strings in cycles; later tests in this process crawl otherwise


def test_batch_answers_each_request_in_order(api, domain):
    r = api.post("/api/batch", {
        "base": {"from": {"email": f"news@{domain.domain_name}"}, "subject": "News", "text": "Hello {{name}}"},
        "requests": [
            {"to": [{"email": "b1@rcpt.test"}]},
            {"to": [{"email": "bad"}]},
            {"to": [{"email": "b3@rcpt.test"}, {"email": "b4@rcpt.test"}], "subject": "Own subject"},
            {"from": {"email": "x@not-ours.example"}, "to": [{"email": "b5@rcpt.test"}]},
            {"cc": [{"email": "b6@rcpt.test"}], "text": None, "html": "<p>html</p>"},
        ]}, host=BULK)
    assert r.status == 200 and r.json["success"] is True
    results = r.json["responses"]
    assert [x["success"] for x in results] == [True, False, True, False, True]
    assert results[1]["errors"] == ["'to' address is invalid"] and results[3]["errors"] == ["Forbidden"]
    assert len(results[0]["message_ids"]) == 1 and len(results[2]["message_ids"]) == 2
    third = Message.get(results[2]["message_ids"][1])
    assert third.subject == "Own subject" and third.stream == "bulk" and third.recipient == "b4@rcpt.test"


def test_batch_shape_errors_are_400(api, domain):
    r = api.post("/api/batch", {"base": {}, "requests": []}, host=SEND)
    assert r.status == 400 and r.json == {"success": False, "errors": ["'requests' is required"]}
    r = api.post("/api/batch", {"requests": [{"to": ["a@x.test"]}] * 501}, host=SEND)
    assert r.status == 400 and r.json["errors"] == ["'requests' must not contain more than 500 items"]


def test_batch_of_500_is_one_call(api, domain, client):
    requests = [{"to": [{"email": f"r{i}@many.test"}]} for i in range(500)]
    r = api.post("/api/batch", {"base": body(domain, to=None), "requests": requests}, host=SEND)
    assert r.status == 200 and all(x["success"] for x in r.json["responses"])
    ids = [x["message_ids"][0] for x in r.json["responses"]]
    wanted = set(ids)  # another test of this worker process may have left a dispatch queued
    dispatches = [d for d in take("transactional") if wanted & set(d["message_ids"])]
    assert sorted(i for d in dispatches for i in d["message_ids"]) == sorted(ids)
    assert max(len(d["message_ids"]) for d in dispatches) == 50
    with Message.batch_write() as batch:  # keep the process's emulated table small for later tests
        for message in Message.batch_get(ids):
            batch.delete(message)


def test_the_demo_domain_sends_to_the_owner_only(api, client, account):
    from chalicelib.core.config import settings
    from tests.sending_support import pump, sent_to

    acct = account[0]
    demo = {"from": {"email": f"hello@{settings().demo_domain}"}, "subject": "Hello", "text": "It works."}
    r = api.post("/api/send", {**demo, "to": [{"email": acct.owner_email}]}, host=SEND)
    assert r.status == 200, r
    r = api.post("/api/send", {**demo, "to": [{"email": "someone@else.example"}]}, host=SEND)
    assert r.status == 403 and r.json["errors"] == ["Forbidden"] and "owner" in r.json["detail"]
    pump(client)
    assert sent_to(acct.owner_email)[-1]["Subject"] == "Hello"
