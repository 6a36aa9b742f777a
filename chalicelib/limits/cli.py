"""Operator CLI for sending limits (same environment as the API: AWS_ENDPOINT_URL, POSTLINE_*).

    python -m chalicelib.limits.cli show --account-id 3
    python -m chalicelib.limits.cli set --account-id 3 --plan business
    python -m chalicelib.limits.cli set --account-id 3 --hourly 2000 --monthly none
    python -m chalicelib.limits.cli plans
"""

from __future__ import annotations

import argparse
import json
import sys

from chalicelib.core.errors import NotFound
from chalicelib.limits import plans, service


def _limit(value: str) -> int:
    if value.strip().lower() in ("none", "unlimited", "-1"):
        return -1
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError("a limit is a number >= 0, or 'none'")
    return number


def _show(account_id: int) -> dict:
    limits = service.limits_for(account_id, fresh=True)
    return {"account_id": account_id, "plan": limits.plan.key, "hourly": limits.hourly, "daily": limits.daily,
            "monthly": limits.monthly, "monthly_used": service.monthly_used(account_id)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.limits.cli", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("plans", help="list the plans and their limits")
    show = commands.add_parser("show", help="an account's effective limits and this month's usage")
    show.add_argument("--account-id", type=int, required=True)
    change = commands.add_parser("set", help="change an account's plan or limits")
    change.add_argument("--account-id", type=int, required=True)
    change.add_argument("--plan", choices=sorted(plans.PLANS))
    for name in ("hourly", "daily", "monthly"):
        change.add_argument(f"--{name}", type=_limit, help="a number, or 'none' for no limit")
    args = parser.parse_args(argv)
    try:
        if args.command == "plans":
            out = [vars(p) for p in plans.PLANS.values()]
        elif args.command == "show":
            out = _show(args.account_id)
        else:
            values = {n: getattr(args, n) for n in ("hourly", "daily", "monthly") if getattr(args, n) is not None}
            service.set_limits(args.account_id, plan=args.plan, **values)
            out = _show(args.account_id)
    except NotFound:
        print(f"no account {getattr(args, 'account_id', '')}", file=sys.stderr)
        return 1
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
