"""Operator commands for sending domains (beside ``python -m local``'s own commands).

    python -m local.domains pending                       # domains waiting for review
    python -m local.domains approve --domain-id 12 [--note "..."]
    python -m local.domains reject  --domain-id 12 --reason "..."
    python -m local.domains check   --domain-id 12        # re-check DNS now
    python -m local.domains zone    --domain-id 12 --output my.zone   # its records as a zone file

It works on the local stack running from the state directory (POSTLINE_STATE_DIR, default
.postline; no credentials needed), or with ``--aws`` on the deployment your AWS credentials
reach (POSTLINE_RESOURCE_PREFIX as the deployment has it). ``zone`` writes the records in
zone-file form, ready for a stub DNS server (see the README): with ``--output`` the file is
replaced only once everything is known, so a failed command never empties it.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from local.operator import run_tool

if TYPE_CHECKING:
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


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.domains", description=__doc__.split("\n")[0])
    parser.add_argument("--aws", action="store_true",
                        help="use the deployment your AWS credentials reach instead of the local stack")
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
    commands.choices["zone"].add_argument(
        "--output", type=Path, help="write the zone file here (replaced only on success) instead of stdout")
    args = parser.parse_args(argv)
    return run_tool(args.aws, lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    from chalicelib.core.errors import PostlineError
    from chalicelib.domains import compliance, verification

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
            zone = zone_file(compliance.find(args.domain_id))  # whole before anything is written
            if args.output:
                _write_atomically(args.output, zone)
            else:
                sys.stdout.write(zone)
    except PostlineError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
