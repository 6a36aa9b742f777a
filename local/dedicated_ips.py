"""Operator CLI for dedicated IPs (seed-C §2.3).

    python -m local.dedicated_ips set --account-id 3 --ip 198.51.100.7 --pool acme --start 2026-12-08
    python -m local.dedicated_ips show --account-id 3

``set`` creates the SES dedicated IP pool and its configuration set when missing and starts
the 21-day warm-up on --start (default today, UTC). Local stack by default; --aws for the
deployment your AWS credentials reach.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date

from local.operator import run_tool


def _show(account_id: int) -> dict | None:
    from chalicelib.core import clock
    from chalicelib.sending import dedicated_ips

    dedicated_ips.forget_cached()
    ip = dedicated_ips.for_account(account_id)
    if ip is None:
        return None
    day = dedicated_ips.warmup_day(ip, clock.now())
    limit = dedicated_ips.caps(day)
    return {"account_id": account_id, "ip": ip.ip, "pool": ip.pool_name, "configuration_set": ip.configuration_set,
            "warmup_start": ip.warmup_start, "warmup_day": day,
            "per_day": limit[0] if limit else None, "per_hour": limit[1] if limit else None}


def _run(args: argparse.Namespace) -> int:
    from chalicelib.sending import dedicated_ips

    if args.command == "set":
        dedicated_ips.assign(args.account_id, args.ip, args.pool, args.start)
    out = _show(args.account_id)
    if out is None:
        print(f"error: account {args.account_id} has no dedicated IP", file=sys.stderr)
        return 1
    print(json.dumps(out, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.dedicated_ips", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    show = commands.add_parser("show", help="an account's dedicated IP, warm-up day and today's caps")
    show.add_argument("--account-id", type=int, required=True)
    change = commands.add_parser("set", help="give an account a dedicated IP and start its warm-up")
    change.add_argument("--account-id", type=int, required=True)
    change.add_argument("--ip", required=True)
    change.add_argument("--pool", required=True, help="the SES dedicated IP pool's name")
    change.add_argument("--start", type=date.fromisoformat, help="warm-up day 1, YYYY-MM-DD (default today)")
    parser.add_argument("--aws", action="store_true",
                        help="use the deployment your AWS credentials reach instead of the local stack")
    args = parser.parse_args(argv)
    return run_tool(args.aws, lambda: _run(args))


if __name__ == "__main__":
    sys.exit(main())
