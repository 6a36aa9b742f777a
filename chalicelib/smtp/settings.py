"""SMTP ingress settings, from environment variables (read only by the ingress process).

The AWS side (tables, queues, region, endpoint) comes from chalicelib.core.config like every
Lambda's; these are what only the listeners need. A port of 0 turns that listener off.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

from chalicelib.core.config import env_bool, env_int
from chalicelib.core.config import settings as core_settings


@dataclass(frozen=True)
class SmtpSettings:
    host: str  # bind address
    hostname: str  # the name in the greeting and EHLO reply
    port: int  # transactional, STARTTLS
    bulk_port: int  # bulk, STARTTLS
    tls_port: int  # transactional, implicit TLS
    bulk_tls_port: int  # bulk, implicit TLS
    tls_cert: str | None = field(repr=False)  # PEM file path, or the PEM itself (not in repr: may be key text)
    tls_key: str | None = field(repr=False)
    self_signed_dir: Path  # where a self-signed certificate is made when none is configured (not prod)
    auth_require_tls: bool  # AUTH only after STARTTLS (implicit-TLS listeners are TLS already)
    max_connections_per_account: int
    max_connections_per_ip: int
    max_messages_per_connection: int
    max_recipients: int
    max_message_bytes: int  # SIZE, advertised in EHLO
    max_header_bytes: int
    # Slow clients (421 4.4.2 and closed): nothing received for idle_timeout_seconds while a
    # command or DATA is awaited; a command line not complete command_timeout_seconds after its
    # first byte; DATA content not complete data_timeout_seconds after its first byte; no
    # successful AUTH auth_timeout_seconds after connecting.
    idle_timeout_seconds: float
    command_timeout_seconds: float
    data_timeout_seconds: float
    auth_timeout_seconds: float
    token_recheck_seconds: float  # a session's token is looked up again at MAIL once its last check is this old


def settings() -> SmtpSettings:
    core = core_settings()
    return SmtpSettings(
        host=os.environ.get("POSTLINE_SMTP_HOST") or "127.0.0.1",
        hostname=os.environ.get("POSTLINE_SMTP_HOSTNAME") or socket.getfqdn(),
        port=env_int("POSTLINE_SMTP_PORT", 2587),
        bulk_port=env_int("POSTLINE_BULK_SMTP_PORT", 2588),
        tls_port=env_int("POSTLINE_SMTP_TLS_PORT", 2465),
        bulk_tls_port=env_int("POSTLINE_BULK_SMTP_TLS_PORT", 2466),
        tls_cert=os.environ.get("POSTLINE_SMTP_TLS_CERT") or None,
        tls_key=os.environ.get("POSTLINE_SMTP_TLS_KEY") or None,
        self_signed_dir=Path(os.environ.get("POSTLINE_SMTP_SELF_SIGNED_DIR") or ".postline/smtp"),
        auth_require_tls=env_bool("POSTLINE_SMTP_AUTH_REQUIRE_TLS", True),
        max_connections_per_account=env_int("POSTLINE_SMTP_MAX_CONNECTIONS_PER_ACCOUNT", 10),
        max_connections_per_ip=env_int("POSTLINE_SMTP_MAX_CONNECTIONS_PER_IP", 10),
        max_messages_per_connection=env_int("POSTLINE_SMTP_MAX_MESSAGES_PER_CONNECTION", 100),
        max_recipients=env_int("POSTLINE_SMTP_MAX_RECIPIENTS", 1000),
        max_message_bytes=core.max_message_bytes,
        max_header_bytes=env_int("POSTLINE_SMTP_MAX_HEADER_BYTES", 64 * 1024),
        idle_timeout_seconds=env_int("POSTLINE_SMTP_IDLE_TIMEOUT_SECONDS", 60),
        command_timeout_seconds=env_int("POSTLINE_SMTP_COMMAND_TIMEOUT_SECONDS", 15),
        data_timeout_seconds=env_int("POSTLINE_SMTP_DATA_TIMEOUT_SECONDS", 300),
        auth_timeout_seconds=env_int("POSTLINE_SMTP_AUTH_TIMEOUT_SECONDS", 60),
        token_recheck_seconds=env_int("POSTLINE_SMTP_TOKEN_RECHECK_SECONDS", 1),
    )
