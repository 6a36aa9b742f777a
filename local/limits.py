"""Operator CLI for sending limits.

    python -m local.limits show --account-id 3
    python -m local.limits set --account-id 3 --plan business
    python -m local.limits set --account-id 3 --hourly 2000 --monthly none
    python -m local.limits plans

It works on the local stack running from the state directory (POSTLINE_STATE_DIR, default
.postline; no credentials needed), or with --aws on the deployment your AWS credentials reach
(POSTLINE_RESOURCE_PREFIX as the deployment has it).
"""

from __future__ import annotations

import argparse
import json
import sys

from chalicelib.limits import plans
from local.operator import run_tool


def _limit(value: str) -> int:
    if value.strip().lower() in ("none", "unlimited", "-1"):
        return -1
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError("a limit is a number >= 0, or 'none'")
    return number


def _show(account_id: int) -> dict:
    from chalicelib.limits import service

    limits = service.limits_for(account_id, fresh=True)
    return {"account_id": account_id, "plan": limits.plan.key, "hourly": limits.hourly, "daily": limits.daily,
            "monthly": limits.monthly, "monthly_used": service.monthly_used(account_id)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.limits", description=__doc__,
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
    parser.add_argument("--aws", action="store_true",
                        help="use the deployment your AWS credentials reach instead of the local stack")
    args = parser.parse_args(argv)
    if args.command == "plans":  # fixed in the code: no stack needed
        print(json.dumps([vars(p) for p in plans.PLANS.values()], indent=2))
        return 0
    return run_tool(args.aws, lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    from chalicelib.core.errors import NotFound
    from chalicelib.limits import service

    try:
        if args.command == "show":
            out = _show(args.account_id)
        else:
            values = {n: getattr(args, n) for n in ("hourly", "daily", "monthly") if getattr(args, n) is not None}
            service.set_limits(args.account_id, plan=args.plan, **values)
            out = _show(args.account_id)
    except NotFound:
        print(f"error: no account {args.account_id}", file=sys.stderr)
        return 1
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
