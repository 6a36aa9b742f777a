"""Failed authentication is slowed down, on the HTTP API and the SMTP ingress alike.

Failures are counted per client IP (one address trying many tokens) and per prefix of the
token presented (many addresses trying one token), in DynamoDB so every Lambda and SMTP
task sees the same counts.
After ``auth_failure_limit`` failures in ``auth_failure_window_seconds`` every attempt from
that IP, or with that prefix, is refused before its token is even looked up (HTTP 429 with
Retry-After, SMTP 454) until enough of the failures have left the window; then the right
token works again. The prefix is stored hashed: a failed attempt may be a mistyped real token.
"""

from __future__ import annotations

import hashlib

from chalicelib.accounts.models import AuthFailures
from chalicelib.core import ratelimit
from chalicelib.core.config import settings
from chalicelib.core.errors import TooManyFailures

PREFIX_CHARS = 8


def _scopes(client_ip: str | None, token_value: str | None) -> list[str]:
    scopes = [f"ip:{client_ip}"] if client_ip else []
    if token_value:
        scopes.append("prefix:" + hashlib.sha256(token_value[:PREFIX_CHARS].encode()).hexdigest()[:32])
    return scopes


def check(client_ip: str | None, token_value: str | None) -> None:
    """Raise TooManyFailures (with its Retry-After) if the IP or the token's prefix is throttled."""
    config = settings()
    if config.auth_failure_limit <= 0:
        return
    wait = ratelimit.wait_seconds(_scopes(client_ip, token_value), config.auth_failure_limit,
                                  config.auth_failure_window_seconds, AuthFailures)
    if wait:
        raise TooManyFailures(wait)


def failed(client_ip: str | None, token_value: str | None) -> None:
    """Count one failed authentication against the IP and the token's prefix."""
    config = settings()
    if config.auth_failure_limit <= 0:
        return
    for scope in _scopes(client_ip, token_value):
        ratelimit.record(scope, config.auth_failure_window_seconds, AuthFailures)
