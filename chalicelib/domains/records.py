"""The DNS records a sending domain must publish, built from SES's answer and configuration.

| key | type | name | value | required |
|---|---|---|---|---|
| verification | CNAME | <random token> | POSTLINE_VERIFICATION_HOST | yes (proves ownership) |
| dkim1..3 | CNAME | <token>._domainkey | <token>.POSTLINE_DKIM_HOST | yes (SES Easy DKIM) |
| mail_from_mx | MX | POSTLINE_MAIL_FROM_SUBDOMAIN | 10 POSTLINE_MAIL_FROM_MX | yes (custom MAIL FROM) |
| spf | TXT | POSTLINE_MAIL_FROM_SUBDOMAIN | v=spf1 include:POSTLINE_SPF_INCLUDE ~all | yes |
| dmarc | TXT | _dmarc | v=DMARC1; p=none; | yes (any policy passes) |
| link_verification | CNAME | mt-link | POSTLINE_TRACKING_HOST | no (custom click-tracking host) |

The SPF record sits on the MAIL FROM subdomain because that is the envelope sender SES
uses (and the domain receivers check SPF on); with relaxed DMARC alignment it aligns with
the From domain.
"""

from __future__ import annotations

import secrets

from chalicelib.core.config import settings
from chalicelib.domains.models import DnsRecordAttribute

TRACKING_LABEL = "mt-link"
MX_PRIORITY = 10
DMARC_VALUE = "v=DMARC1; p=none;"


def new_verification_token() -> str:
    # a DNS label that starts with a letter; unguessable, so only the domain's owner can publish it
    return "pl" + secrets.token_hex(7)


def _record(domain_name: str, key: str, rtype: str, name: str, value: str,
            required: bool = True) -> DnsRecordAttribute:
    fqdn = f"{name}.{domain_name}" if name else domain_name
    return DnsRecordAttribute(key=key, type=rtype, name=name, domain=fqdn, value=value,
                              required=required, status="unchecked", explanation=None)


def build(domain_name: str, verification_token: str, dkim_tokens: list[str]) -> list[DnsRecordAttribute]:
    cfg = settings()
    records = [_record(domain_name, "verification", "CNAME", verification_token, cfg.verification_host)]
    for i, token in enumerate(dkim_tokens, start=1):
        records.append(_record(domain_name, f"dkim{i}", "CNAME", f"{token}._domainkey",
                               f"{token}.{cfg.dkim_host}"))
    records += [
        _record(domain_name, "mail_from_mx", "MX", cfg.mail_from_subdomain,
                f"{MX_PRIORITY} {cfg.mail_from_mx}"),
        _record(domain_name, "spf", "TXT", cfg.mail_from_subdomain, f"v=spf1 include:{cfg.spf_include} ~all"),
        _record(domain_name, "dmarc", "TXT", "_dmarc", DMARC_VALUE),
        # Not required: it only decides whether links are rewritten through mt-link.<domain>.
        _record(domain_name, "link_verification", "CNAME", TRACKING_LABEL, cfg.tracking_host,
                required=False),
    ]
    return records


def tracking_hostname(domain_name: str) -> str:
    return f"{TRACKING_LABEL}.{domain_name}"
