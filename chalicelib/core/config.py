"""Every setting Postline reads, from environment variables, in one place.

A wrong value fails at start (``settings()`` raises ConfigError), not in the middle of a
request. Tests and the local runtime call ``reload()`` after changing the environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache


class ConfigError(RuntimeError):
    pass


def env_int(name: str, default: int) -> int:
    """An integer setting from the environment (unset or empty: the default)."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc


def env_bool(name: str, default: bool) -> bool:
    """A yes/no setting from the environment (1/true/yes/on, 0/false/no/off)."""
    raw = (os.environ.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _str(name: str, default: str) -> str:
    return os.environ.get(name) or default


def _signing_secret(stage: str) -> str:
    secret = os.environ.get("POSTLINE_SIGNING_SECRET") or ""
    if not secret and stage == "prod":
        raise ConfigError("POSTLINE_SIGNING_SECRET must be set in prod (it signs unsubscribe links)")
    return secret or f"postline-{stage}-insecure-signing-secret"


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from exc
    if value < 0:
        raise ConfigError(f"{name} must not be negative, got {raw!r}")
    return value


def _plan_limits(name: str, default: str) -> dict[str, int]:
    """``free:2000,basic:10000`` -> {"free": 2000, "basic": 10000} (plan names lowercased)."""
    raw = os.environ.get(name) or default
    limits: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in raw.split(","))):
        plan, sep, value = part.partition(":")
        try:
            limits[plan.strip().lower()] = int(value)
        except ValueError:
            sep = ""
        if not sep or not plan.strip():
            raise ConfigError(f"{name} must look like 'free:2000,basic:10000', got {raw!r}")
    return limits


def _host_port(name: str) -> tuple[str, int] | None:
    """``host:port`` (or a bare host, port 53; ``[v6]:port`` for IPv6)."""
    raw = (os.environ.get(name) or "").strip()
    if not raw:
        return None
    host, port = raw, "53"
    if raw.startswith("["):
        host, _, rest = raw[1:].partition("]")
        port = rest.lstrip(":") or "53"
    elif raw.count(":") == 1:
        host, port = raw.split(":")
    try:
        return host, int(port)
    except ValueError as exc:
        raise ConfigError(f"{name} must be host:port, got {raw!r}") from exc


def _choice(name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = _str(name, default).strip().lower()
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    return value


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
    auth_failure_limit: int  # failed authentications per client IP (and per token prefix) ... (0: no limit)
    auth_failure_window_seconds: int  # ... in this many seconds, before further attempts get 429 / SMTP 454
    # Sending (chalicelib/sending).
    max_message_bytes: int  # one message's content incl. decoded attachments (seed: 10 MB)
    signing_secret: str = field(repr=False)  # HMAC key of unsubscribe and raw-message links; kept out of logs
    # Sending domains (chalicelib/domains): what the DNS records point at and how they are checked.
    dns_resolver: tuple[str, int] | None  # None: the system resolver; else every lookup goes here
    dns_timeout_seconds: float
    verification_host: str  # target of each domain's ownership CNAME
    tracking_host: str  # target of the mt-link click-tracking CNAME
    tracking_caa_issuers: tuple[str, ...]  # CAs that must be allowed to issue for mt-link
    dkim_host: str  # Easy DKIM CNAMEs point at <token>.<dkim_host>
    mail_from_subdomain: str  # custom MAIL FROM: <subdomain>.<domain> (MX + SPF TXT)
    mail_from_mx: str  # the MX of the MAIL FROM subdomain
    spf_include: str  # the include: the SPF record must contain
    compliance_review: str  # "auto" or "manual"
    dns_grace_hours: int  # a verified domain whose records vanish keeps sending this long
    demo_domain: str  # every account's demo domain (sends only to the owner)
    system_sender: str  # From of Postline's own mail (setup instructions, usage notices)
    # Automations (chalicelib/automations).
    automations_per_account: int  # seed 001: "up to 20 Automations" per account
    automation_runs_per_month: dict[str, int]  # "Automations run count" per plan (account.plan)
    automation_time_scale: float  # real seconds waited per second of a delay step (tests: 0)
    automation_role_arn: str | None  # role the state machines run as; None: derived from the account
    # Sending limits (chalicelib/limits): what SES allows this AWS account, and each domain's share.
    ses_max_send_rate: float  # messages per second, deployment-wide (the SES account's max send rate)
    domain_send_rate: float  # messages per second from one sending domain (kept under the SES rate)
    default_plan: str | None  # plan of accounts the operator has not set one for (None: the account's own)
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
    region = _str("AWS_DEFAULT_REGION", "us-east-1")
    demo_domain = _str("POSTLINE_DEMO_DOMAIN", "demo.postline.invalid").lower()
    return Settings(
        stage=stage,
        region=region,
        aws_endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None,
        resource_prefix=_str("POSTLINE_RESOURCE_PREFIX", f"postline-{stage}-"),
        public_api_url=_str("POSTLINE_PUBLIC_API_URL", "http://127.0.0.1:8000"),
        rate_limit_requests=env_int("POSTLINE_RATE_LIMIT_REQUESTS", 150),
        rate_limit_window_seconds=env_int("POSTLINE_RATE_LIMIT_WINDOW_SECONDS", 10),
        max_body_bytes=env_int("POSTLINE_MAX_BODY_BYTES", 10 * 1024 * 1024),
        token_reset_grace_hours=env_int("POSTLINE_TOKEN_RESET_GRACE_HOURS", 12),
        default_token_lifetime_days=env_int("POSTLINE_TOKEN_LIFETIME_DAYS", 365),
        auth_failure_limit=env_int("POSTLINE_AUTH_FAILURE_LIMIT", 30),
        auth_failure_window_seconds=env_int("POSTLINE_AUTH_FAILURE_WINDOW_SECONDS", 60),
        max_message_bytes=env_int("POSTLINE_MAX_MESSAGE_BYTES", 10 * 1024 * 1024),
        signing_secret=_signing_secret(stage),
        dns_resolver=_host_port("POSTLINE_DNS_RESOLVER"),
        dns_timeout_seconds=_float("POSTLINE_DNS_TIMEOUT_SECONDS", 3.0),
        verification_host=_str("POSTLINE_VERIFICATION_HOST", "verify.postline.invalid").lower(),
        tracking_host=_str("POSTLINE_TRACKING_HOST", "track.postline.invalid").lower(),
        tracking_caa_issuers=tuple(i.strip().lower() for i in _str(
            "POSTLINE_TRACKING_CAA_ISSUERS", "amazon.com,letsencrypt.org,pki.goog").split(",") if i.strip()),
        dkim_host=_str("POSTLINE_DKIM_HOST", "dkim.amazonses.com").lower(),
        mail_from_subdomain=_str("POSTLINE_MAIL_FROM_SUBDOMAIN", "bounces").lower(),
        mail_from_mx=_str("POSTLINE_MAIL_FROM_MX", f"feedback-smtp.{region}.amazonses.com").lower(),
        spf_include=_str("POSTLINE_SPF_INCLUDE", "amazonses.com").lower(),
        compliance_review=_choice("POSTLINE_COMPLIANCE_REVIEW", "auto", ("auto", "manual")),
        dns_grace_hours=env_int("POSTLINE_DNS_GRACE_HOURS", 72),
        demo_domain=demo_domain,
        system_sender=_str("POSTLINE_SYSTEM_SENDER", f"Postline <no-reply@{demo_domain}>"),
        automations_per_account=env_int("POSTLINE_AUTOMATIONS_PER_ACCOUNT", 20),
        automation_runs_per_month=_plan_limits(
            "POSTLINE_AUTOMATION_RUNS_PER_MONTH", "free:1000,basic:10000,business:100000,enterprise:1000000"),
        automation_time_scale=_float("POSTLINE_AUTOMATION_TIME_SCALE", 1.0),
        automation_role_arn=os.environ.get("POSTLINE_AUTOMATION_ROLE_ARN") or None,
        ses_max_send_rate=_float("POSTLINE_SES_MAX_SEND_RATE", 14.0),
        domain_send_rate=_float("POSTLINE_DOMAIN_SEND_RATE", 10.0),
        default_plan=os.environ.get("POSTLINE_DEFAULT_PLAN") or None,
        contacts_limit=env_int("POSTLINE_CONTACTS_LIMIT", 1_000_000),
        contacts_rate_limit_requests=env_int("POSTLINE_CONTACTS_RATE_LIMIT_REQUESTS", 200),
        contacts_rate_limit_window_seconds=env_int("POSTLINE_CONTACTS_RATE_LIMIT_WINDOW_SECONDS", 60),
    )


def reload() -> Settings:
    settings.cache_clear()
    return settings()
