"""One SMTP connection: aiosmtpd's protocol with Postline's authentication, limits and hand-off.

Order of checks, each with the reply a client sees (chalicelib/smtp/replies.py):
1. connect: at most N connections per client IP (``421``, connection closed);
2. AUTH (PLAIN or LOGIN, only after STARTTLS unless configured otherwise): username ``api``,
   password an API token; the account under its monthly quota (``535 5.7.0 Monthly messages
   limit reached``) and under N concurrent connections (``535 5.7.8 Too many connections
   per account``);
3. MAIL: authenticated (``530``), the token still live (looked up again once its last check
   is a second old: a token deleted or expired since AUTH gets ``530`` and must log in
   again), at most M messages per connection (``421``, closed), the envelope sender on a
   verified sending domain the token administers (``550 5.7.1``);
4. RCPT: valid addresses, at most R per message;
5. DATA: at most SIZE bytes (advertised in EHLO), then parse + validate (``550 5.6.x``,
   ``552 5.3.4``), then the group commit; ``250`` only once stored and queued.
Slow clients can't hold a slot (``421 4.4.2``, closed): the next command must start within
the idle timeout, a command line must be complete shortly after its first byte, DATA
content within its own deadline, and AUTH must succeed soon after connecting.
Blocking AWS calls run in the server's thread pool, never on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from base64 import b64decode
from typing import TYPE_CHECKING, Any

from aiosmtpd.smtp import MISSING, SMTP, AuthResult, Session

from chalicelib.accounts import service as accounts
from chalicelib.core.emails import valid_email
from chalicelib.core.errors import TooManyFailures, Unauthorized
from chalicelib.core.permissions import Principal
from chalicelib.sending.validation import SendError
from chalicelib.smtp import ingest, parse, replies

if TYPE_CHECKING:
    from chalicelib.smtp.server import Listener, Runtime

log = logging.getLogger("postline.smtp")
COMMAND_WORK_SECONDS = 300  # how long a command's own work (AWS calls, a commit) may take
INLINE_PARSE_BYTES = 64 * 1024  # larger messages are parsed in the thread pool, off the event loop
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
# "<local@domain>" then ESMTP parameters, as nearly every client writes MAIL and RCPT.
_PLAIN_PATH = re.compile(rf"[ \t]*<({_ATEXT}(?:\.{_ATEXT})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)>[ \t]*(\S(?:.*\S)?)?")


class QuietSession(Session):
    """aiosmtpd's session without the deprecation warning it logs on every AUTH."""

    @property
    def login_data(self) -> Any:
        return self._login_data

    @login_data.setter
    def login_data(self, value: Any) -> None:
        self._login_data = value


class Connection(SMTP):
    def __init__(self, handler: Handler, runtime: Runtime, listener: Listener) -> None:
        config = runtime.config
        super().__init__(
            handler, data_size_limit=config.max_message_bytes, hostname=config.hostname, ident="Postline ESMTP",
            # aiosmtpd's timer, reset when a command starts, bounds the command's own work; waiting
            # on the client is bounded by the same timer set shorter (_await_client, data_received).
            tls_context=None if listener.implicit_tls else runtime.tls_context, timeout=COMMAND_WORK_SECONDS,
            auth_required=True, auth_require_tls=True, loop=runtime.loop)
        if listener.implicit_tls or not config.auth_require_tls:
            self._auth_require_tls = False  # the socket is TLS already (aiosmtpd counts only STARTTLS)
        self.runtime = runtime
        self.listener = listener
        self.ip: str | None = None
        self.ip_slot = False
        self.principal: Principal | None = None
        self.token_hash: str | None = None  # of the token that logged in, to look it up again
        self._token_checked = 0.0  # time.monotonic() when it was last found live (0: not since AUTH)
        self.messages = 0
        self._awaiting_client = False  # a reply went out; the client's next bytes start a unit
        self._unit_timeout = config.command_timeout_seconds  # how long the unit may take once started
        self._auth_deadline: asyncio.TimerHandle | None = None
        self.close_after_reply = False
        self._senders: dict[str, str | None] = {}  # sender domain -> why not allowed (None: allowed)
        self._released = False

    def _create_session(self) -> Session:
        return QuietSession(self.loop)

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        """aiosmtpd's address reading, with the plain form read directly: aiosmtpd's builds a
        class and a token tree for every MAIL and RCPT (~0.1 ms). tests/integration/test_smtp_parse.py
        holds both to the same answers."""
        match = _PLAIN_PATH.fullmatch(arg)
        if match is None or (self.local_part_limit and len(match.group(1).rpartition("@")[0]) > self.local_part_limit):
            return super()._getaddr(arg)
        return match.group(1), match.group(2) or ""

    async def smtp_DATA(self, arg: str) -> None:
        """aiosmtpd's DATA with the content read in a few large reads rather than line by
        line (a 5 KB message is ~80 lines, each an await and list work): the same replies,
        limits and transparency rule (RFC 5321 4.5.2). One difference: content both over
        SIZE and with an over-long line is answered 552, not whichever aiosmtpd met first."""
        if self._decode_data:  # this server hands bytes to its handler; aiosmtpd's for anything else
            return await super().smtp_DATA(arg)
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        if not self.envelope.rcpt_tos:
            return await self.push("503 Error: need RCPT command")
        if arg:
            return await self.push("501 Syntax: DATA")
        self._unit_timeout = self.runtime.config.data_timeout_seconds
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        try:
            content = await self._read_content()
        except asyncio.CancelledError:  # the connection went away mid-message
            log.info("Connection lost during DATA")
            self._writer.close()
            raise
        finally:
            self._unit_timeout = self.runtime.config.command_timeout_seconds
        self._reset_timeout()  # the content is in: what is left is the server's work
        if content is None:
            reply = "552 Error: Too much mail data"
        elif max(map(len, content.split(b"\r\n"))) + 2 > self.line_length_limit:
            reply = "500 Line too long (see RFC5321 4.5.3.1.6)"
        else:
            if content.startswith(b"."):
                content = content[1:]
            content = content.replace(b"\r\n.", b"\r\n")  # a leading dot was doubled by the client
            self.envelope.content = self.envelope.original_content = content
            status = await self._call_handler_hook("DATA")
            reply = "250 OK" if status is MISSING else status
        self._set_post_data_state()
        await self.push(reply)

    async def _read_content(self) -> bytes | None:
        """The content up to the lone-dot line (that line not included), or None when it went
        past the size limit (then read to its end and dropped, to answer in step)."""
        reader, limit = self._reader, self.data_size_limit
        chunks: list[bytes] = []
        size, tail = 0, b"\r\n"  # tail: the last bytes read (a message's start counts as a line start)
        while True:
            try:
                chunk = await reader.readuntil(b".\r\n")  # every lone-dot line ends so
            except asyncio.LimitOverrunError as more:  # no ".\r\n" within the stream's limit yet
                chunk = await reader.readexactly(more.consumed)
            size += len(chunk)
            end = tail + chunk[-5:]  # the last 5 bytes read: enough to see "\r\n.\r\n"
            if end.endswith(b"\r\n.\r\n"):
                size -= 3
                if limit and size > limit:
                    return None
                chunks.append(chunk[:-3])
                return b"".join(chunks)
            tail = end[-4:]
            if limit and size > limit:
                chunks.clear()  # keep reading to the end, keep nothing
            else:
                chunks.append(chunk)

    # ------------------------------------------------------------ connection life

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        first = self.transport is None  # not the STARTTLS upgrade of the same connection
        if first:
            peer = transport.get_extra_info("peername") or ("unknown", 0)
            self.ip = str(peer[0])
            self.ip_slot = self.runtime.ips.acquire(self.ip)
            self.runtime.open.add(self)
        super().connection_made(transport)
        if first:
            self._auth_deadline = self.loop.call_later(self.runtime.config.auth_timeout_seconds, self._timed_out)
        self._await_client()  # after a STARTTLS handshake too (aiosmtpd reset its timer to a command's)

    # ------------------------------------------------------------ slow clients

    def _await_client(self) -> None:
        """The client owes the next command (or DATA content): it must start within the idle timeout."""
        self._awaiting_client = True
        self._reset_timeout(self.runtime.config.idle_timeout_seconds)

    def data_received(self, data: bytes) -> None:
        if self._awaiting_client:  # its first bytes: the rest must follow within the unit's deadline,
            self._awaiting_client = False  # not a byte at a time forever
            self._reset_timeout(self._unit_timeout)
        super().data_received(data)

    def _timeout_cb(self) -> None:  # aiosmtpd's timer, set by _await_client and data_received
        self._timed_out()

    def _timed_out(self) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        log.info("SMTP connection timed out")
        self._writer.write(replies.TIMEOUT.encode() + b"\r\n")
        self.transport.close()  # sends what is buffered, then closes

    async def _handle_client(self) -> None:
        if not self.ip_slot:
            await self.push(replies.TOO_MANY_IP_CONNECTIONS)
            self.transport.close()
            return
        await super()._handle_client()

    def connection_lost(self, error: Exception | None) -> None:
        if self._auth_deadline is not None:
            self._auth_deadline.cancel()
        self._release()
        super().connection_lost(error)

    def _release(self) -> None:
        if self._released:
            return
        self._released = True
        self.runtime.open.discard(self)
        if self.ip_slot and self.ip:
            self.runtime.ips.release(self.ip)
        self._drop_login()

    def _drop_login(self) -> None:
        """Give back the account's connection slot; the session is no longer authenticated."""
        principal, self.principal, self.token_hash = self.principal, None, None
        if principal is None:
            return
        self.session.authenticated = False
        self._senders.clear()
        self.runtime.authenticated -= 1
        try:
            self.runtime.pool.submit(self.runtime.accounts.release, principal.account_id)
        except RuntimeError:  # the server is stopping: this instance's counts lapse with its heartbeat
            pass

    async def push(self, status: Any) -> None:
        self._await_client()  # before writing: the answer may arrive at once
        await super().push(status)
        if self.close_after_reply and self.transport is not None:
            self.transport.close()

    # ------------------------------------------------------------ AUTH

    async def auth_PLAIN(self, _: Any, args: list[str]) -> AuthResult:
        if len(args) == 1:
            blob = await self.challenge_auth("")
            if blob is MISSING:
                return AuthResult(success=False)
        else:
            try:
                blob = b64decode(args[1].encode(), validate=True)
            except Exception:
                await self.push("501 5.5.2 Can't decode base64")
                return AuthResult(success=False, handled=True)
        try:
            _, login, password = blob.split(b"\x00")
        except ValueError:
            await self.push("501 5.5.2 Can't split auth value")
            return AuthResult(success=False, handled=True)
        return await self._login(login, password)

    async def auth_LOGIN(self, _: Any, args: list[str]) -> AuthResult:
        if len(args) == 1:
            login = await self.challenge_auth(self.AuthLoginUsernameChallenge)
            if login is MISSING:
                return AuthResult(success=False)
        else:
            try:
                login = b64decode(args[1].encode(), validate=True)
            except Exception:
                await self.push("501 5.5.2 Can't decode base64")
                return AuthResult(success=False, handled=True)
        password = await self.challenge_auth(self.AuthLoginPasswordChallenge)
        if password is MISSING:
            return AuthResult(success=False)
        return await self._login(login, password)

    async def _login(self, login: bytes, password: bytes) -> AuthResult:
        refused = AuthResult(success=False, handled=False, message=replies.AUTH_INVALID)
        token = password.decode("utf-8", "replace").strip()
        try:
            if login.strip().lower() != b"api":
                await self.runtime.call(accounts.authenticate, None, self.ip)  # counted as a failure
            principal = await self.runtime.call(accounts.authenticate, token, self.ip)
        except TooManyFailures as exc:
            throttled = replies.AUTH_THROTTLED.format(seconds=exc.retry_after)
            return AuthResult(success=False, handled=False, message=throttled)
        except Unauthorized:
            return refused
        if await self.runtime.monthly_limit_reached(principal.account_id):
            return AuthResult(success=False, handled=False, message=replies.MONTHLY_LIMIT)
        if not await self.runtime.call(self.runtime.accounts.acquire, principal.account_id):
            return AuthResult(success=False, handled=False, message=replies.TOO_MANY_ACCOUNT_CONNECTIONS)
        self.principal, self.token_hash, self._token_checked = principal, accounts.hash_token(token), 0.0
        self.runtime.authenticated += 1
        if self._auth_deadline is not None:
            self._auth_deadline.cancel()
        return AuthResult(success=True, auth_data=principal.token_name)

    async def token_still_live(self) -> bool:
        """Look the token up again (at most once per ``token_recheck_seconds``): one deleted,
        expired or past its reset grace since AUTH ends the login; the client may log in again
        (within the AUTH deadline). Changed permissions apply from here on."""
        if time.monotonic() - self._token_checked < self.runtime.config.token_recheck_seconds:
            return True
        try:
            principal = await self.runtime.call(accounts.principal_for, self.token_hash)
        except Unauthorized:
            self._drop_login()
            self._auth_deadline = self.loop.call_later(self.runtime.config.auth_timeout_seconds, self._timed_out)
            return False
        if principal != self.principal:
            self.principal = principal
            self._senders.clear()
        self._token_checked = time.monotonic()
        return True

    # ------------------------------------------------------------ MAIL FROM

    async def sender_problem(self, address: str) -> str | None:
        """Why this envelope sender may not send (None: it may), asked once per domain; the
        answer comes from the sender lookups the token's commits use (sending.senders)."""
        domain = address.rsplit("@", 1)[1].lower()
        if domain not in self._senders:
            senders = self.runtime.committer.senders(self.principal, self.listener.stream)
            self._senders[domain] = await self.runtime.call(senders.problem, address)
        return self._senders[domain]


class Handler:
    """aiosmtpd hooks; ``server`` is the Connection the command arrived on."""

    async def handle_MAIL(self, server: Connection, session: Session, envelope: Any, address: str,
                          mail_options: list[str]) -> str:
        runtime = server.runtime
        if not await server.token_still_live():
            return replies.TOKEN_NOT_LIVE
        limit = runtime.config.max_messages_per_connection
        if server.messages >= limit:
            server.close_after_reply = True
            return replies.TOO_MANY_MESSAGES.format(limit=limit)
        email = valid_email(address)
        if email is None:
            return replies.BAD_SENDER.format(address=address)
        if await runtime.monthly_limit_reached(server.principal.account_id):
            return replies.MONTHLY_LIMIT
        problem = await server.sender_problem(email)
        if problem:
            return replies.SENDER_NOT_ALLOWED.format(reason=problem)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 Ok"

    async def handle_RCPT(self, server: Connection, session: Session, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        limit = server.runtime.config.max_recipients
        if len(envelope.rcpt_tos) >= limit:
            return replies.TOO_MANY_RECIPIENTS.format(limit=limit)
        email = valid_email(address)
        if email is None:
            return replies.BAD_RECIPIENT.format(address=address)
        envelope.rcpt_tos.append(email)  # normalised here, once: parse takes it as it is
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server: Connection, session: Session, envelope: Any) -> str:
        runtime = server.runtime
        server.messages += 1
        raw, rcpts, limit = envelope.original_content, list(envelope.rcpt_tos), runtime.config.max_header_bytes
        try:
            if len(raw) <= INLINE_PARSE_BYTES:  # ~1 ms: cheaper here than two thread hand-offs
                request = parse.to_request(raw, rcpts, limit)
            else:
                request = await runtime.call(parse.to_request, raw, rcpts, limit)
        except parse.Refused as refused:
            return refused.reply
        try:
            message_ids = await runtime.committer.submit(server.principal, server.listener.stream, server.ip, request)
        except SendError as exc:
            if exc.status == 403:
                return replies.SENDER_NOT_ALLOWED.format(reason=exc.detail or "; ".join(exc.errors))
            return replies.CONTENT_REFUSED.format(reason="; ".join(exc.errors))
        except ingest.CommitFailed:
            return replies.TEMPORARY_FAILURE
        return replies.QUEUED.format(message_id=message_ids[0] if message_ids else "-")

    async def handle_exception(self, error: Exception) -> str:
        log.error("SMTP command failed: %s", type(error).__name__, exc_info=error)
        return replies.TEMPORARY_FAILURE
