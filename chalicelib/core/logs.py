"""Logging setup: one format, and a filter that keeps token values out of every log line."""

from __future__ import annotations

import logging
import re

_SECRET = re.compile(r"(?i)(bearer\s+|api-token[\"']?\s*[:=]\s*[\"']?|password[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]+")


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _SECRET.sub(r"\1[redacted]", message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


def configure_logging(level: int = logging.INFO) -> None:
    root = logging.getLogger()
    if not root.handlers:  # Lambda's runtime installs its own handler; keep it, filter it
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        root.addHandler(handler)
    for handler in root.handlers:
        if not any(isinstance(f, RedactSecrets) for f in handler.filters):
            handler.addFilter(RedactSecrets())
    root.setLevel(level)
    for noisy in ("botocore", "urllib3", "pynamodb", "werkzeug"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
