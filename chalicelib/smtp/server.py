"""The SMTP ingress listeners: start them in-process (local stack, tests) or standalone.

    handle = chalicelib.smtp.server.start()      # listeners from POSTLINE_SMTP_* settings
    handle.ports   # {("transactional", False): 2587, ("bulk", False): 2588, ... True: implicit TLS}
    handle.stop()

One event loop in its own thread serves every listener: transactional and bulk, each with
STARTTLS and implicit TLS. Blocking work (AWS calls, MIME parsing) runs in a thread pool;
accepted messages go to the group committer (ingest.py). The same code runs in the ECS
service (``python -m chalicelib.smtp``) and in ``make run``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chalicelib.smtp import connections, ingest, protocol, tls
from chalicelib.smtp.settings import SmtpSettings
from chalicelib.smtp.settings import settings as smtp_settings

log = logging.getLogger("postline.smtp")


@dataclass(frozen=True)
class Listener:
    stream: str  # "transactional" or "bulk"
    port: int  # 0: any free port (tests)
    implicit_tls: bool = False


def configured_listeners(config: SmtpSettings) -> list[Listener]:
    wanted = [Listener("transactional", config.port), Listener("bulk", config.bulk_port),
              Listener("transactional", config.tls_port, True), Listener("bulk", config.bulk_tls_port, True)]
    return [w for w in wanted if w.port > 0]


@dataclass
class Runtime:
    """What every connection of one server shares."""

    config: SmtpSettings
    loop: asyncio.AbstractEventLoop
    tls_context: ssl.SSLContext
    committer: ingest.Committer
    ips: connections.IpSlots
    accounts: connections.AccountSlots
    pool: ThreadPoolExecutor
    authenticated: int = 0  # connections past AUTH (each may have one message pending)
    open: set[Any] = field(default_factory=set)  # live connections, closed on stop

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await self.loop.run_in_executor(self.pool, functools.partial(fn, *args))

    async def monthly_limit_reached(self, account_id: int) -> bool:
        """Asked on every AUTH and MAIL: a recent "not reached" is reused (limits caches it)."""
        from chalicelib.limits import service as limits

        if limits.recently_not_reached(account_id, limits.MONTHLY_CHECK_SECONDS):
            return False  # the usual answer, without a hop to the thread pool and back
        return await self.call(limits.monthly_limit_reached, account_id, limits.MONTHLY_CHECK_SECONDS)


class SmtpServer:
    def __init__(self, config: SmtpSettings | None = None, listeners: list[Listener] | None = None,
                 tls_context: ssl.SSLContext | None = None) -> None:
        self.config = config or smtp_settings()
        self.listeners = listeners if listeners is not None else configured_listeners(self.config)
        self.certificate: Path | None = None  # the self-signed certificate, when one was made
        if tls_context is None:
            tls_context, self.certificate = tls.server_context(self.config)
        self.tls_context = tls_context
        self.ports: dict[tuple[str, bool], int] = {}
        self.runtime: Runtime | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="smtp-loop", daemon=True)
        self._servers: list[asyncio.base_events.Server] = []
        self._heartbeat: asyncio.Task | None = None

    def start(self) -> SmtpServer:
        # aiosmtpd logs every command at INFO, and at DEBUG the raw lines, an AUTH PLAIN/LOGIN
        # blob (base64 of the API token) among them: WARNING keeps out both the noise and AUTH data.
        logging.getLogger("mail.log").setLevel(logging.WARNING)
        self.runtime = Runtime(
            config=self.config, loop=self._loop, tls_context=self.tls_context,
            committer=ingest.Committer(self._loop, active=lambda: self.runtime.authenticated),
            ips=connections.IpSlots(self.config.max_connections_per_ip),
            accounts=connections.AccountSlots(self.config.max_connections_per_account),
            pool=ThreadPoolExecutor(max_workers=16, thread_name_prefix="smtp-io"))
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(timeout=30)
        for (stream, implicit), port in sorted(self.ports.items()):
            log.info("SMTP %s%s listening on %s:%d", stream, " (implicit TLS)" if implicit else " (STARTTLS)",
                     self.config.host, port)
        return self

    async def _listen(self) -> None:
        handler = protocol.Handler()
        for listener in self.listeners:
            server = await self._loop.create_server(
                functools.partial(protocol.Connection, handler, self.runtime, listener),
                host=self.config.host, port=listener.port,
                ssl=self.tls_context if listener.implicit_tls else None, backlog=256, reuse_address=True,
                ssl_handshake_timeout=self.config.idle_timeout_seconds if listener.implicit_tls else None)
            self._servers.append(server)
            self.ports[(listener.stream, listener.implicit_tls)] = server.sockets[0].getsockname()[1]
        self._heartbeat = self._loop.create_task(self._beat())

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(connections.HEARTBEAT_SECONDS)
            try:
                await self.runtime.call(self.runtime.accounts.heartbeat)
            except Exception:
                log.exception("SMTP connection heartbeat failed")

    def port(self, stream: str = "transactional", implicit_tls: bool = False) -> int:
        return self.ports[(stream, implicit_tls)]

    def stop(self) -> None:
        """Stop accepting, close open connections, finish pending commits, stop the loop."""
        if not self._thread.is_alive():
            return

        async def shutdown() -> None:
            if self._heartbeat:
                self._heartbeat.cancel()
            for server in self._servers:
                server.close()
            for connection in list(self.runtime.open):
                if connection.transport is not None:
                    connection.transport.close()
            for server in self._servers:
                await server.wait_closed()
            await asyncio.sleep(0.05)  # let closed connections finish their handlers
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)

        try:
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(timeout=10)
        except Exception:
            log.exception("closing the SMTP listeners took too long")
        self.runtime.committer.stop()
        self.runtime.pool.shutdown(wait=True)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)


def start(config: SmtpSettings | None = None, listeners: list[Listener] | None = None,
          tls_context: ssl.SSLContext | None = None) -> SmtpServer:
    """Start the listeners in this process and return the handle (``.ports``, ``.stop()``)."""
    return SmtpServer(config, listeners, tls_context).start()
