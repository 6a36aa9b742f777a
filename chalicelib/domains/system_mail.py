"""Postline's own mail to its users: setup instructions, usage notices.

It goes straight to SES from ``POSTLINE_SYSTEM_SENDER`` (by default an address on the
deployment's demo domain, whose SES identity the operator verifies once), not through an
account's streams: it is not the account's mail, so it takes none of its sending limits and
shows in none of its email logs. It lives with the domains capability, which owns the SES
identity it sends from, below the limits and sending capabilities that mail through it too.
"""

from __future__ import annotations

import email.utils
import threading

from chalicelib.core import aws
from chalicelib.core.config import settings
from chalicelib.domains import ses  # the domains capability owns SES identities

_identities: set[str] = set()  # sender domains whose SES identity this process has made sure of
_lock = threading.Lock()


def _ensure_sender_identity(sender: str) -> None:
    domain = email.utils.parseaddr(sender)[1].rpartition("@")[2].lower()
    with _lock:
        if domain in _identities:
            return
    ses.ensure_identity(domain)
    with _lock:
        _identities.add(domain)


def send(to: str, subject: str, text: str, html: str | None = None) -> str:
    """Hand one message to SES; return SES's message id (errors are the caller's to handle)."""
    sender = settings().system_sender
    _ensure_sender_identity(sender)
    body = {"Text": {"Data": text, "Charset": "UTF-8"}}
    if html:
        body["Html"] = {"Data": html, "Charset": "UTF-8"}
    response = aws.client("sesv2", max_attempts=1).send_email(  # a retried send could deliver twice
        FromEmailAddress=sender, Destination={"ToAddresses": [to]},
        Content={"Simple": {"Subject": {"Data": subject, "Charset": "UTF-8"}, "Body": body}})
    return response["MessageId"]
