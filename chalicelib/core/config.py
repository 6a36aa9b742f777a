"""Every setting Postline reads, from environment variables, in one place.

A wrong value fails at start (``settings()`` raises ConfigError), not in the middle of a
request. Tests and the local runtime call ``reload()`` after changing the environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache


class ConfigError(RuntimeError):
    pass


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc


def _str(name: str, default: str) -> str:
    return os.environ.get(name) or default


@dataclass(frozen=True)
class Settings:
    stage: str
    region: str
    # None in AWS; the moto endpoint locally and in tests (boto3 and pynamodb both honour it).
    aws_endpoint_url: str | None
    resource_prefix: str  # tables, queues and buckets are named "<prefix><name>"
    public_api_url: str  # how clients reach the general API (shown in credentials, docs)
    rate_limit_requests: int  # general API limit per token ...
    rate_limit_window_seconds: int  # ... per this many seconds
    max_body_bytes: int
    token_reset_grace_hours: int
    default_token_lifetime_days: int
    contacts_limit: int  # contacts per account (imports past it count as over the limit)
    contacts_rate_limit_requests: int  # contacts API limit per account (seed 004: 200 ...
    contacts_rate_limit_window_seconds: int  # ... per 60 s)

    def table_name(self, name: str) -> str:
        return f"{self.resource_prefix}{name}"

    def queue_name(self, name: str) -> str:
        return f"{self.resource_prefix}{name}"

    def bucket_name(self, name: str) -> str:
        return f"{self.resource_prefix}{name}"


@lru_cache(maxsize=1)
def settings() -> Settings:
    stage = _str("POSTLINE_STAGE", "dev")
    return Settings(
        stage=stage,
        region=_str("AWS_DEFAULT_REGION", "us-east-1"),
        aws_endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None,
        resource_prefix=_str("POSTLINE_RESOURCE_PREFIX", f"postline-{stage}-"),
        public_api_url=_str("POSTLINE_PUBLIC_API_URL", "http://127.0.0.1:8000"),
        rate_limit_requests=_int("POSTLINE_RATE_LIMIT_REQUESTS", 150),
        rate_limit_window_seconds=_int("POSTLINE_RATE_LIMIT_WINDOW_SECONDS", 10),
        max_body_bytes=_int("POSTLINE_MAX_BODY_BYTES", 10 * 1024 * 1024),
        token_reset_grace_hours=_int("POSTLINE_TOKEN_RESET_GRACE_HOURS", 12),
        default_token_lifetime_days=_int("POSTLINE_TOKEN_LIFETIME_DAYS", 365),
        contacts_limit=_int("POSTLINE_CONTACTS_LIMIT", 1_000_000),
        contacts_rate_limit_requests=_int("POSTLINE_CONTACTS_RATE_LIMIT_REQUESTS", 200),
        contacts_rate_limit_window_seconds=_int("POSTLINE_CONTACTS_RATE_LIMIT_WINDOW_SECONDS", 60),
    )


def reload() -> Settings:
    settings.cache_clear()
    return settings()
