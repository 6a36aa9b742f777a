"""Long SMTP sessions: a token deleted or expired after AUTH stops sending at the next MAIL,
and slow clients can't hold a connection slot (idle, per-line, DATA and AUTH deadlines, all
answered 421 4.4.2). Real sockets against in-process listeners with short settings."""

from __future__ import annotations

import base64
import contextlib
import select
import socket
import time
from datetime import timedelta

from chalicelib.core import clock
from chalicelib.sending.models import Message
from tests import smtp_support
from tests.e2e import test_smtp
from tests.sending_support import take
from tests.smtp_support import mime

domain, _leave_the_queues_empty = test_smtp.domain, test_smtp._leave_the_queues_empty  # shared fixtures

TIMED_OUT = b"421 4.4.2 Timeout waiting for the client, closing connection\r\n"
NOT_LIVE = (530, b"5.7.0 Authentication required: the API token was deleted or has expired, log in again")


@contextlib.contextmanager
def listeners(tmp_path, **changes):
    handle = smtp_support.start(tmp_path, **changes)
    try:
        yield handle
    finally:
        handle.stop()


def _domain_token(api, domain) -> dict:
    """A second token, admin of the domain: the one a session logs in with and that gets deleted."""
    return api.post("/api/api_tokens", {"name": "smtp", "resources": [
        {"resource_type": "domain", "resource_id": domain.domain_id, "access_level": 100}]}).json


def _stored(account_id: int) -> int:
    return len(list(Message.by_account.query(account_id)))


# ---------------------------------------------------------------- a token revoked mid-session


def test_a_token_deleted_after_auth_is_refused_at_the_next_mail(tmp_path, api, account, domain):
    sender = f"app@{domain.domain_name}"
    token = _domain_token(api, domain)
    with listeners(tmp_path) as smtp, smtp_support.session(smtp, token["token"]) as client:
        assert client.sendmail(sender, ["a@rcpt.test"], mime(sender, ["a@rcpt.test"])) == {}
        assert len(take("transactional")) == 1
        assert api.delete(f"/api/api_tokens/{token['id']}").status == 204
        time.sleep(smtp.config.token_recheck_seconds)  # the last check is at most this old
        assert client.docmd("MAIL", f"FROM:<{sender}>") == NOT_LIVE
        assert client.docmd("RCPT", "TO:<b@rcpt.test>")[0] == 530  # logged out: nothing goes on
        assert client.docmd("DATA")[0] == 530
        assert take("transactional") == []  # nothing reached the queue, so nothing reaches SES
        client.login("api", account[1])  # a live token logs the session in again
        assert client.sendmail(sender, ["c@rcpt.test"], mime(sender, ["c@rcpt.test"])) == {}


def test_a_token_whose_reset_grace_ends_mid_session_is_refused(tmp_path, api, account, domain):
    sender = f"app@{domain.domain_name}"
    token = _domain_token(api, domain)
    assert api.post(f"/api/api_tokens/{token['id']}/reset").status == 200
    with listeners(tmp_path, token_recheck_seconds=0) as smtp, smtp_support.session(smtp, token["token"]) as client:
        assert client.docmd("MAIL", f"FROM:<{sender}>")[0] == 250  # in its grace it still sends
        client.rset()
        clock.advance(timedelta(hours=12, minutes=1))
        assert client.docmd("MAIL", f"FROM:<{sender}>") == NOT_LIVE


# ---------------------------------------------------------------- slow clients


def _connect(smtp, source: str) -> tuple[socket.socket, object]:
    sock = socket.create_connection(("127.0.0.1", smtp.port()), timeout=10, source_address=(source, 0))
    replies = sock.makefile("rb")
    assert replies.readline().startswith(b"220 ")
    return sock, replies


def _command(sock, replies, line: str) -> bytes:
    sock.sendall(line.encode() + b"\r\n")
    reply = replies.readline()
    while reply[3:4] == b"-":  # a multi-line reply (EHLO)
        reply = replies.readline()
    return reply


def _drip(sock, data: bytes, every: float) -> int:
    """Send ``data`` a byte at a time, ``every`` seconds apart (each gap well within the idle
    timeout) until the server says something; returns how many bytes went."""
    for n in range(len(data)):
        sock.sendall(data[n:n + 1])
        if select.select([sock], [], [], every)[0]:
            return n + 1
    return len(data)


def _closed_after(replies, expected: bytes) -> None:
    assert replies.readline() == expected
    try:
        rest = replies.readline()
    except ConnectionResetError:  # closed with a byte of ours unread: the kernel resets the connection
        rest = b""
    assert rest == b""  # and the server closed the connection


def test_a_silent_connection_is_closed_after_the_idle_timeout(tmp_path):
    with listeners(tmp_path, idle_timeout_seconds=0.3) as smtp:
        sock, replies = _connect(smtp, "127.0.6.1")
        _closed_after(replies, TIMED_OUT)
        sock.close()
        sock, replies = _connect(smtp, "127.0.6.1")  # and between commands
        assert _command(sock, replies, "EHLO client.test").startswith(b"250 ")
        _closed_after(replies, TIMED_OUT)
        sock.close()


def test_a_command_dripped_a_byte_at_a_time_is_cut_off(tmp_path):
    with listeners(tmp_path, idle_timeout_seconds=1, command_timeout_seconds=0.5) as smtp:
        sock, replies = _connect(smtp, "127.0.6.2")
        line = b"EHLO a-client-that-sends-one-byte-at-a-time.test\r\n"
        assert _drip(sock, line, every=0.1) < len(line), "the whole line was accepted"
        _closed_after(replies, TIMED_OUT)
        sock.close()


def test_a_client_that_never_logs_in_is_closed_however_busy(tmp_path):
    with listeners(tmp_path, idle_timeout_seconds=1, auth_timeout_seconds=0.6) as smtp:
        sock, replies = _connect(smtp, "127.0.6.3")
        started = time.monotonic()
        while True:  # a NOOP every 0.1 s, each answered at once
            reply = _command(sock, replies, "NOOP")
            if reply != b"250 OK\r\n":
                break
            assert time.monotonic() - started < 10, "never closed"
            time.sleep(0.1)
        assert reply == TIMED_OUT and replies.readline() == b""
        sock.close()


def test_data_content_must_arrive_within_its_deadline_and_nothing_is_kept(tmp_path, account, domain):
    sender = f"app@{domain.domain_name}"
    with listeners(tmp_path, auth_require_tls=False, idle_timeout_seconds=1, data_timeout_seconds=0.6) as smtp:
        sock, replies = _connect(smtp, "127.0.6.4")
        assert _command(sock, replies, "EHLO client.test").startswith(b"250 ")
        plain = base64.b64encode(f"\0api\0{account[1]}".encode()).decode()
        assert _command(sock, replies, "AUTH PLAIN " + plain).startswith(b"235 ")
        assert _command(sock, replies, f"MAIL FROM:<{sender}>").startswith(b"250 ")
        assert _command(sock, replies, "RCPT TO:<a@rcpt.test>").startswith(b"250 ")
        assert _command(sock, replies, "DATA").startswith(b"354 ")
        content = mime(sender, ["a@rcpt.test"]).encode()
        assert _drip(sock, content, every=0.02) < len(content), "the whole message was accepted"
        _closed_after(replies, TIMED_OUT)
        sock.close()
    assert _stored(account[0].account_id) == 0 and take("transactional") == []


def test_a_prompt_client_is_not_affected_by_short_deadlines(tmp_path, account, domain):
    sender = f"app@{domain.domain_name}"
    with listeners(tmp_path, idle_timeout_seconds=2, command_timeout_seconds=1, data_timeout_seconds=1,
                   auth_timeout_seconds=3) as smtp:
        with smtp_support.session(smtp, account[1]) as client:
            for n in range(3):
                to = f"p{n}@rcpt.test"
                assert client.sendmail(sender, [to], mime(sender, [to])) == {}
    assert len(take("transactional")) >= 1
