"""The one definition of a valid address (chalicelib/core/emails.py, on email-validator): what
it accepts and refuses, that it never looks anything up, and that sending, contacts and
automations all answer by it."""

from __future__ import annotations

import socket

import pytest

from chalicelib.automations import definition
from chalicelib.contacts.common import email_errors
from chalicelib.core.emails import required_email, valid_email
from chalicelib.core.errors import Unprocessable
from chalicelib.sending.validation import SendError, parse_send


@pytest.mark.parametrize("address, normalised", [
    ("a@example.com", "a@example.com"),
    ("  Ann.Lee+tag@Example.COM ", "Ann.Lee+tag@Example.COM"),  # trimmed, kept as written
    ("a@bücher.de", "a@xn--bcher-kva.de"),  # an IDN domain goes out as punycode
    ("owner@postline.local", "owner@postline.local"),  # special-use names: the local stack's own
    ("hello@demo.postline.invalid", "hello@demo.postline.invalid"),
    ("a@x.test", "a@x.test"),
    ("x" * 64 + "@example.com", "x" * 64 + "@example.com"),
])
def test_valid_addresses_come_back_normalised(address, normalised):
    assert valid_email(address) == normalised


@pytest.mark.parametrize("address", [
    "a@b.c1",  # a top-level domain ends in a letter
    "a@ab--cd.com",  # '--' in third and fourth place is reserved for punycode
    "a@xn--zz.com",  # punycode that does not decode
    "a@-bücher.de",  # an IDN label that starts with a hyphen
    "x" * 65 + "@example.com", "a..b@example.com", "a@localhost", "a@b.1", "a@b@example.com",
    '"a b"@example.com', "a@[192.0.2.1]", "Ann <a@example.com>", "ü@example.com", "", None, 42,
])
def test_invalid_addresses_are_none(address):
    assert valid_email(address) is None


def test_checking_an_address_makes_no_network_call(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("an address check must not reach the network (no DNS lookups)")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    assert valid_email("someone@a-domain-that-does-not-exist.example") is not None


def test_required_email_lower_cases_and_words_its_errors_as_the_management_api():
    errors: dict[str, list[str]] = {}
    assert required_email({"email": "A@Example.COM"}, errors) == "a@example.com" and errors == {}
    assert required_email({"email": "a@b.c1"}, errors) is None and errors == {"email": ["is invalid"]}
    assert required_email({}, errors) is None and errors == {"email": ["can't be blank"]}


def test_sending_contacts_and_automations_refuse_the_same_address():
    body = {"from": {"email": "app@example.com"}, "to": [{"email": "a@b.c1"}], "subject": "Hi", "text": "x"}
    with pytest.raises(SendError) as refused:
        parse_send(body)
    assert refused.value.errors == ["'to' address is invalid"]
    assert email_errors("a@b.c1") == ["is invalid"]
    with pytest.raises(Unprocessable):  # the automations' own pattern took any x@y.z
        definition.parse_steps([{"type": "send_email", "template_id": 1, "from_email": "a..b@example.com"}])
    step = definition.parse_steps([{"type": "send_email", "template_id": 1, "from_email": " hi@bücher.de "}])[0][0]
    assert step["from_email"] == "hi@xn--bcher-kva.de"
