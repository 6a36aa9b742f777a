"""The SES side of a sending domain: its identity, Easy DKIM tokens and custom MAIL FROM.

SESv2 CreateEmailIdentity returns the three Easy DKIM tokens in AWS. The local emulation
(moto) returns none (shared/spec/extracts/stack-probe-2.md §5), so the tokens come, in
order, from: SESv2's answer; SES v1 VerifyDomainDkim on the same identity (AWS answers it
with the same tokens, moto with stable ones); and only if both give nothing, placeholders
derived from the domain name, flagged ``placeholder`` so an operator can tell.
"""

from __future__ import annotations

import hashlib
import logging

from botocore.exceptions import ClientError

from chalicelib.core import aws, redrive
from chalicelib.core.config import settings

log = logging.getLogger("postline.domains.ses")

# The emulator answers operations it has not implemented with NotImplementedError in process
# and a 404 ClientError in server mode; AWS implements all of them.
_UNSUPPORTED = (ClientError, NotImplementedError)


def register_identity(domain_name: str) -> tuple[list[str], str]:
    """Create (or reuse) the SES identity; return its DKIM tokens and where they came from."""
    sesv2 = aws.client("sesv2")
    try:
        response = sesv2.create_email_identity(EmailIdentity=domain_name)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "AlreadyExistsException":
            raise
        response = sesv2.get_email_identity(EmailIdentity=domain_name)
    tokens = list((response.get("DkimAttributes") or {}).get("Tokens") or [])
    if tokens:
        return tokens, "sesv2"
    try:
        tokens = list(aws.client("ses").verify_domain_dkim(Domain=domain_name).get("DkimTokens") or [])
    except _UNSUPPORTED:
        log.warning("SES returned no DKIM tokens for %s", domain_name)
        tokens = []
    if tokens:
        return tokens, "ses"
    return placeholder_tokens(domain_name), "placeholder"


def placeholder_tokens(domain_name: str) -> list[str]:
    digest = hashlib.sha256(f"postline-dkim:{domain_name}".encode()).hexdigest()
    return [digest[i * 20:(i + 1) * 20] for i in range(3)]


def set_mail_from(domain_name: str) -> None:
    """Point the identity's MAIL FROM at <subdomain>.<domain> (the MX + SPF records)."""
    mail_from = f"{settings().mail_from_subdomain}.{domain_name}"
    try:
        aws.client("sesv2").put_email_identity_mail_from_attributes(
            EmailIdentity=domain_name, MailFromDomain=mail_from, BehaviorOnMxFailure="USE_DEFAULT_VALUE")
        return
    except _UNSUPPORTED:
        pass
    try:
        aws.client("ses").set_identity_mail_from_domain(
            Identity=domain_name, MailFromDomain=mail_from, BehaviorOnMXFailure="UseDefaultValue")
    except _UNSUPPORTED:
        log.warning("could not set the MAIL FROM domain of %s", domain_name)


def delete_identity(domain_name: str) -> None:
    try:
        aws.client("sesv2").delete_email_identity(EmailIdentity=domain_name)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "NotFoundException":
            raise


def ensure_identity(domain_name: str) -> None:
    """The demo domain's identity: created if missing, never deleted by Postline."""
    try:
        aws.client("sesv2").get_email_identity(EmailIdentity=domain_name)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "NotFoundException":
            raise
        register_identity(domain_name)


@redrive.register("domains")
def restore_identities() -> int:
    """At a local start: the SES identity of every live domain, made again where missing.

    The local stack keeps SES's writes across restarts (local/recording.py), but
    state saved before it did holds none, and then no domain could send."""
    from chalicelib.domains.models import Domain  # models import nothing of this module's

    names = {d.domain_name for d in Domain.scan(Domain.deleted_at.does_not_exist())}
    for name in sorted(names):
        ensure_identity(name)
    return len(names)
