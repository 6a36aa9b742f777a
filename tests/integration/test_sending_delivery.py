"""The pipeline end to end: API -> SQS -> delivery worker -> SES (moto), and what the
recipient and the email log see. Each test uses its own recipients, so SES's outbox (shared
by the test process) is read per address."""

from __future__ import annotations

import base64
import email
import email.policy
import re
from datetime import timedelta

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError

from chalicelib.core import clock
from chalicelib.limits import service as limits
from chalicelib.limits.service import Hold
from chalicelib.sending import idempotency, ses, worker
from chalicelib.sending.models import Message
from tests.conftest import Api
from tests.limits_support import start_of_next_hour
from tests.sending_support import deliver, pump, sent_to, take, verified_domain

SEND = "send.postline.test"
BULK = "bulk.postline.test"
PDF = b"%PDF-1.4 " + bytes(range(256)) * 8
PNG = b"\x89PNG\r\n\x1a\n" + b"\x01" * 300


@pytest.fixture()
def domain(account):
    # open tracking off: these tests compare bodies exactly (tests/integration/test_tracking.py has the pixel)
    return verified_domain(account[0].account_id, open_tracking_enabled=False)


def unique(prefix: str = "r") -> str:
    import uuid

    return f"{prefix}-{uuid.uuid4().hex[:10]}@rcpt.test"


def body(domain, to, **changes):
    base = {"from": {"email": f"app@{domain.domain_name}", "name": "App"}, "to": [{"email": to}],
            "subject": "Hello", "text": "Hi there", "html": "<p>Hi there</p>"}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def send(api, domain, to, host=SEND, **changes) -> list[str]:
    r = api.post("/api/send", body(domain, to, **changes), host=host)
    assert r.status == 200, r
    return r.json["message_ids"]


def record(message_id: str) -> Message:
    return Message.get(message_id, consistent_read=True)


def ses_error(code: str, status: int = 400) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"{code} from the test"},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, "SendEmail")


def throttle_ses_once(monkeypatch, code: str, http_status: int) -> None:
    """SES answers the next SendEmail with this throttling error, then accepts again."""
    real, calls = ses._send_email, {"n": 0}

    def throttled_once(**params):
        calls["n"] += 1
        if calls["n"] == 1:
            raise ses_error(code, http_status)
        return real(**params)

    monkeypatch.setattr(ses, "_send_email", throttled_once)


# ---------------------------------------------------------------- what arrives


def test_transactional_message_reaches_ses_with_the_right_mime(api, client, domain):
    to = unique()
    [message_id] = send(api, domain, to, category="welcome", custom_variables={"user_id": "42"},
                        reply_to={"email": f"help@{domain.domain_name}"}, headers={"X-Message-Source": "tests"})
    assert record(message_id).status == "queued" and sent_to(to) == []
    pump(client)
    [msg] = sent_to(to)
    assert msg["From"] == f"App <app@{domain.domain_name}>" and msg["To"] == to
    assert msg["Subject"] == "Hello" and msg["Reply-To"] == f"help@{domain.domain_name}"
    assert msg["Message-ID"] == f"<{message_id}@{domain.domain_name}>" and msg["Date"]
    assert msg["X-Message-Source"] == "tests"
    assert msg.get_body(("plain",)).get_content().strip() == "Hi there"
    assert msg.get_body(("html",)).get_content().strip() == "<p>Hi there</p>"
    # metadata stays out of what the recipient gets (seed: visible to the sender only)
    assert msg["X-MT-Custom-Variables"] is None and msg["X-MT-Category"] is None
    # no bulk compliance headers on the transactional stream
    assert msg["List-Unsubscribe"] is None and msg["Precedence"] is None
    assert "Unsubscribe" not in msg.get_body(("html",)).get_content()
    stored = record(message_id)
    assert stored.status == "sent" and stored.ses_message_id and stored.attempts == 1
    assert [e["event_type"] for e in stored.events] == ["queued", "sent"]


def test_one_submission_per_recipient_and_bcc_stays_hidden(api, client, domain):
    to, cc, bcc = unique("to"), unique("cc"), unique("bcc")
    ids = send(api, domain, to, cc=[{"email": cc}], bcc=[{"email": bcc}])
    pump(client)
    for address in (to, cc, bcc):
        [msg] = sent_to(address)
        assert msg["To"] == to and msg["Cc"] == cc and msg["Bcc"] is None
    assert {record(i).status for i in ids} == {"sent"}
    assert len({sent_to(a)[0]["Message-ID"] for a in (to, cc, bcc)}) == 3  # one id per recipient


def test_attachments_and_inline_images_arrive_intact(api, client, domain):
    to = unique()
    send(api, domain, to, html='<p>Logo: <img src="cid:logo"></p>', attachments=[
        {"content": base64.b64encode(PDF).decode(), "filename": "invoice.pdf", "type": "application/pdf"},
        {"content": base64.b64encode(PNG).decode(), "filename": "logo.png", "type": "image/png",
         "disposition": "inline", "content_id": "logo"}])
    pump(client)
    [msg] = sent_to(to)
    assert msg.get_content_type() == "multipart/mixed"
    [pdf] = list(msg.iter_attachments())
    assert pdf.get_filename() == "invoice.pdf" and pdf.get_content() == PDF
    related = next(p for p in msg.walk() if p.get_content_type() == "multipart/related")
    logo = next(p for p in related.iter_parts() if p["Content-ID"] == "<logo>")
    assert logo.get_content() == PNG and logo.get_content_disposition() == "inline"


def test_raw_mime_is_kept_and_viewable_through_a_signed_link(api, client, domain):
    to = unique()
    [message_id] = send(api, domain, to, category="receipts", custom_variables={"order": "A-1"})
    pump(client)
    detail = api.get(f"/api/email_logs/{message_id}").json
    link = detail["raw_message_url"]
    path = link.split("://", 1)[1].split("/", 1)[1]
    raw = Api(client).get("/" + path, token=None)  # the link itself is the credential
    assert raw.status == 200 and raw.headers["content-type"] == "message/rfc822"
    stored = email.message_from_bytes(raw.body, policy=email.policy.default)
    assert stored["Message-ID"] == f"<{message_id}@{domain.domain_name}>"
    assert stored["X-MT-Category"] == "receipts" and stored["X-MT-Custom-Variables"] == '{"order": "A-1"}'
    forged = re.sub(r"\.[^.]+$", ".AAAAAAAAAAAAAAAAAAAAAAAA", path)
    assert Api(client).get("/" + forged, token=None).status == 404


# ---------------------------------------------------------------- bulk stream


def test_bulk_adds_unsubscribe_headers_precedence_and_footer(api, client, domain):
    to = unique()
    [message_id] = send(api, domain, to, host=BULK, html="<html><body><p>News</p></body></html>", text="News")
    pump(client)
    [msg] = sent_to(to)
    unsubscribe = msg["List-Unsubscribe"]
    mailto, https = re.findall(r"<([^>]+)>", unsubscribe)
    assert mailto.startswith(f"mailto:unsubscribe@{domain.domain_name}?")
    assert https.startswith("http") and f"/api/unsubscribe/{message_id}." in https
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg["Precedence"] == "bulk"
    html = msg.get_body(("html",)).get_content()
    assert f'<a href="{https}">Unsubscribe</a>' in html and html.index("Unsubscribe") < html.index("</body>")
    assert https in msg.get_body(("plain",)).get_content()
    assert record(message_id).stream == "bulk"


def test_bulk_keeps_the_senders_own_unsubscribe_link(api, client, domain):
    to, other = unique(), unique()
    send(api, domain, to, host=BULK, html='<p>News <a href="https://shop.example/unsubscribe?u=1">Leave</a></p>')
    send(api, domain, other, host=BULK, html='<p>News <a href="__unsubscribe_url__">Opt out here</a></p>',
         text="Stop: __unsubscribe_url__")
    pump(client)
    html = sent_to(to)[0].get_body(("html",)).get_content()
    assert html.count("<a ") == 1 and "shop.example/unsubscribe" in html
    [msg] = sent_to(other)
    link = re.findall(r"<([^>]+)>", msg["List-Unsubscribe"])[1]
    assert f'<a href="{link}">Opt out here</a>' in msg.get_body(("html",)).get_content()
    assert msg.get_body(("html",)).get_content().count("<a ") == 1
    assert msg.get_body(("plain",)).get_content().strip() == f"Stop: {link}"


def test_an_unsubscribe_after_a_spam_complaint_is_recorded_once_however_often_used(api, client, domain):
    from chalicelib.sending import events, unsubscribe

    to = unique()
    [message_id] = send(api, domain, to, host=BULK)
    pump(client)
    events.apply(message_id, "spam")  # the status is opted out already, by the complaint
    token = unsubscribe.token_for(message_id)
    for _ in range(3):
        assert unsubscribe.opt_out(token).message_id == message_id
    kinds = [e["event_type"] for e in record(message_id).events]
    assert kinds.count("unsubscribe") == 1 and kinds.count("spam") == 1
    [later] = send(api, domain, to, host=BULK)
    pump(client)
    assert record(later).status_reason == "Recipient in suppression list. Reason: unsubscription"


def test_one_click_unsubscribe_stops_bulk_but_not_transactional(api, client, domain):
    to = unique()
    [first] = send(api, domain, to, host=BULK)
    pump(client)
    link = re.findall(r"<([^>]+)>", sent_to(to)[0]["List-Unsubscribe"])[1]
    path = "/" + link.split("://", 1)[1].split("/", 1)[1]
    anonymous = Api(client)
    # a GET (a link scanner, a click on the footer) shows a button and changes nothing
    page = anonymous.get(path, token=None)
    assert page.status == 200 and b"<form method=\"post\"" in page.body
    assert record(first).status == "sent"
    # the one-click POST (RFC 8058) opts the recipient out of this domain's bulk mail
    r = anonymous.call("POST", path, raw="List-Unsubscribe=One-Click", token=None,
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 200
    assert record(first).status == "opted_out" and record(first).events[-1]["event_type"] == "unsubscribe"
    assert anonymous.call("POST", path, raw="List-Unsubscribe=One-Click", token=None,
                          headers={"Content-Type": "application/x-www-form-urlencoded"}).status == 200
    [later_bulk] = send(api, domain, to, host=BULK)
    [transactional] = send(api, domain, to)
    pump(client)
    assert len(sent_to(to)) == 2  # the first bulk mail and the transactional one
    rejected = record(later_bulk)
    assert rejected.status == "rejected"
    assert rejected.status_reason == "Recipient in suppression list. Reason: unsubscription"
    assert rejected.events[-1] == {**rejected.events[-1], "event_type": "reject"}
    assert record(transactional).status == "sent"
    forged = path.rsplit(".", 1)[0] + ".forgedsignature0000000"
    assert anonymous.call("POST", forged, raw="List-Unsubscribe=One-Click", token=None,
                          headers={"Content-Type": "application/x-www-form-urlencoded"}).status == 404


def test_opt_outs_are_per_domain(api, account, client, domain):
    other = verified_domain(account[0].account_id)
    to = unique()
    send(api, domain, to, host=BULK)
    pump(client)
    link = re.findall(r"<([^>]+)>", sent_to(to)[0]["List-Unsubscribe"])[1]
    Api(client).call("POST", "/" + link.split("://", 1)[1].split("/", 1)[1], raw="List-Unsubscribe=One-Click",
                     token=None, headers={"Content-Type": "application/x-www-form-urlencoded"})
    [from_other] = send(api, other, to, host=BULK)
    pump(client)
    assert record(from_other).status == "sent"


# ---------------------------------------------------------------- auto BCC and templates


def test_auto_bcc_copies_with_their_own_headers(api, account, client):
    bcc1, bcc2 = unique("archive"), unique("audit")
    domain = verified_domain(account[0].account_id, auto_bcc={
        "emails": [bcc1, bcc2], "headers": [{"name": "X-Archive", "value": "yes"}]})
    to = unique()
    ids = send(api, domain, to)
    assert len(ids) == 1  # the copies are the domain's, not the caller's recipients
    pump(client)
    [original] = sent_to(to)
    [copy1], [copy2] = sent_to(bcc1), sent_to(bcc2)
    assert original["X-Archive"] is None
    assert copy1["X-Archive"] == "yes" and copy2["X-Archive"] == "yes"
    assert copy1["To"] == to and copy1["Bcc"] is None
    logs = api.get("/api/email_logs", headers={}).json["messages"]
    assert {m["to"] for m in logs} >= {to, bcc1, bcc2}
    assert limits.monthly_used(account[0].account_id) == 3  # seed-C 19: usage grows by 3


def create_template(api, **fields) -> dict:
    r = api.post("/api/email_templates", {"email_template": {
        "name": "Welcome", "subject": "Welcome to {{company}}, {{user.name}}!", "category": "onboarding",
        "body_html": "<h1>Hi {{user.name}}</h1>{{#each items}}<p>{{this}}</p>{{/each}}",
        "body_text": "Hi {{user.name}}", **fields}})
    assert r.status in (200, 201), r
    return r.json


def test_template_send_renders_subject_and_bodies(api, client, domain):
    template = create_template(api)
    to = unique()
    variables = {"company": "Tom & Jerry", "user": {"name": "Ann"}, "items": ["one", "two"]}
    r = api.post("/api/send", {"from": {"email": f"app@{domain.domain_name}"}, "to": [{"email": to}],
                               "template_uuid": template["uuid"], "template_variables": variables}, host=SEND)
    assert r.status == 200
    [message_id] = r.json["message_ids"]
    accepted = record(message_id)
    assert accepted.subject == "Welcome to Tom &amp; Jerry, Ann!"  # seed: {{ }} escapes, in subjects too
    assert accepted.category == "onboarding" and accepted.template_id == template["id"]
    pump(client)
    [msg] = sent_to(to)
    assert msg["Subject"] == "Welcome to Tom &amp; Jerry, Ann!"
    assert msg.get_body(("html",)).get_content().strip() == "<h1>Hi Ann</h1><p>one</p><p>two</p>"
    assert msg.get_body(("plain",)).get_content().strip() == "Hi Ann"
    detail = api.get(f"/api/email_logs/{message_id}").json
    assert detail["template_id"] == template["id"] and detail["template_variables"] == variables


def test_deleted_template_fails_at_the_api_or_in_the_worker(api, client, domain):
    template = create_template(api)
    to = unique()
    r = api.post("/api/send", {"from": {"email": f"app@{domain.domain_name}"}, "to": [{"email": to}],
                               "template_uuid": template["uuid"]}, host=SEND)
    [message_id] = r.json["message_ids"]
    assert api.delete(f"/api/email_templates/{template['id']}").status == 204
    pump(client)  # deleted between acceptance and delivery
    failed = record(message_id)
    assert failed.status == "failed" and "does not exist" in failed.status_reason and sent_to(to) == []
    # sending with it now fails at once (seed-B acceptance 3)
    r = api.post("/api/send", {"from": {"email": f"app@{domain.domain_name}"}, "to": [{"email": to}],
                               "template_uuid": template["uuid"]}, host=SEND)
    assert r.status == 400 and r.json["success"] is False and "does not exist" in r.json["errors"][0]


# ---------------------------------------------------------------- at most once


def test_a_record_delivered_twice_is_sent_once(api, client, domain):
    to = unique()
    send(api, domain, to)
    [dispatch] = take("transactional")
    assert deliver(client, "transactional", [dispatch]) == {"batchItemFailures": []}
    assert deliver(client, "transactional", [dispatch]) == {"batchItemFailures": []}  # SQS redelivery
    assert deliver(client, "transactional", [dispatch, dispatch]) == {"batchItemFailures": []}
    assert len(sent_to(to)) == 1


def test_a_worker_crash_mid_dispatch_never_sends_twice(api, client, domain, monkeypatch):
    monkeypatch.setattr(worker, "CHUNK_SIZE", 10)  # the crash window: one chunk
    recipients = [unique(f"c{i}") for i in range(12)]
    r = api.post("/api/send", {**body(domain, recipients[0]), "to": [{"email": a} for a in recipients]}, host=SEND)
    ids = r.json["message_ids"]
    [dispatch] = take("transactional")

    class Crash(BaseException):  # like the process dying: no handler gets to clean up
        pass

    calls = {"n": 0}
    real = ses._send_email

    def dies_on_the_second_call(**params):
        calls["n"] += 1
        if calls["n"] == 2:
            raise Crash()
        return real(**params)

    monkeypatch.setattr(ses, "_send_email", dies_on_the_second_call)
    with pytest.raises(Crash):
        deliver(client, "transactional", [dispatch])
    monkeypatch.setattr(ses, "_send_email", real)
    # SQS redelivers while the dead worker's lease still runs: the record goes back to the queue
    assert deliver(client, "transactional", [dispatch]) == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}
    clock.advance(timedelta(seconds=idempotency.LEASE_SECONDS + 1))
    assert deliver(client, "transactional", [dispatch]) == {"batchItemFailures": []}
    counts = [len(sent_to(a)) for a in recipients]
    assert counts == [1] + [0] * 9 + [1, 1]  # the first went out before the crash; never twice
    statuses = [record(i).status for i in ids]
    assert statuses == ["failed"] * 10 + ["sent"] * 2
    assert record(ids[1]).status_reason == worker.IN_FLIGHT_REASON


@pytest.mark.parametrize("code,http_status", [
    ("TooManyRequestsException", 429), ("ThrottlingException", 400), ("ServiceUnavailable", 503)])
def test_throttled_ses_is_retried_with_backoff_and_sent_once(api, client, domain, monkeypatch, code, http_status):
    to = unique()
    [message_id] = send(api, domain, to)
    throttle_ses_once(monkeypatch, code, http_status)
    delays = []
    monkeypatch.setattr(worker, "backoff_seconds", lambda attempt: delays.append(attempt) or 0)
    [dispatch] = take("transactional")
    deliver(client, "transactional", [dispatch])
    waiting = record(message_id)
    assert waiting.status == "queued" and waiting.events[-1]["event_type"] == "retry"
    assert code in waiting.status_reason and sent_to(to) == []
    assert delays == [1]
    [retry] = take("transactional")
    assert retry["dispatch_id"] == dispatch["dispatch_id"] and retry["attempt"] == 1
    deliver(client, "transactional", [retry])
    done = record(message_id)
    assert done.status == "sent" and done.attempts == 2 and len(sent_to(to)) == 1
    assert [e["event_type"] for e in done.events] == ["queued", "retry", "sent"]


def held(seconds: int) -> Hold:
    return Hold("hourly", clock.now() + timedelta(seconds=seconds), seconds)


def test_the_throttling_hook_defers_a_dispatch_without_sending(api, client, domain, monkeypatch):
    to = unique()
    [message_id] = send(api, domain, to)
    delays = []
    real_send = worker.queues.send
    monkeypatch.setattr(worker.hooks, "sending_hold", lambda account, domain_id, count, hourly: held(120))
    monkeypatch.setattr(worker.queues, "send", lambda q, b, d=0: delays.append(d) or real_send(q, b, 0))
    [dispatch] = take("transactional")
    deliver(client, "transactional", [dispatch])
    assert delays == [120] and sent_to(to) == [] and record(message_id).status == "queued"
    monkeypatch.setattr(worker.hooks, "sending_hold", lambda *a: None)
    pump(client)  # the deferred copy, once its time has come
    assert len(sent_to(to)) == 1 and record(message_id).status == "sent"


def test_backoff_grows_to_the_sqs_maximum():
    delays = [worker.backoff_seconds(a) for a in range(1, 9)]
    assert 24 <= delays[0] <= 30 and 48 <= delays[1] <= 60
    assert all(d <= 900 for d in delays) and delays[-1] >= 720


@pytest.mark.parametrize("error,status,reason", [
    (ses_error("MessageRejected"), "rejected", "SES MessageRejected"),
    (ses_error("AccountSuspendedException"), "failed", "SES AccountSuspendedException"),
    (ReadTimeoutError(endpoint_url="https://email.us-east-1.amazonaws.com"), "failed", "outcome unknown"),
])
def test_permanent_ses_errors_end_the_message_with_a_reason(api, client, domain, monkeypatch, error, status, reason):
    to = unique()
    [message_id] = send(api, domain, to)

    def refuses(**params):
        raise error

    monkeypatch.setattr(ses, "_send_email", refuses)
    pump(client)
    ended = record(message_id)
    assert ended.status == status and reason in ended.status_reason
    assert ended.events[-1]["event_type"] == "reject" and reason in ended.events[-1]["details"]["reject_reason"]
    assert api.get(f"/api/email_logs/{message_id}").json["status"] == "not_delivered"


def test_ses_failing_for_good_ends_failed_after_the_last_attempt(api, client, domain, monkeypatch):
    to = unique()
    [message_id] = send(api, domain, to)
    monkeypatch.setattr(ses, "_send_email", lambda **p: (_ for _ in ()).throw(ses_error("InternalFailure", 500)))
    monkeypatch.setattr(worker, "backoff_seconds", lambda attempt: 0)
    monkeypatch.setattr(worker, "MAX_ATTEMPTS", 3)
    pump(client)
    ended = record(message_id)
    assert ended.status == "failed" and ended.attempts == 3
    assert ended.status_reason.startswith("not accepted by SES after 3 attempts: SES InternalFailure")


def test_a_long_dispatch_continues_in_a_fresh_invocation(api, client, domain, monkeypatch):
    recipients = [unique(f"l{i}") for i in range(5)]
    r = api.post("/api/send", {**body(domain, recipients[0]), "to": [{"email": a} for a in recipients]}, host=SEND)
    monkeypatch.setattr(worker, "PACK_BYTES", 1)  # one message per pack
    monkeypatch.setattr(worker, "TIME_BUDGET_SECONDS", 0)  # out of time after each pack
    [original] = take("transactional")
    deliver(client, "transactional", [original])
    assert [len(sent_to(a)) for a in recipients] == [1, 0, 0, 0, 0]
    [rest] = take("transactional")
    assert rest["message_ids"] == r.json["message_ids"][1:] and rest["ledger_version"] == 1
    deliver(client, "transactional", [original])  # a stale copy of the original is harmless
    pump(client)
    assert [len(sent_to(a)) for a in recipients] == [1, 1, 1, 1, 1]
    assert {record(i).status for i in r.json["message_ids"]} == {"sent"}


def test_packing_measures_each_request_once_per_dispatch(api, client, domain, monkeypatch):
    from chalicelib.sending.validation import SendRequest

    recipients = [unique(f"p{i}") for i in range(4)]
    api.post("/api/send", {**body(domain, recipients[0]), "to": [{"email": a} for a in recipients]}, host=SEND)
    monkeypatch.setattr(worker, "PACK_BYTES", 1)  # one message per pack: every pack measures the rest
    real, calls = SendRequest.size, {"n": 0}

    def counted(self):
        calls["n"] += 1
        return real(self)

    monkeypatch.setattr(SendRequest, "size", counted)
    [dispatch] = take("transactional")
    deliver(client, "transactional", [dispatch])
    assert [len(sent_to(a)) for a in recipients] == [1, 1, 1, 1]
    assert calls["n"] == 1  # one request (one entry) for all four messages


# ---------------------------------------------------------------- records the worker writes


def accept_deferred(account, domain, to: str) -> str:
    """Accept one message as the SMTP ingress does: the dispatch on the queue carries its
    record, and nothing is written to the table yet."""
    from chalicelib.core.permissions import ADMIN, Grant, Principal
    from chalicelib.sending.service import Submission
    from chalicelib.sending.validation import parse_send

    account_id = account[0].account_id
    submission = Submission(Principal(account_id, 0, "smtp", (Grant("account", account_id, ADMIN),)),
                            "transactional", "127.0.0.1")
    [message_id] = submission.add(parse_send(body(domain, to)))
    submission.commit(defer_records=True)
    return message_id


def test_a_deferred_record_is_written_before_the_dispatch_waits(api, account, client, domain, monkeypatch):
    to = unique()
    message_id = accept_deferred(account, domain, to)
    assert api.get(f"/api/email_logs/{message_id}").status == 404  # not in the logs until a worker takes it
    [dispatch] = take("transactional")
    assert dispatch["deferred"] is True
    monkeypatch.setattr(worker.hooks, "sending_hold", lambda *a: held(120))  # over the hourly rate: it waits
    real_send = worker.queues.send
    monkeypatch.setattr(worker.queues, "send", lambda q, b, d=0: real_send(q, b, 0))  # no waiting in the test
    deliver(client, "transactional", [dispatch])
    assert sent_to(to) == []
    log = api.get(f"/api/email_logs/{message_id}")
    assert log.status == 200 and log.json["status"] == "enqueued"  # visible while it waits
    monkeypatch.setattr(worker.hooks, "sending_hold", lambda *a: None)
    pump(client)
    assert len(sent_to(to)) == 1 and record(message_id).status == "sent"


def test_a_deferred_dispatch_outlives_a_worker_that_died_before_writing(api, account, client, domain):
    to = unique()
    message_id = accept_deferred(account, domain, to)
    [dispatch] = take("transactional")
    idempotency.claim(dispatch["dispatch_id"])  # a worker took it and died before writing anything
    clock.advance(timedelta(seconds=idempotency.LEASE_SECONDS + 1))
    assert deliver(client, "transactional", [dispatch]) == {"batchItemFailures": []}
    assert len(sent_to(to)) == 1
    done = record(message_id)
    assert done.status == "sent" and [e["event_type"] for e in done.events] == ["queued", "sent"]


def test_a_retry_after_ses_throttling_counts_once_against_the_limits(api, account, client, domain, monkeypatch):
    from chalicelib.limits import service as limits
    from chalicelib.limits.models import UsageWindow

    account_id = account[0].account_id
    limits.set_limits(account_id, plan="free", hourly=100, daily=100, monthly=100)
    to = unique()
    [message_id] = send(api, domain, to)
    throttle_ses_once(monkeypatch, "TooManyRequestsException", 429)
    monkeypatch.setattr(worker, "backoff_seconds", lambda attempt: 0)
    deliver(client, "transactional", take("transactional"))
    [retry] = take("transactional")
    deliver(client, "transactional", [retry])
    assert record(message_id).status == "sent" and len(sent_to(to)) == 1
    hour = UsageWindow.get(f"account#{account_id}", f"h{clock.now():%Y-%m-%dT%H}", consistent_read=True)
    assert limits.monthly_used(account_id) == 1 and hour.used == 1  # one message, counted once


def test_a_copy_delivered_after_a_worker_crash_counts_once_against_the_limits(api, account, client, domain,
                                                                             monkeypatch):
    from chalicelib.limits import service as limits
    from chalicelib.limits.models import UsageWindow

    account_id = account[0].account_id
    limits.set_limits(account_id, plan="free", hourly=100, daily=100, monthly=100)
    start_of_next_hour()  # the lease's 181 s below must not carry the retry into another hour
    to = unique()
    [message_id] = send(api, domain, to)
    [dispatch] = take("transactional")

    class Crash(BaseException):  # the worker dies after counting, before building the message
        pass

    def dies(self, lease, pack):
        raise Crash()

    with monkeypatch.context() as crashing:
        crashing.setattr(worker.Delivery, "_deliver", dies)
        with pytest.raises(Crash):
            deliver(client, "transactional", [dispatch])
    assert limits.monthly_used(account_id) == 1
    clock.advance(timedelta(seconds=idempotency.LEASE_SECONDS + 1))
    deliver(client, "transactional", [dispatch])  # SQS delivers the same copy again
    assert record(message_id).status == "sent" and len(sent_to(to)) == 1
    hour = UsageWindow.get(f"account#{account_id}", f"h{clock.now():%Y-%m-%dT%H}", consistent_read=True)
    assert limits.monthly_used(account_id) == 1 and hour.used == 1  # counted once


def test_a_local_restart_settles_queued_mail_whose_dispatch_was_lost(api, client, domain):
    from chalicelib.core import redrive

    sent, lost = unique("sent"), unique("lost")
    [sent_id] = send(api, domain, sent)
    pump(client)
    [lost_id] = send(api, domain, lost)
    take("transactional")  # the emulator's queues start empty after a restart
    assert redrive.hooks()["sending"]() >= 1
    assert record(sent_id).status == "sent"
    log = api.get(f"/api/email_logs/{lost_id}").json
    assert log["status"] == "not_delivered" and "restarted" in log["events"][-1]["details"]["reject_reason"]
    assert sent_to(lost) == []


def test_a_batch_across_domains_is_one_dispatch_per_domain(api, account, client, domain):
    other = verified_domain(account[0].account_id)
    a, b, c = unique("a"), unique("b"), unique("c")
    r = api.post("/api/batch", {"base": body(domain, a), "requests": [
        {"to": [{"email": a}]},
        {"to": [{"email": b}], "from": {"email": f"app@{other.domain_name}"}},
        {"to": [{"email": c}]}]}, host=SEND)
    assert r.status == 200 and all(x["success"] for x in r.json["responses"])
    dispatches = take("transactional")
    domains_of = [{record(i).domain_id for i in d["message_ids"]} for d in dispatches]
    assert sorted(map(sorted, domains_of)) == sorted([[domain.domain_id], [other.domain_id]])
    assert sorted(len(d["message_ids"]) for d in dispatches) == [1, 2]  # a and c travel together
    deliver(client, "transactional", dispatches)
    assert [len(sent_to(x)) for x in (a, b, c)] == [1, 1, 1]


# ---------------------------------------------------------------- header injection (issue 13)

INJECTED = "x\r\nReply-To: attacker@evil.test"


def test_template_variables_cannot_inject_a_header_at_send_time(api, client, domain):
    template = create_template(api, subject="Hi {{name}}")
    to = unique()
    for subject_variable in (INJECTED, "nul\0byte", "vertical\x0btab"):
        r = api.post("/api/send", {"from": {"email": f"app@{domain.domain_name}"}, "to": [{"email": to}],
                                   "template_uuid": template["uuid"], "template_variables": {"name": subject_variable}},
                     host=SEND)
        assert r.status == 422 and r.json["success"] is False, r
        assert r.json["errors"][0].startswith("'subject' rendered from the template must not contain control")
    r = api.post("/api/batch", {"base": {"from": {"email": f"app@{domain.domain_name}"},
                                         "template_uuid": template["uuid"]},
                                "requests": [{"to": [{"email": to}], "template_variables": {"name": INJECTED}},
                                             {"to": [{"email": to}], "template_variables": {"name": "Ann"}}]},
                 host=SEND)
    assert r.status == 200 and [item["success"] for item in r.json["responses"]] == [False, True]
    pump(client)
    [msg] = sent_to(to)  # only the clean one
    assert msg["Subject"] == "Hi Ann" and msg["Reply-To"] is None


def test_a_template_that_renders_a_header_break_in_the_worker_ends_rejected_with_the_reason(api, client, domain):
    template = create_template(api, subject="Hello")
    to = unique()
    r = api.post("/api/send", {"from": {"email": f"app@{domain.domain_name}"}, "to": [{"email": to}],
                               "template_uuid": template["uuid"], "template_variables": {"name": INJECTED}},
                 host=SEND)
    assert r.status == 200  # the subject does not use the variable yet
    [message_id] = r.json["message_ids"]
    assert api.patch(f"/api/email_templates/{template['id']}",
                     {"email_template": {"subject": "Hi {{name}}"}}).status == 200
    pump(client)
    rejected = record(message_id)
    assert rejected.status == "rejected" and sent_to(to) == []
    assert "subject must not contain control characters or line breaks (found U+000D CR)" in rejected.status_reason
    detail = api.get(f"/api/email_logs/{message_id}").json
    assert detail["status"] == "not_delivered"  # Mailtrap's email log status for a rejected message
    assert any("U+000D" in (e.get("details") or {}).get("reject_reason", "") for e in detail["events"])


def test_a_template_whose_own_subject_or_category_has_a_line_break_is_refused(api):
    r = api.post("/api/email_templates", {"email_template": {
        "name": "Bad", "subject": "Hi\r\nBcc: v@x.test", "category": "c\0", "body_text": "x"}})
    assert r.status == 422
    assert r.json["errors"]["subject"] == ["must not contain control characters or line breaks (found U+000D CR)"]
    assert r.json["errors"]["category"] == ["must not contain control characters or line breaks (found U+0000 NUL)"]


def test_a_category_line_break_is_422_and_nothing_is_stored(api, account, client, domain):
    to = unique()
    r = api.post("/api/send", body(domain, to, category="welcome\r\nBcc: victim@x.test"), host=SEND)
    assert r.status == 422 and r.json == {"success": False, "errors": [
        "'category' must not contain control characters or line breaks (found U+000D CR)"]}
    r = api.post("/api/send", body(domain, to, subject="nul\0", **{"from": {"email": f"app@{domain.domain_name}",
                                                                             "name": "App\x0c"}}), host=SEND)
    assert r.status == 422 and len(r.json["errors"]) == 2
    assert [b for b in take("transactional") if b["account_id"] == account[0].account_id] == []
    assert list(Message.by_account.query(account[0].account_id)) == []


def test_duplicate_recipients_are_sent_and_listed_once(api, client, domain):
    to, other = unique(), unique()
    sent = body(domain, to, cc=[{"email": to.upper()}] * 999 + [{"email": other}])
    sent["to"] = [{"email": to}] * 1000
    r = api.post("/api/send", sent, host=SEND)
    assert r.status == 200 and len(r.json["message_ids"]) == 2
    pump(client)
    [msg] = sent_to(to)
    assert msg["To"] == to and msg["Cc"] == other
    assert len(sent_to(other)) == 1
