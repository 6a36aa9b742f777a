"""The SMTP ingress's fast paths (header values in parse.py, MAIL/RCPT paths in protocol.py)
give exactly what the full parsers give, and are the ones taken for plain input (most mail)."""

from __future__ import annotations

import email.policy

import pytest

from chalicelib.smtp import parse

ADDRESS_VALUES = [
    "a@b.example",
    "Shop <orders@shop.example>",
    "  Shop   Team  <orders@shop.example>  ",
    "a@b.example, Bob <bob@c.example>,carol@d.example",
    "<bare@angle.example>",
    "Bob\t<bob@c.example>",
    "first.last+tag@sub.b.example",
    "o'neil@b.example",
    "weird!#$%&*/=^_`{|}~-@b.example",
    "x=y@b.example",
    '"Smith, John" <john@b.example>',
    '"quoted local"@b.example',
    "John (the boss) <john@b.example>",
    "=?utf-8?q?J=C3=BCrgen?= <j@b.example>",
    "=?utf-8?b?w5xiZXI=?= <u@b.example>",
    "Team: a@b.example, c@d.example;",
    "undisclosed-recipients:;",
    "J. Smith <j@b.example>",
    "a@b.example,",
    ", a@b.example",
    "a@b.example,,c@d.example",
    "not an address",
    "two@at@b.example",
    "a@[127.0.0.1]",
    "Bob <bob@c.example",
    "Bob bob@c.example>",
    "<a@b.example> trailing",
    "a @b.example",
    "Ünïcode <u@b.example>",
    "a@bücher.example",
    "",
    "   ",
    "Shop <orders@shop.example>\r\n Team <team@shop.example>",
]

TEXT_VALUES = [
    ("Subject", "Order 42 is on its way"),
    ("Subject", "Hello  two  spaces"),
    ("Subject", " leading space"),
    ("Subject", "trailing space "),
    ("Subject", "tab\there"),
    ("Subject", "=?utf-8?q?Gr=C3=BC=C3=9Fe?= aus Berlin"),
    ("Subject", "a =? b"),
    ("Subject", "folded\r\n line"),
    ("Subject", ""),
    ("Subject", "Ünïcode"),
    ("X-MT-Category", "welcome"),
    ("X-Campaign", "spring-2026 (test)"),
    ("List-Unsubscribe", "<https://example.com/u?id=1>"),
    ("Sender", "Bob <bob@c.example>"),
    ("Date", "Sun, 22 Nov 2026 08:00:00 +0000"),
    ("Message-ID", "<abc@b.example>"),
]


def slow_mailboxes(value: str) -> list[tuple[str, str]]:
    header = email.policy.default.header_fetch_parse("To", value)
    return [(a.addr_spec, a.display_name or "") for a in getattr(header, "addresses", ())]


@pytest.mark.parametrize("value", ADDRESS_VALUES)
def test_address_fast_path_reads_what_the_full_parser_reads(value):
    assert parse._mailboxes(value) == slow_mailboxes(value)


@pytest.mark.parametrize(("name", "value"), TEXT_VALUES)
def test_text_fast_path_reads_what_the_full_parser_reads(name, value):
    assert parse._text_value(name, value) == str(email.policy.default.header_fetch_parse(name, value))


def test_plain_headers_skip_the_full_parser(monkeypatch):
    class Refusing:
        def header_fetch_parse(self, name, value):
            raise AssertionError(f"{name}: {value!r} went through the full parser")

    monkeypatch.setattr(parse, "_HEADERS", Refusing())
    assert parse._mailboxes("Shop <orders@shop.example>, a@b.example") == [
        ("orders@shop.example", "Shop"), ("a@b.example", "")]
    assert parse._text_value("Subject", "Order 42 is on its way") == "Order 42 is on its way"
    raw = (b"From: Shop <orders@shop.example>\r\nTo: a@b.example\r\nSubject: Order 42\r\n"
           b"X-MT-Category: orders\r\n\r\nHello\r\n")
    body = parse.to_body(raw, ["a@b.example"], 64 * 1024)
    assert (body["from"], body["to"], body["subject"], body["category"]) == (
        {"email": "orders@shop.example", "name": "Shop"}, [{"email": "a@b.example"}], "Order 42", "orders")


PATHS = [
    "<a@b.example>",
    "<a@b.example> SIZE=100 BODY=8BITMIME",
    " <a@b.example>",
    "<a@b.example>   SIZE=100",
    "<a@b.example> SIZE=100  ",
    "<first.last+tag@sub.b.example>",
    "<A@B.EXAMPLE>",
    "<a.b@c.d>x",
    "<>",
    "<a..b@b.example>",
    "<.a@b.example>",
    "<\"quoted local\"@b.example>",
    "<@relay.example:a@b.example>",
    "<a@[127.0.0.1]>",
    "<a@b.example",
    "a@b.example",
    "a@b.example SIZE=1",
    "<a b@c.example>",
    "<" + "l" * 65 + "@b.example>",
    "<" + "l" * 64 + "@b.example>",
    "<a@bücher.example>",
    "",
]


@pytest.mark.parametrize("arg", PATHS)
def test_mail_and_rcpt_paths_read_as_aiosmtpd_reads_them(arg):
    from aiosmtpd.smtp import SMTP

    from chalicelib.smtp.protocol import Connection

    server = Connection.__new__(Connection)  # only the limit _getaddr reads
    server.local_part_limit = 64
    assert server._getaddr(arg) == SMTP._getaddr(server, arg)


def test_plain_paths_skip_aiosmtpds_reader(monkeypatch):
    from aiosmtpd.smtp import SMTP

    from chalicelib.smtp.protocol import Connection

    monkeypatch.setattr(SMTP, "_getaddr", lambda self, arg: (_ for _ in ()).throw(AssertionError(arg)))
    server = Connection.__new__(Connection)
    server.local_part_limit = 64
    assert server._getaddr("<orders@shop.example> SIZE=4820") == ("orders@shop.example", "SIZE=4820")
