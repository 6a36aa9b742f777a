"""The first owner account of a deployment, made once, so no one writes to DynamoDB by hand.

In AWS, `make bootstrap STAGE=... OWNER_EMAIL=...` invokes the ``bootstrap`` Lambda function
(app.py), which calls ``first_owner``; the token is in the function's return value only,
handed once to whoever invoked it, never logged. A second call is refused: the deployment
has its owner, who makes further accounts and tokens through the API. The local stack's
first start makes its owner the same way (local/bootstrap.py).
"""

from __future__ import annotations

import logging
from typing import Any

from chalicelib.accounts import service as accounts
from chalicelib.accounts.models import Account
from chalicelib.core.db import condition_failed
from chalicelib.core.emails import valid_email
from chalicelib.core.ids import Counter

log = logging.getLogger("postline.accounts.bootstrap")

ACCOUNT_NAME = "Postline"
_CLAIM = "bootstrap"  # a counters item: set once, by the one bootstrap that may run


class BootstrapRefused(ValueError):
    """Why no owner was made, for the invoker."""


def create_owner(owner_email: str, name: str = ACCOUNT_NAME) -> tuple[Account, str]:
    """An account with its owner and a full-access token (returned once, never stored in clear)."""
    email = valid_email(owner_email)
    if email is None:
        raise BootstrapRefused(f"{owner_email!r} is not a valid email address")
    return accounts.create_account(name.strip() or ACCOUNT_NAME, email)


def first_owner(owner_email: str, name: str = ACCOUNT_NAME) -> tuple[Account, str]:
    """The deployment's first owner account; refused once one was made."""
    claim = Counter(_CLAIM, value=1)
    try:
        claim.save(condition=Counter.name.does_not_exist())
    except Exception as exc:
        if condition_failed(exc):
            raise BootstrapRefused("this deployment already has its owner account: make further accounts and "
                                   "tokens through the API with the owner's token") from None
        raise
    try:
        account, token = create_owner(owner_email, name)
    except BaseException:
        claim.delete()  # nothing was made: the next attempt may run
        raise
    log.info("bootstrap: owner account %s created", account.account_id)
    return account, token


def handle(event: Any) -> dict[str, Any]:
    """The bootstrap function: ``{"owner_email": ..., "account_name": ...}`` in, the account and
    its token out (or ``{"error": ...}``)."""
    event = event if isinstance(event, dict) else {}
    try:
        account, token = first_owner(str(event.get("owner_email") or ""), str(event.get("account_name") or ""))
    except BootstrapRefused as exc:
        log.warning("bootstrap refused: %s", exc)
        return {"error": str(exc)}
    return {"account_id": account.account_id, "owner_email": account.owner_email, "api_token": token}
