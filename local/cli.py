"""``python -m local <command>``: run the local stack, or operate on a running one.

Commands other than ``run`` talk to the stack that ``make run`` started from the state
directory (POSTLINE_STATE_DIR, default .postline: see local/state.py), through the
same service functions the API uses; with no such stack running they refuse. To add one, write a
function taking the parsed arguments and decorate it with ``@command``:

    @command("approve-domain", "mark a sending domain verified", [
        arg("--domain-id", type=int, required=True)])
    def approve_domain(args: argparse.Namespace) -> int:
        connect()
        ...
        return 0
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from local.settings import LocalSettings, local_settings


@dataclass(frozen=True)
class Arg:
    flags: tuple[str, ...]
    options: dict[str, Any]


def arg(*flags: str, **options: Any) -> Arg:
    return Arg(flags, options)


Handler = Callable[[argparse.Namespace], int]
COMMANDS: dict[str, tuple[str, list[Arg], Handler]] = {}


def command(name: str, help: str, args: list[Arg] | None = None) -> Callable[[Handler], Handler]:  # noqa: A002
    def register(handler: Handler) -> Handler:
        COMMANDS[name] = (help, args or [], handler)
        return handler
    return register


class CommandError(RuntimeError):
    """A failure the user can act on: printed as one line, exit status 1."""


def connect() -> LocalSettings:
    """Load the app against the stack running from the state directory, or explain why not."""
    from local.operator import connect as connect_operator
    from local.state import StackNotFound

    try:
        return connect_operator()
    except StackNotFound as exc:
        raise CommandError(str(exc)) from None


@command("run", "start the local stack in the foreground (Ctrl-C stops it)")
def run(args: argparse.Namespace) -> int:
    import logging

    from local import runtime

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("pynamodb").setLevel(logging.WARNING)  # app.py does this too, after pynamodb's import chatter
    return runtime.run(local_settings())


@command("create-account", "create an account with an owner and a full-access API token", [
    arg("--name", required=True, help="account name"),
    arg("--email", required=True, help="the owner's email address")])
def create_account(args: argparse.Namespace) -> int:
    connect()
    from chalicelib.accounts import service

    account, token = service.create_account(args.name, args.email)
    print(json.dumps({"account_id": account.account_id, "name": account.name, "api_token": token}, indent=2))
    return 0


@command("create-token", "create an admin API token in an account", [
    arg("--account-id", type=int, required=True),
    arg("--name", required=True, help="token name"),
    arg("--access-level", choices=["admin", "viewer"], default="admin"),
    arg("--expires-at", help="ISO 8601 date-time, or 'never' (default: the standard token lifetime)")])
def create_token(args: argparse.Namespace) -> int:
    connect()
    from chalicelib.accounts import service
    from chalicelib.accounts.request_models import TokenCreate
    from chalicelib.core.errors import PostlineError
    from chalicelib.core.permissions import OWNER, Grant, Principal
    from chalicelib.core.request_models import parse

    try:
        service.get_account(args.account_id)
        # The operator acts as the account's owner; the service applies its usual rules.
        operator = Principal(args.account_id, 0, "postline CLI", (Grant("account", args.account_id, OWNER),))
        fields: dict[str, Any] = {"name": args.name, "resources": [
            {"resource_type": "account", "resource_id": args.account_id, "access_level": args.access_level}]}
        if args.expires_at is not None:
            fields["expires_at"] = None if args.expires_at == "never" else args.expires_at
        token, value = service.create_token(operator, parse(TokenCreate, fields))
    except PostlineError as exc:
        raise CommandError(f"account {args.account_id}: {exc.message}") from None
    print(json.dumps(service.token_to_wire(token, value), indent=2))
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m local", description=__doc__.splitlines()[0])
    subs = top.add_subparsers(dest="command", required=True, metavar="command")
    for name, (help_text, args, handler) in COMMANDS.items():
        sub = subs.add_parser(name, help=help_text, description=help_text)
        for a in args:
            sub.add_argument(*a.flags, **a.options)
        sub.set_defaults(handler=handler)
    return top


def main(argv: list[str] | None = None) -> int:
    from chalicelib.core.config import ConfigError
    from local.emulator import EmulatorError
    from local.scheduler import ScheduleError

    args = parser().parse_args(argv)
    try:
        return args.handler(args)
    except (CommandError, ConfigError, EmulatorError, ScheduleError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
