"""SMTP ingress with Python's smtplib against in-process listeners on free ports: TLS and
AUTH, the seeds' limits and replies, the hand-off to the sending pipeline (same records,
same logs, Bcc from the envelope), and refusals that leave nothing stored."""

from __future__ import annotations

import base64
import email
import email.policy
import smtplib
import time
import uuid
from datetime import timedelta

import pytest

from chalicelib.limits import service as limits
from chalicelib.sending.models import Message
from tests import smtp_support
from tests.limits_support import advance, delivered_to, start_of_next_hour
from tests.sending_support import pump, sent_to, verified_domain, waiting_records
from tests.smtp_support import connect, mime, session


@pytest.fixture(scope="module")
def smtp(tmp_path_factory):
    handle = smtp_support.start(tmp_path_factory.mktemp("smtp-cert"))
    yield handle
    handle.stop()


@pytest.fixture(autouse=True)
def _leave_the_queues_empty():
    """Dispatches a test queued but did not deliver are removed: other tests count what they queue."""
    yield
    from tests.sending_support import take

    take("transactional")
    take("bulk")


@pytest.fixture()
def domain(account):
    return verified_domain(account[0].account_id)


@pytest.fixture()
def token(account):
    return account[1]


def rcpt(tag: str = "r") -> str:
    return f"{tag}-{uuid.uuid4().hex[:8]}@rcpt.test"


def stored(account) -> list[Message]:
    """What the account has kept: records in the table, and those still riding in queued
    dispatches (the ingress defers writing them to the delivery worker)."""
    account_id = account[0].account_id
    written = {m.message_id: m for m in Message.by_account.query(account_id)}
    for stream in ("transactional", "bulk"):
        for record in waiting_records(stream):
            if record.account_id == account_id:
                written.setdefault(record.message_id, record)
    return sorted(written.values(), key=lambda m: m.sent_key)


def wait_for(predicate, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


# ---------------------------------------------------------------- TLS and AUTH


def test_ehlo_offers_starttls_and_size_and_auth_only_after_tls(smtp, token):
    client = connect(smtp, starttls=False)
    code, caps = client.ehlo()
    assert code == 250 and b"STARTTLS" in caps and b"SIZE 10485760" in caps and b"AUTH" not in caps
    plain = base64.b64encode(f"\0api\0{token}".encode()).decode()
    assert client.docmd("AUTH", f"PLAIN {plain}")[0] == 538  # encryption required
    assert client.docmd("MAIL", "FROM:<a@b.test>") == (530, b"5.7.0 Authentication required")
    client.starttls(context=smtp_support.tls_context(smtp))
    code, caps = client.ehlo()
    assert b"AUTH LOGIN PLAIN" in caps and b"STARTTLS" not in caps
    assert client.login("api", token) == (235, b"2.7.0 Authentication successful")
    client.quit()


def test_plain_and_login_mechanisms_and_implicit_tls(smtp, token, domain):
    for implicit in (False, True):
        client = connect(smtp, implicit=implicit)
        client.ehlo()
        client.user, client.password = "api", token
        assert client.auth("PLAIN", client.auth_plain)[0] == 235
        client.quit()
        client = connect(smtp, implicit=implicit)
        client.ehlo()
        client.user, client.password = "api", token
        assert client.auth("LOGIN", client.auth_login, initial_response_ok=False)[0] == 235
        client.quit()
    with session(smtp, token, "bulk", implicit=True) as client:
        to = rcpt()
        assert client.sendmail(f"app@{domain.domain_name}", [to], mime(f"app@{domain.domain_name}", [to])) == {}


@pytest.mark.parametrize("user,password", [("api", "wrong-token"), ("admin", None), ("api", "")])
def test_wrong_credentials_are_535(smtp, token, user, password):
    client = connect(smtp)
    with pytest.raises(smtplib.SMTPAuthenticationError) as err:
        client.login(user, token if password is None else password)
    assert (err.value.smtp_code, err.value.smtp_error) == (535, b"5.7.8 Authentication credentials invalid")
    client.close()


# ---------------------------------------------------------------- hand-off to sending


def test_message_goes_through_the_same_pipeline_with_bcc_from_the_envelope(smtp, client, account, token, domain):
    sender = f"app@{domain.domain_name}"
    to, cc, hidden, not_sent = rcpt("to"), rcpt("cc"), rcpt("hidden"), rcpt("listed-only")
    raw = mime(sender, [to, not_sent], cc=[cc], subject="Invoice 7", body="Your invoice",
               extra='X-MT-Category: invoices\r\nX-MT-Custom-Variables: {"user_id": "42"}\r\nX-App: billing')
    with session(smtp, token) as smtp_client:
        code, reply = smtp_client.noop()
        result = smtp_client.sendmail(sender, [to, cc, hidden], raw)
    assert result == {}
    messages = {m.recipient: m for m in stored(account)}
    assert {r: m.kind for r, m in messages.items()} == {to: "to", cc: "cc", hidden: "bcc"}
    first = messages[to]
    assert (first.stream, first.subject, first.category, first.custom_variables, first.client_ip) == (
        "transactional", "Invoice 7", "invoices", {"user_id": "42"}, "127.0.0.1")
    assert first.events[0]["event_type"] == "queued"
    pump(client)
    assert delivered_to(hidden) == 1 and delivered_to(not_sent) == 0
    [out] = [m for m in sent_to(hidden) if m["Subject"] == "Invoice 7"]
    assert out["To"] == to and out["Cc"] == cc and out["Bcc"] is None and out["X-App"] == "billing"
    assert out.get_content().strip() == "Your invoice"


def test_a_custom_variables_header_over_1000_bytes_is_ignored_and_arrays_keep_their_first_value(
        smtp, client, account, token, domain):
    sender = f"app@{domain.domain_name}"
    big, listed = rcpt("big"), rcpt("listed")
    folded = ",\r\n ".join(f'"key{i}": "{"v" * 50}"' for i in range(20))  # 1,200 bytes on folded lines
    with session(smtp, token) as smtp_client:
        assert smtp_client.sendmail(sender, [big], mime(sender, [big], extra=(
            f"X-MT-Custom-Variables: {{{folded}}}"))) == {}
        assert smtp_client.sendmail(sender, [listed], mime(sender, [listed], extra=(
            'X-MT-Custom-Variables: {"user_id": "123", "tags": ["index0", "index1", "index2"]}'))) == {}
    messages = {m.recipient: m for m in stored(account)}
    assert messages[big].custom_variables is None  # seed-C 16: ignored completely ...
    assert messages[listed].custom_variables == {"user_id": "123", "tags": "index0"}  # seed-C 17
    pump(client)
    assert delivered_to(big) == 1 and delivered_to(listed) == 1  # ... and the email is still sent


def test_bulk_listener_is_the_bulk_stream_and_mime_parts_survive(smtp, account, token, domain):
    sender = f"news@{domain.domain_name}"
    message = email.message.EmailMessage(policy=email.policy.SMTP)
    message["From"], message["To"], message["Subject"] = sender, "reader@rcpt.test", "Nouvelles été"
    message.set_content("plain text")
    message.add_alternative("<p>html</p>", subtype="html")
    message.add_attachment(b"%PDF-1.4 data", maintype="application", subtype="pdf", filename="report.pdf")
    with session(smtp, token, "bulk") as client:
        client.send_message(message)
    [record] = stored(account)
    assert record.stream == "bulk" and record.subject == "Nouvelles été"
    from chalicelib.sending import content

    pending = [b for b in _queued("bulk") if record.message_id in b["message_ids"]]
    [entry] = content.load(pending[0]["content"]).entries
    assert (entry.text.strip(), entry.html.strip()) == ("plain text", "<p>html</p>")
    assert [(a.filename, a.type, a.size) for a in entry.attachments] == [("report.pdf", "application/pdf", 13)]


def _queued(stream: str) -> list[dict]:
    from tests.sending_support import queued_bodies

    return queued_bodies(stream)


def test_suppressed_recipient_is_rejected_and_logged(smtp, client, api, account, token, domain):
    blocked = rcpt("blocked")
    api.post("/api/suppressions", {"email": blocked, "domain_id": domain.domain_id, "sending_stream": "any",
                                   "type": "spam complaint"})
    with session(smtp, token) as smtp_client:
        smtp_client.sendmail(f"app@{domain.domain_name}", [blocked], mime(f"app@{domain.domain_name}", [blocked]))
    pump(client)
    [record] = stored(account)
    assert delivered_to(blocked) == 0 and record.status == "rejected"
    log = api.get(f"/api/email_logs/{record.message_id}").json
    assert log["status"] == "not_delivered"
    assert log["events"][-1]["details"]["reject_reason"] == "Recipient in suppression list. Reason: spam complaint"


def test_throttled_smtp_mail_is_delivered_later_and_nothing_is_lost(smtp, client, account, token, domain):
    limits.set_limits(account[0].account_id, plan="free", hourly=2, daily=-1)
    start_of_next_hour()
    sender = f"app@{domain.domain_name}"
    to = [rcpt(f"t{i}") for i in range(3)]
    with session(smtp, token) as smtp_client:
        for address in to:  # three messages, three dispatches
            smtp_client.sendmail(sender, [address], mime(sender, [address]))
    pump(client)
    assert sorted(delivered_to(a) for a in to) == [0, 1, 1]
    written = list(Message.by_account.query(account[0].account_id))  # the waiting one is in the logs too
    assert sorted(m.status for m in written) == ["queued", "sent", "sent"]
    advance(timedelta(hours=1))
    pump(client)
    assert [delivered_to(a) for a in to] == [1, 1, 1]
    assert {m.status for m in stored(account)} == {"sent"}


# ---------------------------------------------------------------- refusals


def test_sender_domain_not_allowed_is_550_5_7_1(smtp, account, token, domain):
    with session(smtp, token) as client:
        code, reply = client.docmd("MAIL", "FROM:<app@not-ours.example>")
        assert code == 550 and reply.startswith(b"5.7.1 Sending from domain is not allowed: not-ours.example")
        client.rset()
        # an allowed envelope sender with a From header on a foreign domain: refused at DATA
        with pytest.raises(smtplib.SMTPDataError) as err:
            client.sendmail(f"app@{domain.domain_name}", [rcpt()], mime("boss@not-ours.example", [rcpt()]))
        assert err.value.smtp_code == 550 and err.value.smtp_error.startswith(b"5.7.1 ")
    assert stored(account) == []


def test_a_token_of_another_domain_is_refused(smtp, api, account, domain):
    other = verified_domain(account[0].account_id)
    scoped = api.post("/api/api_tokens", {"name": "other only", "resources": [
        {"resource_type": "domain", "resource_id": other.domain_id, "access_level": 100}]}).json["token"]
    with session(smtp, scoped) as client:
        code, reply = client.docmd("MAIL", f"FROM:<app@{domain.domain_name}>")
        assert code == 550 and b"needs admin access to the sending domain" in reply


@pytest.mark.parametrize("raw,code,start", [
    ("To: x@rcpt.test\r\nSubject: no from\r\n\r\nbody\r\n", 550, b"5.6.0 Message has no From header"),
    ("From: {s}\r\nTo: x@rcpt.test\r\nSubject: s\r\nContent-Type: multipart/mixed\r\n\r\nno boundary\r\n",
     550, b"5.6.0 Malformed MIME (NoBoundaryInMultipart)"),
    ('From: {s}\r\nTo: x@rcpt.test\r\nSubject: s\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
     "Content-Type: text/plain\r\n\r\ntruncated\r\n", 550, b"5.6.0 Malformed MIME (CloseBoundaryNotFound)"),
    ("From: {s}\r\nTo: x@rcpt.test\r\nSubject: s\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64"
     "\r\n\r\nnot base64 at all!!\r\n", 550, b"5.6.0 Malformed MIME (InvalidBase64"),
    ("From: {s}\r\nTo: x@rcpt.test\r\nSubject: caf\u00e9\r\n\r\nbody\r\n", 550, b"5.6.7 Message headers must be ASCII"),
    ("From: {s}\r\nTo: x@rcpt.test\r\n{many}\r\nSubject: s\r\n\r\nb\r\n",
     552, b"5.3.4 Message header section is larger than 65536 bytes"),
    ("From: {s}\r\nTo: x@rcpt.test\r\nX-Long: " + "a" * 1200 + "\r\nSubject: s\r\n\r\nb\r\n",
     500, b"Line too long"),
    ("From: {s}\r\nTo: x@rcpt.test\r\n\r\nno subject\r\n", 550, b"5.6.0 'subject' is required"),
    ("From: a@one.test, b@two.test\r\nTo: x@rcpt.test\r\nSubject: s\r\n\r\nb\r\n", 550,
     b"5.6.0 The From header must hold exactly one address"),
    # control characters that would reach a header, the same rule as the HTTP API (issue 13)
    ("From: {s}\r\nTo: x@rcpt.test\r\nSubject: nul\0byte\r\n\r\nb\r\n", 550,
     b"5.6.0 'subject' must not contain control characters or line breaks (found U+0000 NUL)"),
    ("From: {s}\r\nTo: x@rcpt.test\r\nSubject: =?utf-8?q?hi=0D=0ABcc:_v@x.test?=\r\n\r\nb\r\n", 550,
     b"5.6.0 'subject' must not contain control characters or line breaks (found U+000D CR)"),
    ("From: {s}\r\nTo: x@rcpt.test\r\nSubject: s\r\nX-MT-Category: =?utf-8?q?c=0D=0ABcc:_v@x.test?=\r\n\r\nb\r\n",
     550, b"5.6.0 'category' must not contain control characters or line breaks (found U+000D CR)"),
    ("From: =?utf-8?q?App=0D=0A250_2.0.0_Ok?= <{s}>\r\nTo: x@rcpt.test\r\nSubject: s\r\n\r\nb\r\n", 550,
     b"5.6.0 An address header's display name must not contain control characters or line breaks"),
    ("From: =?utf-8?q?App=0C?= <{s}>\r\nTo: x@rcpt.test\r\nSubject: s\r\n\r\nb\r\n", 550,
     b"5.6.0 'from' name must not contain control characters or line breaks (found U+000C FF)"),
])
def test_bad_messages_get_5xx_and_nothing_is_stored(smtp, account, token, domain, raw, code, start):
    sender = f"app@{domain.domain_name}"
    many = "\r\n".join(f"X-Filler-{i}: " + "a" * 900 for i in range(80))
    data = raw.replace("{s}", sender).replace("{many}", many).encode("utf-8")
    with session(smtp, token) as client:
        with pytest.raises(smtplib.SMTPDataError) as err:
            client.sendmail(sender, ["x@rcpt.test"], data)
        assert err.value.smtp_code == code and err.value.smtp_error.startswith(start), err.value.smtp_error
        # the connection is still usable
        assert client.sendmail(sender, ["ok@rcpt.test"], mime(sender, ["ok@rcpt.test"])) == {}
    assert [m.recipient for m in stored(account)] == ["ok@rcpt.test"]


def test_data_is_read_whole_with_dots_unstuffed_however_it_arrives(smtp, account, token, domain, monkeypatch):
    from chalicelib.smtp import parse

    seen: list[bytes] = []
    to_request = parse.to_request
    monkeypatch.setattr(parse, "to_request", lambda raw, *args: (seen.append(raw), to_request(raw, *args))[1])
    sender = f"app@{domain.domain_name}"
    head = f"From: {sender}\r\nTo: d@rcpt.test\r\nSubject: dots\r\n\r\n".encode()
    body = b".hidden\r\n..two\r\nend of sentence.\r\n.\r\nx.\r\n"  # as written by the sender
    stuffed = b"..hidden\r\n...two\r\nend of sentence.\r\n..\r\nx.\r\n"  # as a client sends it
    line_999, line_1000 = b"y" * 999 + b"\r\n", b"y" * 1000 + b"\r\n"  # 1001 bytes with CRLF is the most
    with session(smtp, token) as client:
        for pieces in ([head + stuffed + b".\r\n"],  # all at once
                       [head + stuffed[:5], stuffed[5:-1], b"\n.", b"\r\n"],  # the end split across writes
                       [head, stuffed, b".", b"\r\n"]):
            assert client.mail(sender)[0] == 250 and client.rcpt("d@rcpt.test")[0] == 250
            assert client.docmd("DATA")[0] == 354
            for piece in pieces:
                client.send(piece)
                time.sleep(0.02)
            assert client.getreply()[0] == 250
        assert client.sendmail(sender, ["d@rcpt.test"], head + line_999) == {}
        with pytest.raises(smtplib.SMTPDataError) as err:
            client.sendmail(sender, ["d@rcpt.test"], head + line_1000)
        assert (err.value.smtp_code, err.value.smtp_error[:13]) == (500, b"Line too long")
    assert seen == [head + body] * 3 + [head + line_999]
    assert len(stored(account)) == 4


def test_size_limit_advertised_and_enforced(smtp, account, token, domain):
    sender = f"app@{domain.domain_name}"
    with session(smtp, token) as client:
        assert client.has_extn("size") and int(client.esmtp_features["size"]) == 10 * 1024 * 1024
        big = mime(sender, ["big@rcpt.test"], body=("x" * 998 + "\r\n") * 10500)  # just over 10 MB
        with pytest.raises(smtplib.SMTPSenderRefused) as err:  # smtplib declares SIZE: refused at MAIL
            client.sendmail(sender, ["big@rcpt.test"], big)
        assert err.value.smtp_code == 552
        # a client that does not declare the size is refused once the data passes the limit
        assert client.mail(sender)[0] == 250 and client.rcpt("big@rcpt.test")[0] == 250
        assert client.data(big.encode())[0] == 552
        ok = mime(sender, ["ok@rcpt.test"], body=("x" * 998 + "\r\n") * 10400)  # just under
        assert len(ok) < 10 * 1024 * 1024 and client.sendmail(sender, ["ok@rcpt.test"], ok) == {}
    assert [m.recipient for m in stored(account)] == ["ok@rcpt.test"]


def test_a_failed_commit_is_451_and_leaves_nothing(smtp, account, token, domain, monkeypatch):
    from chalicelib.core import queues

    def refuse(*args, **kwargs):
        raise RuntimeError("SQS is down")

    monkeypatch.setattr(queues, "send_many", refuse)
    sender = f"app@{domain.domain_name}"
    with session(smtp, token) as client:
        with pytest.raises(smtplib.SMTPDataError) as err:
            client.sendmail(sender, ["x@rcpt.test"], mime(sender, ["x@rcpt.test"]))
    assert (err.value.smtp_code, err.value.smtp_error) == (451, b"4.3.0 Temporary server error, try again later")
    assert stored(account) == []


def test_a_failed_commit_removes_the_records_it_wrote_before_queueing(smtp, account, token, domain, monkeypatch):
    from chalicelib.core import queues
    from chalicelib.sending import worker

    monkeypatch.setattr(worker, "SNAPSHOT_BYTES", 0)  # the records don't ride along: written first
    monkeypatch.setattr(queues, "send_many", lambda *a, **kw: (_ for _ in ()).throw(RuntimeError("SQS is down")))
    sender = f"app@{domain.domain_name}"
    with session(smtp, token) as client:
        with pytest.raises(smtplib.SMTPDataError) as err:
            client.sendmail(sender, ["y@rcpt.test"], mime(sender, ["y@rcpt.test"]))
    assert err.value.smtp_code == 451
    assert stored(account) == []  # the retry the client makes is the only copy


def test_concurrent_sessions_share_commits_and_each_message_is_stored_once(smtp, account, token, domain,
                                                                            monkeypatch):
    import threading

    from chalicelib.core import queues

    calls = []
    send_many = queues.send_many
    monkeypatch.setattr(queues, "send_many", lambda queue, bodies: (calls.append(queue), send_many(queue, bodies)))
    sender = f"app@{domain.domain_name}"
    sessions, rounds = 4, 5
    together = threading.Barrier(sessions)
    replies: list[tuple[int, bytes]] = []

    def send(n: int) -> None:
        with session(smtp, token) as client:
            for r in range(rounds):
                to = f"s{n}-{r}@rcpt.test"
                client.mail(sender)
                client.rcpt(to)
                together.wait(timeout=30)  # every session's next message arrives at once
                replies.append(client.data(mime(sender, [to]).encode()))

    threads = [threading.Thread(target=send, args=(n,)) for n in range(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert [code for code, _ in replies] == [250] * sessions * rounds
    assert sorted(m.recipient for m in stored(account)) == sorted(
        f"s{n}-{r}@rcpt.test" for n in range(sessions) for r in range(rounds))
    assert len(calls) < sessions * rounds  # messages of different sessions went in one dispatch


# ---------------------------------------------------------------- limits


def test_monthly_limit_reached_is_535_5_7_0(smtp, account, token, domain):
    limits.set_limits(account[0].account_id, plan="free", monthly=0)
    client = connect(smtp)
    with pytest.raises(smtplib.SMTPAuthenticationError) as err:
        client.login("api", token)
    assert (err.value.smtp_code, err.value.smtp_error) == (535, b"5.7.0 Monthly messages limit reached")
    client.close()
    limits.set_limits(account[0].account_id, monthly=-1)
    with session(smtp, token) as client:
        limits.set_limits(account[0].account_id, monthly=0)  # reached while connected
        limits.forget_cached(account[0].account_id)
        code, reply = client.docmd("MAIL", f"FROM:<app@{domain.domain_name}>")
        assert (code, reply) == (535, b"5.7.0 Monthly messages limit reached")


def test_eleventh_connection_of_an_account_is_refused(smtp, token):
    clients = []
    try:
        for i in range(10):
            client = connect(smtp, source=f"127.0.0.{2 + i % 3}")
            assert client.login("api", token)[0] == 235
            clients.append(client)
        extra = connect(smtp, source="127.0.1.1")
        with pytest.raises(smtplib.SMTPAuthenticationError) as err:
            extra.login("api", token)
        assert (err.value.smtp_code, err.value.smtp_error) == (535, b"5.7.8 Too many connections per account")
        extra.close()
        clients.pop().quit()  # one leaves (its slot is released in the background): a new one gets in
        again = connect(smtp, source="127.0.1.1")
        clients.append(again)
        wait_for(lambda: _login_ok(again, token))
    finally:
        for client in clients:
            client.close()


def _login_ok(client, token) -> bool:
    try:
        return client.login("api", token)[0] == 235
    except smtplib.SMTPAuthenticationError:
        return False


def test_eleventh_connection_from_one_ip_is_refused(smtp):
    clients = [connect(smtp, starttls=False, source="127.0.2.1") for _ in range(10)]
    try:
        with pytest.raises(smtplib.SMTPConnectError) as err:
            connect(smtp, starttls=False, source="127.0.2.1")
        assert err.value.smtp_code == 421 and b"Too many connections from your IP" in err.value.smtp_error
        connect(smtp, starttls=False, source="127.0.2.2").quit()  # another address is not affected
    finally:
        for client in clients:
            client.close()


def test_hundred_messages_per_connection(smtp, account, token, domain):
    sender = f"app@{domain.domain_name}"
    with session(smtp, token) as client:
        for i in range(100):
            client.sendmail(sender, [f"n{i}@rcpt.test"], mime(sender, [f"n{i}@rcpt.test"]))
        with pytest.raises(smtplib.SMTPSenderRefused) as err:
            client.sendmail(sender, ["n100@rcpt.test"], mime(sender, ["n100@rcpt.test"]))
        assert err.value.smtp_code == 421 and b"Too many messages on this connection" in err.value.smtp_error
    assert len(stored(account)) == 100
    with session(smtp, token) as client:  # a new connection carries on
        assert client.sendmail(sender, ["n100@rcpt.test"], mime(sender, ["n100@rcpt.test"])) == {}
    with Message.batch_write() as batch:  # moto reads every item per index query: keep the table small
        for message in stored(account):
            batch.delete(message)


# ---------------------------------------------------------------- account slots (no listeners)


def test_a_slow_account_does_not_hold_up_another_accounts_connections(monkeypatch):
    import threading

    from chalicelib.smtp import connections

    slots = connections.AccountSlots(limit=2)
    slow, other = (uuid.uuid4().int % 10**12 for _ in range(2))
    entered, go_on = threading.Event(), threading.Event()
    query = connections.SmtpSessions.query

    def slow_query(account_id, **kw):
        if account_id == slow:
            entered.set()
            assert go_on.wait(10)
        return query(account_id, **kw)

    monkeypatch.setattr(connections.SmtpSessions, "query", slow_query)
    results = []
    waiting = threading.Thread(target=lambda: results.append(slots.acquire(slow)))
    waiting.start()
    try:
        assert entered.wait(10)
        assert slots.acquire(other) is True  # while the slow account's DynamoDB call is in flight
        assert connections.SmtpSessions.get(other, slots.instance).connections == 1
        slots.release(other)
        assert connections.SmtpSessions.get(other, slots.instance).connections == 0
    finally:
        go_on.set()
        waiting.join(10)
    assert results == [True]
    connections.SmtpSessions.get(slow, slots.instance).delete()
    slots.heartbeat()  # writes the count of every account with connections here
    assert connections.SmtpSessions.get(slow, slots.instance).connections == 1
    slots.release(slow)


def test_account_slots_count_concurrent_connections_of_one_account():
    from concurrent.futures import ThreadPoolExecutor

    from chalicelib.smtp import connections

    slots = connections.AccountSlots(limit=5)
    account_id = uuid.uuid4().int % 10**12
    with ThreadPoolExecutor(8) as pool:
        taken = list(pool.map(lambda _: slots.acquire(account_id), range(12)))
    assert taken.count(True) == 5
    assert connections.SmtpSessions.get(account_id, slots.instance).connections == 5
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: slots.release(account_id), range(5)))
    assert connections.SmtpSessions.get(account_id, slots.instance).connections == 0
    assert slots._locks == {} and slots._held == {}  # nothing kept for an account with no connections
