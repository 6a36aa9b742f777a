"""The send body's rules (seed-B §2, Appendix A and its acceptance list), checked on the
parser directly; test_sending_api.py checks the same answers arrive over HTTP."""

from __future__ import annotations

import base64
import gc
import json

import pytest

from chalicelib.sending.validation import (
    FROM_MISMATCH,
    SendError,
    merge_batch_item,
    parse_batch,
    parse_send,
)

FROM = {"email": "app@example.com", "name": "App"}
OK = {"from": FROM, "to": [{"email": "a@x.test"}], "subject": "Hi", "text": "Hello"}


def errors_of(body, status: int = 400) -> list[str]:
    with pytest.raises(SendError) as caught:
        parse_send(body)
    assert caught.value.status == status
    return caught.value.errors


def with_(**changes):
    body = dict(OK)
    for key, value in changes.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    return body


def test_a_valid_body_is_normalised():
    request = parse_send(with_(cc=[{"email": "B@X.test", "name": " Bee "}], bcc=["c@x.test"]))
    assert request.sender.email == "app@example.com" and request.sender.name == "App"
    assert [(k, a.email, a.name) for k, a in request.recipients()] == [
        ("to", "a@x.test", None), ("cc", "B@X.test", "Bee"), ("bcc", "c@x.test", None)]


def test_every_missing_required_field_is_reported_at_once():
    assert errors_of({}) == ["'from' is required", "'to', 'cc' or 'bcc' address is required",
                             "'subject' is required", "must specify either text or html body"]


@pytest.mark.parametrize("field,message", [
    ("from", "'from' is required"),
    ("to", "'to', 'cc' or 'bcc' address is required"),
    ("subject", "'subject' is required"),
])
def test_each_required_field(field, message):
    assert errors_of(with_(**{field: None})) == [message]


def test_text_or_html_is_required_and_empty_strings_count_as_missing():
    assert errors_of(with_(text=None)) == ["must specify either text or html body"]
    assert errors_of(with_(text="", html="")) == ["must specify either text or html body"]
    assert errors_of(with_(subject="")) == ["'subject' is required"]
    assert parse_send(with_(text=None, html="<p>x</p>")).html == "<p>x</p>"


def test_cc_or_bcc_alone_is_enough():
    assert parse_send(with_(to=None, cc=[{"email": "c@x.test"}])).cc[0].email == "c@x.test"
    assert parse_send(with_(to=None, bcc=[{"email": "b@x.test"}])).bcc[0].email == "b@x.test"


@pytest.mark.parametrize("sender", ["not-an-address", {"email": "a@b"}, {"email": "a b@x.com"}, {"name": "x"}, 42])
def test_invalid_from(sender):
    assert errors_of(with_(**{"from": sender})) == ["'from' address is invalid"]


def test_invalid_recipients_name_their_field():
    assert errors_of(with_(to=[{"email": "nope"}])) == ["'to' address is invalid"]
    assert errors_of(with_(cc=[{"email": "x@y..z"}])) == ["'cc' address is invalid"]
    assert errors_of(with_(bcc="a@x.test")) == ["'bcc' must be an array of addresses"]
    assert errors_of(with_(reply_to={"email": "bad"})) == ["'reply_to' address is invalid"]


def test_at_most_1000_addresses_per_field():
    many = [{"email": f"r{i}@x.test"} for i in range(1000)]
    assert len(parse_send(with_(to=many, cc=many[:3])).recipients()) == 1000  # cc repeats are the same people
    assert errors_of(with_(bcc=many + [{"email": "one-more@x.test"}])) == [
        "'bcc' must not contain more than 1000 addresses"]


def test_a_recipient_named_twice_gets_one_message():
    request = parse_send(with_(to=[{"email": "a@x.test"}, {"email": "A@x.test"}], cc=[{"email": "a@X.test"}]))
    assert [a.email for _, a in request.recipients()] == ["a@x.test"]


def test_idn_domains_become_punycode():
    assert parse_send(with_(to=["user@bücher.example"])).to[0].email == "user@xn--bcher-kva.example"


def test_category_limits():
    assert parse_send(with_(category="c" * 255)).category == "c" * 255
    assert errors_of(with_(category="c" * 256)) == ["'category' must be at most 255 characters"]
    assert errors_of(with_(category=7)) == ["'category' must be a string"]


def test_custom_variables_rules():
    request = parse_send(with_(custom_variables={"user_id": "1", "n": 5, "vip": True, "list": ["index0", "i1"]}))
    assert request.custom_variables == {"user_id": "1", "n": 5, "vip": True, "list": "index0"}
    assert errors_of(with_(custom_variables={"a": {"nested": 1}})) == [
        "'custom_variables' values must be strings, numbers or booleans"]
    big = {"k": "v" * 1000}
    assert errors_of(with_(custom_variables=big)) == ["'custom_variables' must not exceed 1000 bytes"]
    exactly = {"k": "v" * (1000 - len(json.dumps({"k": ""}, separators=(",", ":"))))}
    assert parse_send(with_(custom_variables=exactly)).custom_variables == exactly


def test_headers_are_kept_but_cannot_inject_or_override():
    request = parse_send(with_(headers={"X-Message-Source": "api.example.com"}))
    assert request.headers == {"X-Message-Source": "api.example.com"}
    assert errors_of(with_(headers={"X-A": "v\r\nBcc: evil@x.test"}), 422) == [
        "'headers' value of X-A must not contain control characters or line breaks (found U+000D CR)"]
    assert errors_of(with_(headers={"Bad Name": "v"})) == ["'headers' has an invalid header name: 'Bad Name'"]
    assert errors_of(with_(headers={"Subject": "other"})) == ["'headers' must not set Subject; use the 'subject' field"]
    assert errors_of(with_(headers={"X-A": 1})) == ["'headers' must be an object of string values"]


def test_from_header_must_match_the_sender_domain():
    # seed 001 "From Header Mismatch": header From and envelope sender share the verified domain
    assert parse_send(with_(headers={"From": "Other <other@example.com>"})).headers == {}
    assert errors_of(with_(headers={"From": "someone@elsewhere.com"})) == [FROM_MISMATCH]
    assert errors_of(with_(headers={"Sender": "bounce@mail.example.com"})) == [FROM_MISMATCH]  # subdomain differs


def test_attachment_rules():
    content = base64.b64encode(b"%PDF-1.4 data").decode()
    request = parse_send(with_(attachments=[
        {"content": content, "filename": "a.pdf"},
        {"content": content, "filename": "logo.png", "disposition": "inline", "content_id": "logo"}]))
    first, second = request.attachments
    assert (first.type, first.disposition, first.size) == ("application/pdf", "attachment", 13)
    assert (second.type, second.disposition, second.content_id) == ("image/png", "inline", "logo")
    assert errors_of(with_(attachments=[{"content": content}])) == ["'attachments' filename is required"]
    assert errors_of(with_(attachments=[{"filename": "a.txt"}])) == ["'attachments' content is required (a.txt)"]
    assert errors_of(with_(attachments=[{"content": "@@not base64@@", "filename": "a.txt"}])) == [
        "'attachments' content must be base64-encoded (a.txt)"]
    assert errors_of(with_(attachments=[{"content": content, "filename": "a.txt", "disposition": "inside"}])) == [
        "'attachments' disposition must be 'attachment' or 'inline' (a.txt)"]
    assert errors_of(with_(attachments=[{"content": content, "filename": "a.txt", "type": "nonsense"}])) == [
        "'attachments' type is invalid (a.txt)"]


def test_template_bodies_bring_their_own_content():
    uuid = "b81aabcd-1a1e-41cf-91b6-eca0254b3d96"
    request = parse_send({"from": FROM, "to": [{"email": "a@x.test"}], "template_uuid": uuid.upper(),
                          "template_variables": {"user_name": "Jane", "items": [1, 2]}})
    assert request.template_uuid == uuid and request.template_variables["user_name"] == "Jane"
    assert request.subject is None
    assert errors_of({"from": FROM, "to": [{"email": "a@x.test"}], "template_uuid": "nope"}) == [
        "'template_uuid' must be a valid UUID"]
    assert errors_of({"from": FROM, "to": [{"email": "a@x.test"}], "template_uuid": uuid, "subject": "s",
                      "category": "c"}) == [
        "'subject' is not allowed with 'template_uuid'", "'category' is not allowed with 'template_uuid'"]
    assert errors_of({"from": FROM, "to": [{"email": "a@x.test"}], "template_uuid": uuid,
                      "template_variables": "{}"}) == ["'template_variables' must be an object"]


def test_message_size_limit_counts_decoded_attachments(monkeypatch):
    from chalicelib.core import config

    limit = 10 * 1024 * 1024
    assert config.settings().max_message_bytes == limit  # the seed's 10 MB
    overhead = len(b"Hi") + len(b"Hello")
    exactly = base64.b64encode(b"\0" * (limit - overhead)).decode()
    assert parse_send(with_(attachments=[{"content": exactly, "filename": "big.bin"}])).size() == limit
    over = base64.b64encode(b"\0" * (limit - overhead + 1)).decode()
    assert errors_of(with_(attachments=[{"content": over, "filename": "big.bin"}])) == [
        "message size exceeds the limit of 10 MB (including attachments)"]
    del over, exactly
    gc.collect()  # tracebacks hold the 10 MB strings in cycles; later tests in this process crawl otherwise


def test_batch_shape():
    assert parse_batch({"base": {"subject": "s"}, "requests": [{"to": ["a@x.test"]}]})[1] == [{"to": ["a@x.test"]}]
    for body, message in [({"requests": []}, "'requests' is required"), ({}, "'requests' is required"),
                          ({"base": [], "requests": [{}]}, "'base' must be an object"),
                          ({"requests": [{}] * 501}, "'requests' must not contain more than 500 items")]:
        with pytest.raises(SendError) as caught:
            parse_batch(body)
        assert message in caught.value.errors


def test_batch_requests_inherit_and_override_the_base():
    base = {"from": FROM, "subject": "Base subject", "text": "Base text", "category": "news"}
    merged = parse_send(merge_batch_item(base, {"to": [{"email": "a@x.test"}], "subject": "Own"}))
    assert (merged.subject, merged.text, merged.category) == ("Own", "Base text", "news")
    # a request with a template drops the base's content instead of clashing with it
    templated = parse_send(merge_batch_item(base, {"to": ["a@x.test"],
                                                   "template_uuid": "b81aabcd-1a1e-41cf-91b6-eca0254b3d96"}))
    assert templated.subject is None and templated.template_uuid


# ---------------------------------------------------------------- header safety and duplicates (issue 13)

CONTROL = "must not contain control characters or line breaks"


@pytest.mark.parametrize("changes,error", [
    ({"subject": "Hi\0there"}, f"'subject' {CONTROL} (found U+0000 NUL)"),
    ({"subject": "Hi\x0bthere"}, f"'subject' {CONTROL} (found U+000B VT)"),
    ({"subject": "Hi\x0cthere"}, f"'subject' {CONTROL} (found U+000C FF)"),
    ({"subject": "Hi\r\nBcc: victim@x.test"}, f"'subject' {CONTROL} (found U+000D CR)"),
    ({"from": {"email": "app@example.com", "name": "App\0"}}, f"'from' name {CONTROL} (found U+0000 NUL)"),
    ({"from": {"email": "app@example.com", "name": "Evil\r\nBcc: y@z.test"}},
     f"'from' name {CONTROL} (found U+000D CR)"),
    ({"from": {"email": "app@example.com", "name": "App\x0c"}}, f"'from' name {CONTROL} (found U+000C FF)"),
    ({"to": [{"email": "a@x.test", "name": "Ann\nBcc: b@evil.test"}]}, f"'to' name {CONTROL} (found U+000A LF)"),
    ({"reply_to": {"email": "r@x.test", "name": "R\x1b"}}, f"'reply_to' name {CONTROL} (found U+001B ESC)"),
    ({"category": "welcome\r\nBcc: victim@x.test"}, f"'category' {CONTROL} (found U+000D CR)"),
    ({"attachments": [{"filename": "a\0.txt", "content": "eA=="}]},
     f"'attachments' filename {CONTROL} (found U+0000 NUL)"),
])
def test_text_that_would_break_a_header_is_422(changes, error):
    assert errors_of(with_(**changes), 422) == [error]


def test_a_tab_in_a_header_text_is_allowed():
    assert parse_send(with_(subject="Order\t42", category="a\tb")).subject == "Order\t42"


def test_duplicate_recipients_are_kept_once_per_message_case_insensitively():
    same = [{"email": "dup@x.test"}] * 1000
    request = parse_send(with_(to=same, cc=same[:998] + [{"email": "DUP@X.TEST"}, {"email": "c@x.test"}],
                               bcc=[{"email": "Dup@x.test"}, {"email": "c@x.test"}]))
    assert [a.email for a in request.to] == ["dup@x.test"]
    assert [a.email for a in request.cc] == ["c@x.test"] and request.bcc == []
    assert [(k, a.email) for k, a in request.recipients()] == [("to", "dup@x.test"), ("cc", "c@x.test")]
