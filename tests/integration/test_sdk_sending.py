"""The official mailtrap SDK sends through Postline on both streams (host changed only by the
SDK's own bulk switch) and reads the email logs; SES (moto) gets the mail."""

from __future__ import annotations

import base64
import re
import uuid

import mailtrap as mt
import pytest
from mailtrap.exceptions import APIError, AuthorizationError
from mailtrap.models.email_logs import filter_ci_equal, filter_sending_stream_equal

from tests.sdk import sdk_session
from tests.sending_support import pump, sent_to, verified_domain

PDF = b"%PDF-1.4 sdk " + bytes(range(256)) * 4
PNG = b"\x89PNG\r\n\x1a\n" + b"\x02" * 200


@pytest.fixture()
def setup(client, account):
    acct, token = account
    domain = verified_domain(acct.account_id)
    with sdk_session(client):
        yield acct, token, domain


def rcpt(prefix: str = "sdk") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}@sdk-rcpt.test"


def sender(domain) -> mt.Address:
    return mt.Address(email=f"hello@{domain.domain_name}", name="SDK App")


@pytest.mark.parametrize("bulk", [False, True])
def test_sdk_send_with_attachments_on_both_streams(setup, client, bulk):
    acct, token, domain = setup
    to, cc = rcpt("to"), rcpt("cc")
    mc = mt.MailtrapClient(token=token, bulk=bulk)
    result = mc.send(mt.Mail(
        sender=sender(domain), to=[mt.Address(email=to, name="Ann")], cc=[mt.Address(email=cc)],
        subject="Invoice", text="See attached", html='<p>See attached <img src="cid:logo"></p>',
        category="invoices", custom_variables={"invoice": "INV-1"}, headers={"X-Source": "sdk"},
        attachments=[
            mt.Attachment(content=base64.b64encode(PDF), filename="invoice.pdf", mimetype="application/pdf"),
            mt.Attachment(content=base64.b64encode(PNG), filename="logo.png", mimetype="image/png",
                          disposition=mt.Disposition.INLINE, content_id="logo")]))
    assert result["success"] is True and len(result["message_ids"]) == 2
    pump(client)
    [msg] = sent_to(to)
    assert msg["Subject"] == "Invoice" and msg["X-Source"] == "sdk" and msg["Cc"] == cc
    assert next(msg.iter_attachments()).get_content() == PDF
    assert (msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click") is bulk
    assert (msg["Precedence"] == "bulk") is bulk
    assert len(sent_to(cc)) == 1


def test_sdk_batch_send(setup, client):
    acct, token, domain = setup
    first, second = rcpt("b1"), rcpt("b2")
    mc = mt.MailtrapClient(token=token)
    response = mc.batch_send(mt.BatchSendEmailParams(
        base=mt.BatchMail(sender=sender(domain), subject="News", text="Hello from the batch", category="news"),
        requests=[mt.BatchEmailRequest(to=[mt.Address(email=first)]),
                  mt.BatchEmailRequest(to=[mt.Address(email=second)], subject="Own subject"),
                  mt.BatchEmailRequest(to=[mt.Address(email="broken")])]))
    assert response["success"] is True
    results = response["responses"]
    assert [r["success"] for r in results] == [True, True, False]
    assert results[2]["errors"] == ["'to' address is invalid"]
    pump(client)
    assert sent_to(first)[0]["Subject"] == "News" and sent_to(second)[0]["Subject"] == "Own subject"


@pytest.mark.parametrize("bulk", [False, True])
def test_sdk_template_send_single_and_batch(setup, client, bulk):
    acct, token, domain = setup
    mc = mt.MailtrapClient(token=token, account_id=str(acct.account_id), bulk=bulk)
    template = mc.email_templates_api.templates.create(mt.CreateEmailTemplateParams(
        name="Order", subject="Order {{number}}", category="orders",
        body_html="<p>Hi {{name}}, order {{number}} is on its way.</p>", body_text="Hi {{name}}"))
    single, one, two = rcpt("t"), rcpt("t1"), rcpt("t2")
    result = mc.send(mt.MailFromTemplate(sender=sender(domain), to=[mt.Address(email=single)],
                                         template_uuid=template.uuid,
                                         template_variables={"name": "Ann", "number": "A-1"}))
    assert result["success"] is True
    batch = mc.batch_send(mt.BatchSendEmailParams(
        base=mt.BatchMailFromTemplate(sender=sender(domain), template_uuid=template.uuid),
        requests=[mt.BatchEmailRequest(to=[mt.Address(email=one)], template_variables={"name": "B", "number": "1"}),
                  mt.BatchEmailRequest(to=[mt.Address(email=two)], template_variables={"name": "C", "number": "2"})]))
    assert [r["success"] for r in batch["responses"]] == [True, True]
    pump(client)
    [msg] = sent_to(single)
    assert msg["Subject"] == "Order A-1"
    assert msg.get_body(("html",)).get_content().strip().startswith("<p>Hi Ann, order A-1 is on its way.</p>")
    assert sent_to(one)[0]["Subject"] == "Order 1" and sent_to(two)[0]["Subject"] == "Order 2"


def test_sdk_errors(setup, client):
    acct, token, domain = setup
    with pytest.raises(AuthorizationError) as denied:
        mt.MailtrapClient(token="wrong").send(mt.Mail(sender=sender(domain), to=[mt.Address(email=rcpt())],
                                                      subject="x", text="y"))
    assert denied.value.errors == ["Unauthorized"]
    with pytest.raises(APIError) as forbidden:
        mt.MailtrapClient(token=token).send(mt.Mail(sender=mt.Address(email="a@not-verified.example"),
                                                    to=[mt.Address(email=rcpt())], subject="x", text="y"))
    assert forbidden.value.status == 403 and forbidden.value.errors == ["Forbidden"]
    with pytest.raises(APIError) as invalid:
        mt.MailtrapClient(token=token).send(mt.Mail(sender=sender(domain), to=[mt.Address(email=rcpt())],
                                                    subject="x"))
    assert invalid.value.status == 400 and invalid.value.errors == ["must specify either text or html body"]


def test_sdk_reads_email_logs(setup, client):
    acct, token, domain = setup
    to = rcpt("log")
    mc = mt.MailtrapClient(token=token, account_id=str(acct.account_id), bulk=True)
    [message_id] = mc.send(mt.Mail(sender=sender(domain), to=[mt.Address(email=to)], subject="Logged",
                                   text="x", custom_variables={"user": "9"}))["message_ids"]
    pump(client)
    logs = mc.email_logs_api.email_logs
    page = logs.get_list(filters=mt.EmailLogsListFilters(to=filter_ci_equal(to.upper()),
                                                         sending_stream=filter_sending_stream_equal("bulk")))
    assert page.total_count == 1 and page.next_page_cursor is None
    [entry] = page.messages
    assert entry.message_id == message_id and entry.status == "enqueued" and entry.sending_stream == "bulk"
    assert entry.sending_domain_id == domain.domain_id and entry.custom_variables == {"user": "9"}
    detail = logs.get_by_id(message_id)
    assert detail.events == []  # handed to SES; nothing has happened to it yet
    assert detail.raw_message_url and re.search(r"/api/raw_messages/[^/]+$", detail.raw_message_url)
    assert detail.rfc_message_id == f"<{message_id}@{domain.domain_name}>"
    with pytest.raises(APIError) as missing:
        logs.get_by_id(str(uuid.uuid4()))
    assert missing.value.status == 404
