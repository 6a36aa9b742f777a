"""Real DNS lookups of a domain's records, each judged with a sentence a person can act on.

Every lookup goes to ``POSTLINE_DNS_RESOLVER`` (host:port) when it is set, else to the
system's resolver. CNAME targets must match exactly (case and the trailing dot aside); TXT
records are parsed, so an SPF record with other mechanisms that still includes ours passes
and a DMARC record passes with any policy. Outcomes: ``pass``, ``fail`` (something else is
published), ``missing`` (nothing is) and ``network_error`` (no answer; says nothing about
the domain).
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib.core.config import settings

if TYPE_CHECKING:
    import dns.resolver

PASS, FAIL, MISSING, NETWORK_ERROR = "pass", "fail", "missing", "network_error"
DMARC_POLICIES = ("none", "quarantine", "reject")


@dataclass(frozen=True)
class Outcome:
    status: str
    explanation: str


@dataclass(frozen=True)
class Answer:
    kind: str  # ok, nxdomain, noanswer, error
    rrset: Any = None
    error: str = ""


def resolver() -> dns.resolver.Resolver:
    import dns.resolver  # dnspython loads with the first check, not with every function's app import

    cfg = settings()
    if cfg.dns_resolver:
        r = dns.resolver.Resolver(configure=False)
        r.nameservers = [cfg.dns_resolver[0]]
        r.port = cfg.dns_resolver[1]
    else:
        r = dns.resolver.Resolver()
    r.timeout = r.lifetime = cfg.dns_timeout_seconds
    return r


def lookup(res: dns.resolver.Resolver, name: str, rtype: str) -> Answer:
    import dns.exception
    import dns.resolver

    try:
        return Answer("ok", res.resolve(name, rtype, search=False))
    except dns.resolver.NXDOMAIN:
        return Answer("nxdomain")
    except dns.resolver.NoAnswer:
        return Answer("noanswer")
    except dns.exception.Timeout:
        return Answer("error", error="the DNS server did not answer in time")
    except (dns.resolver.NoNameservers, dns.exception.DNSException, OSError) as exc:
        return Answer("error", error=type(exc).__name__)


def _bare(host: str) -> str:
    return host.strip().rstrip(".").lower()


def _txt_strings(rrset: Any) -> list[str]:
    return [b"".join(r.strings).decode("utf-8", "replace") for r in rrset]


def _quote_all(texts: Iterable[str]) -> str:
    return ", ".join(f'"{t}"' for t in texts)


def _not_found(res: dns.resolver.Resolver, fqdn: str, domain: str, rtype: str, answer: Answer) -> Outcome:
    if answer.kind == "error":
        return Outcome(NETWORK_ERROR, f"Could not look up {fqdn}: {answer.error}. It will be checked again.")
    what = f"No {rtype} record at {fqdn}"
    what += " (the name does not exist)." if answer.kind == "nxdomain" else " (the name has other records only)."
    # The most common mistake: a DNS provider that appends the zone to a full name.
    doubled = f"{fqdn}.{domain}"
    if lookup(res, doubled, rtype).kind == "ok":
        what += (f" It was found at {doubled} instead: your DNS provider adds {domain} itself,"
                 f" so enter only the part before {domain} as the name.")
    return Outcome(MISSING, what)


def check_cname(res: dns.resolver.Resolver, fqdn: str, expected: str, domain: str) -> Outcome:
    answer = lookup(res, fqdn, "CNAME")
    if answer.kind != "ok":
        return _not_found(res, fqdn, domain, "CNAME", answer)
    found = _bare(answer.rrset[0].target.to_text())
    if found == _bare(expected):
        return Outcome(PASS, f"Found CNAME {fqdn} -> {found}.")
    return Outcome(FAIL, f"Found CNAME {fqdn} -> {found}, but it must point to {_bare(expected)}.")


def check_mx(res: dns.resolver.Resolver, fqdn: str, expected: str, domain: str) -> Outcome:
    expected_host = _bare(expected.split()[-1])
    answer = lookup(res, fqdn, "MX")
    if answer.kind != "ok":
        return _not_found(res, fqdn, domain, "MX", answer)
    found = sorted((r.preference, _bare(r.exchange.to_text())) for r in answer.rrset)
    listed = ", ".join(f"{p} {h}" for p, h in found)
    if any(host == expected_host for _, host in found):
        return Outcome(PASS, f"Found MX {listed}.")
    return Outcome(FAIL, f"Found MX {listed} at {fqdn}, but it must be {expected}.")


def _spf_includes(record: str) -> set[str]:
    """The domains an SPF record includes (pass-qualified) or redirects to."""
    found = set()
    for term in record.split()[1:]:
        term = term.lower()
        if term.startswith("+"):
            term = term[1:]
        if term.startswith("include:"):
            found.add(_bare(term[len("include:"):]))
        elif term.startswith("redirect="):
            found.add(_bare(term[len("redirect="):]))
    return found


def check_spf(res: dns.resolver.Resolver, fqdn: str, expected: str, domain: str) -> Outcome:
    include = settings().spf_include
    answer = lookup(res, fqdn, "TXT")
    if answer.kind != "ok":
        return _not_found(res, fqdn, domain, "TXT", answer)
    texts = _txt_strings(answer.rrset)
    spf = [t for t in texts if t.lower() == "v=spf1" or t.lower().startswith("v=spf1 ")]
    if not spf:
        return Outcome(MISSING, f"No SPF record at {fqdn}; its TXT records are {_quote_all(texts)}.")
    if len(spf) > 1:
        return Outcome(FAIL, f"Found {len(spf)} SPF records at {fqdn} ({_quote_all(spf)}); receivers "
                             "reject a domain with more than one, so merge them into one record.")
    if _bare(include) in _spf_includes(spf[0]):
        return Outcome(PASS, f'Found "{spf[0]}", which includes {include}.')
    return Outcome(FAIL, f'Found "{spf[0]}" at {fqdn}, which does not include {include}; add '
                         f"include:{include} before the all mechanism (or publish \"{expected}\").")


def _dmarc_policy(record: str) -> str | None:
    tags = dict(part.strip().split("=", 1) for part in record.split(";") if "=" in part)
    tags = {k.strip().lower(): v.strip().lower() for k, v in tags.items()}
    policy = tags.get("p")
    return policy if policy in DMARC_POLICIES else None


def check_dmarc(res: dns.resolver.Resolver, fqdn: str, expected: str, domain: str) -> Outcome:
    answer = lookup(res, fqdn, "TXT")
    if answer.kind == "error":
        return _not_found(res, fqdn, domain, "TXT", answer)
    texts = _txt_strings(answer.rrset) if answer.kind == "ok" else []
    dmarc = [t for t in texts if t.replace(" ", "").lower().startswith("v=dmarc1")]
    if not dmarc:
        inherited = _parent_dmarc(res, domain)
        if inherited:
            return Outcome(PASS, f"No DMARC record at {fqdn}; the policy of {inherited[0]} applies "
                                 f'("{inherited[1]}").')
        if texts:
            return Outcome(MISSING, f"No DMARC record at {fqdn}; its TXT records are {_quote_all(texts)}.")
        return _not_found(res, fqdn, domain, "TXT", answer)
    if len(dmarc) > 1:
        return Outcome(FAIL, f"Found {len(dmarc)} DMARC records at {fqdn}; receivers ignore all of them "
                             "when there is more than one, so keep one.")
    policy = _dmarc_policy(dmarc[0])
    if policy:
        return Outcome(PASS, f'Found "{dmarc[0]}" (policy p={policy}).')
    return Outcome(FAIL, f'Found "{dmarc[0]}" at {fqdn}, which has no valid p= tag; use for example '
                         f'"{expected}".')


def _parent_dmarc(res: dns.resolver.Resolver, domain: str) -> tuple[str, str] | None:
    """A subdomain without its own DMARC record is covered by its parent's (organizational) one."""
    labels = domain.split(".")
    for i in range(1, len(labels) - 1):
        parent = ".".join(labels[i:])
        answer = lookup(res, f"_dmarc.{parent}", "TXT")
        if answer.kind == "ok":
            for text in _txt_strings(answer.rrset):
                if text.replace(" ", "").lower().startswith("v=dmarc1") and _dmarc_policy(text):
                    return parent, text
    return None


CHECKS = {"CNAME": check_cname, "MX": check_mx}


def check_record(res: dns.resolver.Resolver, key: str, rtype: str, fqdn: str, expected: str,
                 domain: str) -> Outcome:
    if key == "spf":
        return check_spf(res, fqdn, expected, domain)
    if key == "dmarc":
        return check_dmarc(res, fqdn, expected, domain)
    return CHECKS[rtype](res, fqdn, expected, domain)


def check_caa(res: dns.resolver.Resolver, tracking_host: str) -> Outcome:
    """Whether a CA Postline uses may issue a certificate for the tracking hostname (RFC 8659:
    the closest CAA record set walking up from the name decides; no CAA at all allows any CA)."""
    allowed = settings().tracking_caa_issuers
    labels = tracking_host.split(".")
    for i in range(len(labels) - 1):
        name = ".".join(labels[i:])
        answer = lookup(res, name, "CAA")
        if answer.kind == "error":
            return Outcome(NETWORK_ERROR, f"Could not look up CAA records of {name}: {answer.error}.")
        if answer.kind != "ok":
            continue
        issue = [r.value.decode("utf-8", "replace") for r in answer.rrset if r.tag.lower() == b"issue"]
        if not issue:
            return Outcome(PASS, f"The CAA records of {name} do not restrict certificate issuance.")
        issuers = {v.split(";")[0].strip().lower() for v in issue}
        if issuers & set(allowed):
            return Outcome(PASS, f"The CAA records of {name} allow {', '.join(sorted(issuers & set(allowed)))}.")
        shown = ", ".join(sorted(i or '";" (no CA)' for i in issuers))
        return Outcome(FAIL, f"Click tracking disabled - custom hostname blocked: the CAA records of {name} "
                             f"allow only {shown}, so no certificate can be issued for {tracking_host}. "
                             f'Add a CAA record 0 issue "{allowed[0]}" or remove the CAA records.')
    return Outcome(PASS, f"No CAA records: any certificate authority may issue for {tracking_host}.")


def check_all(items: list[tuple[str, str, str, str]], domain: str,
              tracking_host: str | None = None) -> tuple[list[Outcome], Outcome | None]:
    """Check (key, type, fqdn, expected) records in parallel, plus CAA for the tracking host."""
    res = resolver()
    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(check_record, res, key, rtype, fqdn, expected, domain)
                   for key, rtype, fqdn, expected in items]
        caa = pool.submit(check_caa, res, tracking_host) if tracking_host else None
        return [f.result() for f in futures], (caa.result() if caa else None)
