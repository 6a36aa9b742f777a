"""Settings of the local runtime (``make run``), from environment variables.

These exist only on a laptop, never in Lambda, so they live here rather than in
chalicelib/core/config.py; a wrong value fails at start with ConfigError.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from chalicelib.core.config import ConfigError

PROJECT_DIR = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"  # the local stack never listens beyond this machine


def _port(name: str, default: int) -> int:
    raw = os.environ.get(name) or str(default)
    try:
        port = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a TCP port number, got {raw!r}") from None
    if not 0 < port < 65536:
        raise ConfigError(f"{name} must be between 1 and 65535, got {port}")
    return port


@dataclass(frozen=True)
class LocalSettings:
    aws_port: int  # POSTLINE_AWS_PORT: the AWS emulation (moto server)
    api_port: int  # POSTLINE_API_PORT: the REST API
    state_dir: Path  # POSTLINE_STATE_DIR: everything that survives a restart
    owner_email: str  # POSTLINE_OWNER_EMAIL: the bootstrap account's owner
    stage: str  # POSTLINE_STAGE: the Chalice stage whose environment is loaded

    @property
    def aws_endpoint(self) -> str:
        return f"http://{HOST}:{self.aws_port}"

    @property
    def api_url(self) -> str:
        return f"http://{HOST}:{self.api_port}"

    @property
    def recording_path(self) -> Path:
        return self.state_dir / "aws-recording.jsonl"

    @property
    def credentials_path(self) -> Path:
        return self.state_dir / "credentials.json"


def local_settings() -> LocalSettings:
    state_dir = Path(os.environ.get("POSTLINE_STATE_DIR") or PROJECT_DIR / ".postline")
    return LocalSettings(
        aws_port=_port("POSTLINE_AWS_PORT", 4566),
        api_port=_port("POSTLINE_API_PORT", 8000),
        state_dir=state_dir.resolve(),
        owner_email=os.environ.get("POSTLINE_OWNER_EMAIL") or "owner@postline.local",
        stage=os.environ.get("POSTLINE_STAGE") or "dev",
    )
