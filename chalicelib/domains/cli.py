"""Operator commands for sending domains (separate from chalicelib.local's CLI).

    python -m chalicelib.domains.cli pending                       # domains waiting for review
    python -m chalicelib.domains.cli approve --domain-id 12 [--note "..."]
    python -m chalicelib.domains.cli reject  --domain-id 12 --reason "..."
    python -m chalicelib.domains.cli check   --domain-id 12        # re-check DNS now
    python -m chalicelib.domains.cli zone    --domain-id 12        # its records as a zone file

It talks to the same AWS as the API: set AWS_ENDPOINT_URL (the local stack's emulator) and
POSTLINE_RESOURCE_PREFIX as the API has them. ``zone`` prints the records in zone-file form,
ready for a stub DNS server (see the README).
"""

from __future__ import annotations

import argparse
import sys

from chalicelib.core.errors import PostlineError
from chalicelib.domains import compliance, verification
from chalicelib.domains.models import Domain


def _line(domain: Domain) -> str:
    return (f"{domain.domain_id:>6}  account {domain.account_id:<6} {domain.domain_name:<40} "
            f"{domain.compliance_status:<22} dns_verified={domain.dns_verified}")


def zone_file(domain: Domain, ttl: int = 300) -> str:
    lines = [f"; DNS records of {domain.domain_name} (Postline domain {domain.domain_id})"]
    for r in domain.records:
        if r.type == "TXT":
            value = '"' + r.value.replace('"', '\\"') + '"'
        elif r.type == "MX":
            priority, host = r.value.split()
            value = f"{priority} {host}."
        else:
            value = r.value.rstrip(".") + "."
        lines.append(f"{r.domain}. {ttl} IN {r.type} {value}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.domains.cli", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("pending", help="list domains waiting for a compliance review")
    approve = commands.add_parser("approve", help="mark a domain compliant")
    approve.add_argument("--domain-id", type=int, required=True)
    approve.add_argument("--note", default=None)
    reject = commands.add_parser("reject", help="mark a domain non-compliant (the Rejected badge)")
    reject.add_argument("--domain-id", type=int, required=True)
    reject.add_argument("--reason", required=True, help="shown to the account as compliance_note")
    for name in ("check", "zone"):
        about = "re-check DNS now" if name == "check" else "print the records as a zone file"
        sub = commands.add_parser(name, help=about)
        sub.add_argument("--domain-id", type=int, required=True)
    args = parser.parse_args(argv)
    try:
        if args.command == "pending":
            for domain in compliance.pending():
                print(_line(domain))
        elif args.command == "approve":
            print(_line(compliance.approve(args.domain_id, args.note)))
        elif args.command == "reject":
            print(_line(compliance.reject(args.domain_id, args.reason)))
        elif args.command == "check":
            domain = verification.check(compliance.find(args.domain_id))
            print(_line(domain))
            for r in domain.records:
                print(f"  {r.status:<13} {r.type:<5} {r.domain}: {r.explanation}")
        else:
            sys.stdout.write(zone_file(compliance.find(args.domain_id)))
    except PostlineError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
