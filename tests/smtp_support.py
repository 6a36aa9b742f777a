"""An in-process SMTP ingress on free ports, and smtplib clients for it."""

from __future__ import annotations

import contextlib
import dataclasses
import smtplib
import ssl
from collections.abc import Iterator
from pathlib import Path

from chalicelib.smtp import server
from chalicelib.smtp.settings import settings

LISTENERS = [server.Listener("transactional", 0), server.Listener("bulk", 0),
             server.Listener("transactional", 0, True), server.Listener("bulk", 0, True)]


def start(cert_dir: Path, **changes) -> server.SmtpServer:
    config = dataclasses.replace(settings(), host="127.0.0.1", hostname="smtp.postline.test",
                                 self_signed_dir=cert_dir, **changes)
    return server.start(config, LISTENERS)


def tls_context(handle: server.SmtpServer) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(handle.certificate))


def connect(handle: server.SmtpServer, stream: str = "transactional", *, implicit: bool = False,
            starttls: bool = True, source: str = "127.0.0.1") -> smtplib.SMTP:
    port = handle.port(stream, implicit)
    if implicit:
        return smtplib.SMTP_SSL("127.0.0.1", port, context=tls_context(handle), source_address=(source, 0), timeout=30)
    client = smtplib.SMTP("127.0.0.1", port, source_address=(source, 0), timeout=30)
    if starttls:
        client.starttls(context=tls_context(handle))
    return client


@contextlib.contextmanager
def session(handle: server.SmtpServer, token: str, stream: str = "transactional", **kw) -> Iterator[smtplib.SMTP]:
    client = connect(handle, stream, **kw)
    try:
        client.login("api", token)
        yield client
    finally:
        with contextlib.suppress(Exception):
            client.quit()
        client.close()


def mime(sender: str, to: list[str], subject: str = "Hello", body: str = "Hi there", cc: list[str] = (),
         extra: str = "") -> str:
    lines = [f"From: App <{sender}>", f"To: {', '.join(to)}"]
    if cc:
        lines.append(f"Cc: {', '.join(cc)}")
    lines += [f"Subject: {subject}", "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8"]
    if extra:
        lines.append(extra.rstrip("\r\n"))
    return "\r\n".join(lines) + "\r\n\r\n" + body + "\r\n"
