"""MIME building: every message parses back with the standard library into what was sent."""

from __future__ import annotations

import base64
import email
import email.policy
from datetime import UTC, datetime

import pytest

from chalicelib.sending import mime
from chalicelib.sending.validation import Address, Attachment

DATE = datetime(2025, 1, 15, 10, 30, tzinfo=UTC)
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 40
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 500


def attachment(data: bytes, filename: str, type_: str, disposition: str = "attachment", cid: str | None = None):
    return Attachment(base64.b64encode(data).decode(), filename, type_, disposition, cid, len(data))


def content(**changes) -> mime.Content:
    base = dict(sender=Address("app@example.com", "Äpp Team"), to=[Address("a@x.test", "Ann")],
                cc=[Address("c@x.test")], reply_to=Address("help@example.com"), subject="Hello",
                text="Hi Ann", html="<p>Hi Ann</p>")
    base.update(changes)
    return mime.Content(**base)


def parse(built: mime.Built, stored: bool = False) -> email.message.EmailMessage:
    return email.message_from_bytes(built.stored if stored else built.raw, policy=email.policy.default)


def build(c: mime.Content, **kw) -> mime.Built:
    return mime.build(c, message_id="0c7fd939-02cf-11ed-88c2-0a58a9feac02", domain="example.com", date=DATE,
                      cache=kw.pop("cache", mime.PartCache()), **kw)


def test_headers_of_a_simple_message():
    msg = parse(build(content()))
    assert msg["From"] == "Äpp Team <app@example.com>"
    assert msg["To"] == "Ann <a@x.test>" and msg["Cc"] == "c@x.test"
    assert msg["Reply-To"] == "help@example.com" and msg["Subject"] == "Hello"
    assert msg["Message-ID"] == "<0c7fd939-02cf-11ed-88c2-0a58a9feac02@example.com>"
    assert email.utils.parsedate_to_datetime(msg["Date"]) == DATE
    assert msg["MIME-Version"] == "1.0" and msg["Bcc"] is None
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert msg.get_body(("plain",)).get_content().strip() == "Hi Ann"
    assert msg.get_body(("html",)).get_content().strip() == "<p>Hi Ann</p>"


def test_unicode_subject_and_bodies_round_trip():
    subject = "Grüße – Ihre Bestellung №42 ✓"
    text = "Zeile eins\nZeile zwei: ünïcödé and a long line " + "x" * 200
    msg = parse(build(content(subject=subject, text=text, html=None)))
    assert msg["Subject"] == subject
    assert msg.get_content_type() == "text/plain"
    assert msg.get_content().replace("\r\n", "\n").rstrip("\n") == text


def test_every_line_is_crlf_and_short():
    many = [Address(f"recipient{i}@example.org", f"Recipient Number {i}") for i in range(300)]
    raw = build(content(to=many, subject="S" * 990, text="y" * 5000)).raw
    lines = raw.split(b"\r\n")
    assert b"\n" not in b"".join(lines) and max(len(line) for line in lines) <= 998
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert len(msg["To"].addresses) == 300 and msg["Subject"] == "S" * 990


def test_attachments_and_inline_images():
    c = content(html='<p><img src="cid:logo"></p>', attachments=[
        attachment(PDF, "Rechnung März.pdf", "application/pdf"),
        attachment(PNG, "logo.png", "image/png", "inline", "logo")])
    msg = parse(build(c))
    assert msg.get_content_type() == "multipart/mixed"
    body, pdf = list(msg.iter_parts())
    assert body.get_content_type() == "multipart/alternative"
    plain, related = list(body.iter_parts())
    assert related.get_content_type() == "multipart/related"
    html, logo = list(related.iter_parts())
    assert html.get_content_type() == "text/html"
    assert logo["Content-ID"] == "<logo>" and logo.get_content_disposition() == "inline"
    assert logo.get_content() == PNG
    assert pdf.get_filename() == "Rechnung März.pdf" and pdf.get_content_disposition() == "attachment"
    assert pdf.get_content() == PDF


def test_inline_parts_without_html_travel_as_attachments():
    msg = parse(build(content(html=None, attachments=[attachment(PNG, "logo.png", "image/png", "inline", "l")])))
    assert msg.get_content_type() == "multipart/mixed"
    assert [p.get_filename() for p in msg.iter_attachments()] == ["logo.png"]


def test_metadata_headers_only_in_the_stored_copy():
    built = build(content(category="Password reset", custom_variables={"user_id": "123", "vip": True}))
    delivered, stored = parse(built), parse(built, stored=True)
    assert delivered["X-MT-Category"] is None and delivered["X-MT-Custom-Variables"] is None
    assert stored["X-MT-Category"] == "Password reset"
    assert stored["X-MT-Custom-Variables"] == '{"user_id": "123", "vip": true}'
    assert stored.get_body(("plain",)).get_content() == delivered.get_body(("plain",)).get_content()


def test_custom_and_extra_headers():
    msg = parse(build(content(headers={"X-Message-Source": "api.example.com"}),
                      extra_headers=[("Precedence", "bulk")]))
    assert msg["X-Message-Source"] == "api.example.com" and msg["Precedence"] == "bulk"


def test_parts_are_encoded_once_per_dispatch():
    cache = mime.PartCache()
    c = content(attachments=[attachment(PDF, "a.pdf", "application/pdf")])
    first = build(c, cache=cache)
    second = mime.build(c, message_id="other", domain="example.com", date=DATE, cache=cache)
    assert len(cache.attachments) == 1 and len(cache.texts) == 2
    assert parse(first).get_body(("plain",)).get_content() == parse(second).get_body(("plain",)).get_content()
    assert parse(second)["Message-ID"] == "<other@example.com>"


# ---------------------------------------------------------------- header safety (issue 13)

INJECTION = "x\r\nReply-To: attacker@evil.test"


@pytest.mark.parametrize("changes,field", [
    ({"subject": INJECTION}, "the subject"),
    ({"subject": "tab\tis fine but NUL\0is not"}, "the subject"),
    ({"subject": "vertical\x0btab"}, "the subject"),
    ({"subject": "form\x0cfeed"}, "the subject"),
    ({"sender": Address("app@example.com", INJECTION)}, "the From display name"),
    ({"to": [Address("a@x.test", "Ann\nBcc: b@evil.test")]}, "a To display name"),
    ({"reply_to": Address("help@example.com", "Help\r")}, "the Reply-To display name"),
    ({"headers": {"X-App": INJECTION}}, "the X-App header"),
    ({"category": "welcome\r\nBcc: victim@x.test"}, "the category"),
    ({"attachments": [attachment(b"x", "a.txt\r\nBcc: v@x.test", "text/plain")]}, "the attachment file name"),
    ({"subject": "lone \ud800 surrogate"}, "the subject"),
])
def test_no_header_value_can_make_a_header_of_its_own(changes, field):
    with pytest.raises(mime.UnsafeHeader) as refused:
        build(content(**changes))
    assert str(refused.value).startswith(field + " must not contain")


def test_extra_headers_are_checked_by_name_and_value():
    with pytest.raises(mime.UnsafeHeader, match="List-Unsubscribe header"):
        build(content(), extra_headers=[("List-Unsubscribe", "<https://x.test/u>\r\nBcc: v@x.test")])
    with pytest.raises(mime.UnsafeHeader, match="not a valid header name"):
        build(content(), extra_headers=[("X-Bad\r\nBcc", "v@x.test")])


def test_a_tab_is_allowed_and_the_subject_stays_one_header():
    msg = parse(build(content(subject="Order\t42")))
    assert msg["Subject"] == "Order\t42" and msg["Reply-To"] == "help@example.com"
