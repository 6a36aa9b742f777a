"""``mailtrap configure`` and ``mailtrap stats ...``; every command takes ``--output json``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from mailtrap_cli import api, settings

STATS = {"summary": "", "by-domain": "/domains", "by-category": "/categories",
         "by-esp": "/email_service_providers", "by-date": "/date"}
COLUMNS = ("delivery_count", "delivery_rate", "bounce_count", "bounce_rate", "open_count", "open_rate",
           "click_count", "click_rate", "spam_count", "spam_rate")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="mailtrap", description="Postline's Mailtrap-compatible command line")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--output", choices=("text", "json"), default="text")
    common.add_argument("--api-url", help=f"the API's base URL (default: saved, else {settings.DEFAULT_API_URL})")
    commands = top.add_subparsers(dest="command", required=True)
    configure = commands.add_parser("configure", parents=[common], help="check a token and save it")
    configure.add_argument("--api-token", required=True)
    stats = commands.add_parser("stats", help="sending stats (the last 7 days and today by default)")
    kinds = stats.add_subparsers(dest="kind", required=True)
    for kind in STATS:
        sub = kinds.add_parser(kind, parents=[common])
        sub.add_argument("--start-date")
        sub.add_argument("--end-date")
        sub.add_argument("--domain-ids", "--domain-id", help="comma-separated sending domain ids")
        sub.add_argument("--streams", help="comma-separated: transactional, bulk")
        sub.add_argument("--categories", help="comma-separated")
        sub.add_argument("--esps", help="comma-separated mailbox providers")
    return top


def _account(config: settings.Settings) -> str:
    accounts = api.get(config.api_url, config.api_token, "/api/accounts")
    if not accounts:
        raise api.ApiError("the token gives access to no account")
    return str(accounts[0]["id"])


def configure(args: argparse.Namespace) -> Any:
    config = settings.load(api_token=args.api_token, api_url=args.api_url)
    account_id = _account(config)  # validates the token too
    path = settings.save(config.api_token, account_id, config.api_url)
    return {"account_id": int(account_id), "config_file": str(path)}


def stats(args: argparse.Namespace) -> Any:
    config = settings.load(api_url=args.api_url)
    if not config.api_token:
        raise api.ApiError("no API token: run `mailtrap configure --api-token ...` or set MAILTRAP_API_TOKEN")
    account_id = config.account_id or _account(config)
    params = [(k, v) for k, v in (("start_date", args.start_date), ("end_date", args.end_date)) if v]
    for flag, name in (("domain_ids", "sending_domain_ids[]"), ("streams", "sending_streams[]"),
                       ("categories", "categories[]"), ("esps", "email_service_providers[]")):
        params += [(name, v.strip()) for v in (getattr(args, flag) or "").split(",") if v.strip()]
    return api.get(config.api_url, config.api_token, f"/api/accounts/{account_id}/stats{STATS[args.kind]}", params)


def text(result: Any) -> str:
    if isinstance(result, dict) and "delivery_count" in result:
        return "\n".join(f"{k}: {result.get(k)}" for k in COLUMNS)
    if isinstance(result, list):
        rows = [[str(next(v for k, v in r.items() if k != "stats")), *(str(r["stats"].get(c)) for c in COLUMNS)]
                for r in result]
        return "\n".join("\t".join(row) for row in [["value", *COLUMNS], *rows])
    return "\n".join(f"{k}: {v}" for k, v in result.items()) if isinstance(result, dict) else str(result)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        result = configure(args) if args.command == "configure" else stats(args)
    except api.ApiError as exc:
        print(f"mailtrap: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2) if args.output == "json" else text(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
