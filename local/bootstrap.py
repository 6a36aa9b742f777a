"""The owner account of a local stack: made on first start, kept in credentials.json.

The token is shown once (like every Postline token) and stored only in the state
directory, which git ignores. The account itself is made as in AWS (chalicelib.accounts.bootstrap).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalicelib.accounts import service as accounts
from chalicelib.accounts.bootstrap import create_owner
from chalicelib.core.errors import NotFound, Unauthorized

log = logging.getLogger("postline.local.bootstrap")


@dataclass(frozen=True)
class Credentials:
    account_id: int
    api_token: str
    api_url: str
    created: bool  # made on this start (so the token is printed once)

    def to_json(self) -> dict[str, Any]:
        return {"account_id": self.account_id, "api_token": self.api_token, "api_url": self.api_url}


def _write(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # a secret: owner-only
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2)
        fh.write("\n")
    os.replace(tmp, path)


def _still_valid(data: dict[str, Any]) -> bool:
    try:
        principal = accounts.authenticate(data["api_token"])
        accounts.get_account(int(data["account_id"]))
    except (KeyError, TypeError, ValueError, NotFound, Unauthorized):
        return False
    return principal.account_id == int(data["account_id"])


def ensure_owner(path: Path, owner_email: str, api_url: str) -> Credentials:
    """The owner's credentials: the saved ones if the account still exists, else new ones."""
    if path.exists():
        try:
            saved = json.loads(path.read_text())
        except ValueError:
            saved = {}
        if _still_valid(saved):
            if saved.get("api_url") != api_url:
                _write(path, {**saved, "api_url": api_url})
            return Credentials(int(saved["account_id"]), saved["api_token"], api_url, created=False)
        log.warning("%s names an account this stack does not have (state reset?); making a new one", path.name)
    account, token = create_owner(owner_email)
    creds = Credentials(account.account_id, token, api_url, created=True)
    _write(path, creds.to_json())
    return creds
