"""Where the CLI finds its token, account and API: flags, then the environment
(``MAILTRAP_API_TOKEN``, ``MAILTRAP_ACCOUNT_ID``, ``MAILTRAP_API_URL``), then ``~/.mailtrap.yaml``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml

DEFAULT_API_URL = "http://127.0.0.1:8000"  # the local stack (`make run`); a deployment sets its own


@dataclass(frozen=True)
class Settings:
    api_token: str | None
    account_id: str | None
    api_url: str


def config_path() -> Path:
    return Path(os.environ.get("MAILTRAP_CONFIG") or Path.home() / ".mailtrap.yaml")


def read_file() -> dict[str, str]:
    path = config_path()
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text()) or {}
    return {k: str(v) for k, v in data.items() if v is not None} if isinstance(data, dict) else {}


def load(api_token: str | None = None, api_url: str | None = None) -> Settings:
    saved = read_file()
    token = api_token or os.environ.get("MAILTRAP_API_TOKEN") or saved.get("api_token")
    account = os.environ.get("MAILTRAP_ACCOUNT_ID") or (saved.get("account_id") if not api_token else None)
    url = api_url or os.environ.get("MAILTRAP_API_URL") or saved.get("api_url") or DEFAULT_API_URL
    return Settings(token, account, url.rstrip("/"))


def save(api_token: str, account_id: str, api_url: str) -> Path:
    """Write the file readable by its owner only (it holds a secret)."""
    path = config_path()
    body = yaml.safe_dump({"api_token": api_token, "account_id": int(account_id), "api_url": api_url},
                          sort_keys=False)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(body)
    return path
